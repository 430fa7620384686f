/* server.h — the kiosk's HTTP server (libmicrohttpd): JSON API, SSE progress, the page.
 *
 *   tav_kiosk_server_params hp = tav_kiosk_server_default_params();
 *   hp.port = 8080; hp.templates_dir = "assets/templates"; hp.web_dir = "assets/web";
 *   hp.model_checksum = tav_kiosk_engine_model_checksum(engine);
 *   tav_kiosk_server *srv;
 *   if (tav_kiosk_server_start(&hp, store, worker, &srv) != TAV_OK) die(tav_last_error());
 *   printf("http://127.0.0.1:%d/\n", tav_kiosk_server_port(srv));
 *   ... tav_kiosk_server_stop(srv);
 *
 * The API is documented in docs/kiosk.md. Contracts:
 *   - Binds 127.0.0.1 by default. A non-loopback bind address requires a
 *     token (start fails with TAV_ERR_INVALID_ARG without one); with a token,
 *     every request must carry it (header "X-Tav-Token: T", "Authorization:
 *     Bearer T", or query "?token=T" for <video>/<img>/EventSource URLs).
 *   - Files are served by job id only (/api/jobs/ID/video|sheet|thumb) and
 *     page assets by a fixed name pattern from web_dir: no request path is
 *     ever joined to a directory.
 *   - Request bodies are limited to TAV_KIOSK_MAX_BODY bytes (413 beyond),
 *     JSON to TAV_JSON_MAX_DEPTH / NODES, job parameters to kiosk/job.h's bounds.
 *   - One thread per connection, at most TAV_KIOSK_MAX_CONNECTIONS.
 */
#ifndef TAV_KIOSK_SERVER_H
#define TAV_KIOSK_SERVER_H

#include "core/status.h"
#include "kiosk/store.h"
#include "kiosk/worker.h"

#define TAV_KIOSK_MAX_BODY (64 * 1024)
#define TAV_KIOSK_MAX_CONNECTIONS 64

/* Optional check of a job before it is queued (the engine's vocabulary):
 * a non-OK return refuses the job with 422 and tav_last_error()'s words. */
typedef tav_status (*tav_kiosk_check_fn)(void *ctx, const tav_kiosk_job_params *jp);

typedef struct tav_kiosk_server_params {
    const char *bind;            /* IPv4 address; default "127.0.0.1"               */
    int port;                    /* 0 = any free port (tests)                        */
    const char *token;           /* NULL/"" = none; required off loopback            */
    const char *web_dir;         /* default "assets/web"                             */
    const char *templates_dir;   /* default "assets/templates"                       */
    const char *model_checksum;  /* goes into cache keys                             */
    int engine_available;        /* reported by /api/status                          */
    const char *engine_status;   /* e.g. "engine not built yet"                      */
    tav_kiosk_check_fn check;    /* optional, e.g. tav_kiosk_engine_check_prompts    */
    void *check_ctx;
} tav_kiosk_server_params;

typedef struct tav_kiosk_server tav_kiosk_server;

tav_kiosk_server_params tav_kiosk_server_default_params(void);

/* Starts listening. Errors: TAV_ERR_INVALID_ARG (bad address, no token off
 * loopback), TAV_ERR_IO (port in use ...), TAV_ERR_NOMEM. */
tav_status tav_kiosk_server_start(const tav_kiosk_server_params *hp, tav_kiosk_store *store,
                                  tav_kiosk_worker *worker, tav_kiosk_server **out);

/* The bound port (useful with port 0). */
int tav_kiosk_server_port(const tav_kiosk_server *srv);

/* Ends open event streams, stops listening, joins connection threads. NULL ok. */
void tav_kiosk_server_stop(tav_kiosk_server *srv);

#endif
