/* cli_kiosk.c — `tav kiosk`: the operator web page, job queue and cache on one port. */
#include "core/cli.h"
#include "core/log.h"
#include "core/pipeline.h"
#include "kiosk/engine.h"
#include "kiosk/server.h"
#include "kiosk/store.h"
#include "kiosk/worker.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tav kiosk [--port 8080] [--bind 127.0.0.1] [--db PATH] [--model PATH]\n"
            "                 [--templates DIR] [--web DIR] [--token T] [--cache-mb N]\n"
            "\n"
            "Serves the operator page and its JSON API (docs/kiosk.md) until Ctrl-C.\n"
            "  --port N         TCP port (default 8080; 0 = any free port)\n"
            "  --bind ADDR      IPv4 address (default 127.0.0.1); any other needs --token\n"
            "  --db PATH        SQLite database (default tav-kiosk.db); result files go in\n"
            "                   PATH.files/\n"
            "  --model PATH     model file (default " TAV_DEFAULT_MODEL_INT8 ", else " TAV_DEFAULT_MODEL_FP32 ")\n"
            "  --templates DIR  procedure templates (default assets/templates)\n"
            "  --web DIR        the page's files (default assets/web)\n"
            "  --token T        access token every request must carry\n"
            "  --cache-mb N     cache size cap in MiB; least recently used go first\n"
            "                   (default 2048)\n");
}

int tav_cmd_kiosk(int argc, char **argv)
{
    if (tav_cli_wants_help(argc, argv)) {
        usage(stdout);
        return TAV_EXIT_OK;
    }
    tav_kiosk_server_params hp = tav_kiosk_server_default_params();
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    const char *db = "tav-kiosk.db", *model = tav_pipeline_default_model();
    long port = 8080, cache_mb = 2048;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--port")) {
            if (!v || tav_cli_parse_long(v, 0, 65535, &port))
                return tav_cli_usage_error("kiosk", "--port needs a number from 0 to 65535");
        } else if (!strcmp(a, "--bind") && v) {
            hp.bind = v;
        } else if (!strcmp(a, "--db") && v) {
            db = v;
        } else if (!strcmp(a, "--model") && v) {
            model = v;
        } else if (!strcmp(a, "--templates") && v) {
            hp.templates_dir = v;
        } else if (!strcmp(a, "--web") && v) {
            hp.web_dir = v;
        } else if (!strcmp(a, "--token") && v) {
            hp.token = v;
        } else if (!strcmp(a, "--cache-mb")) {
            if (!v || tav_cli_parse_long(v, 1, 1L << 30, &cache_mb))
                return tav_cli_usage_error("kiosk", "--cache-mb needs a positive number");
        } else {
            static const char *const known[] = {"--bind", "--db", "--model", "--templates",
                                                "--web", "--token", NULL};
            for (int k = 0; known[k]; k++)
                if (!strcmp(a, known[k]))
                    return tav_cli_usage_error("kiosk", "%s needs a value", a);
            return tav_cli_usage_error("kiosk", "unknown option '%s'", a);
        }
    }
    hp.port = (int)port;

    char files_dir[2100];
    if (snprintf(files_dir, sizeof files_dir, "%s.files", db) >= (int)sizeof files_dir)
        return tav_cli_usage_error("kiosk", "--db path too long");
    sp.db_path = db;
    sp.files_dir = files_dir;
    sp.cache_cap_bytes = (int64_t)cache_mb << 20;

    /* Signals are taken by sigwait below; block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    tav_kiosk_engine *eng;
    if (tav_kiosk_engine_open(model, &eng) != TAV_OK) {
        if (!eng) {
            fprintf(stderr, "tav kiosk: %s\n", tav_last_error());
            return TAV_EXIT_FAIL;
        }
        fprintf(stderr,
                "tav kiosk: the engine is not available: %s.\n"
                "tav kiosk: the page works, but every job will fail with that message.\n",
                tav_kiosk_engine_status(eng));
    }
    hp.model_checksum = tav_kiosk_engine_model_checksum(eng);
    hp.engine_available = tav_kiosk_engine_available(eng);
    hp.engine_status = tav_kiosk_engine_status(eng);
    hp.check = tav_kiosk_engine_check_prompts;
    hp.check_ctx = eng;

    tav_kiosk_store *store;
    tav_kiosk_recovery rec;
    if (tav_kiosk_store_open(&sp, &store, &rec) != TAV_OK) {
        fprintf(stderr, "tav kiosk: %s\n", tav_last_error());
        tav_kiosk_engine_close(eng);
        return TAV_EXIT_FAIL;
    }
    if (rec.requeued || rec.failed || rec.rows_dropped || rec.files_removed)
        TAV_LOG_INFO("recovered after an unclean stop: %d job(s) re-queued, %d failed, "
                     "%d cache row(s) dropped, %d stray file(s) removed",
                     rec.requeued, rec.failed, rec.rows_dropped, rec.files_removed);
    tav_kiosk_worker *w;
    if (tav_kiosk_worker_start(store, tav_kiosk_engine_generate, eng, &w) != TAV_OK) {
        fprintf(stderr, "tav kiosk: %s\n", tav_last_error());
        tav_kiosk_store_close(store);
        tav_kiosk_engine_close(eng);
        return TAV_EXIT_FAIL;
    }
    tav_kiosk_server *srv;
    if (tav_kiosk_server_start(&hp, store, w, &srv) != TAV_OK) {
        fprintf(stderr, "tav kiosk: %s\n", tav_last_error());
        tav_kiosk_worker_stop(w);
        tav_kiosk_store_close(store);
        tav_kiosk_engine_close(eng);
        return TAV_EXIT_FAIL;
    }
    printf("tav kiosk: serving http://%s:%d/  (database %s, Ctrl-C stops)\n",
           hp.bind ? hp.bind : "127.0.0.1", tav_kiosk_server_port(srv), db);
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    TAV_LOG_INFO("stopping (signal %d)", sig);
    tav_kiosk_server_stop(srv);
    tav_kiosk_worker_stop(w);
    tav_kiosk_store_close(store);
    tav_kiosk_engine_close(eng);
    return TAV_EXIT_OK;
}
