/* test_kiosk_http.c — the kiosk API over real HTTP on loopback: templates and fill,
 * submit + SSE progress + files + cache hit, cancel (running and pending), limits,
 * no path traversal, the access token, the missing-engine message, and kill -9 during
 * a job followed by a restart.
 *
 * The generator is the TEST DOUBLE in tests/kiosk_test_double.h (known steps, real
 * small files via core/media.h); the server, worker, store and files are the real ones.
 *
 * With --serve it runs that same test server until SIGTERM, for the browser test
 * (tests/suites/kiosk_browser.sh):
 *   test_kiosk_http --serve --db D --port 0 [--steps N] [--step-ms MS]   prints "PORT n"
 */
#include "check.h"
#include "kiosk/engine.h"
#include "kiosk/server.h"
#include "kiosk/store.h"
#include "kiosk/worker.h"
#include "kiosk_test_double.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------- a kiosk under test */

typedef struct kiosk {
    char dir[256], db[300], files[300];
    tav_kiosk_store *store;
    tav_kiosk_worker *worker;
    tav_kiosk_server *server;
    test_double_gen gen;
    int port;
} kiosk;

static int kiosk_start(kiosk *k, int steps, int step_ms, const char *token, int fresh)
{
    if (fresh) {
        snprintf(k->dir, sizeof k->dir, "/tmp/tav-http-XXXXXX");
        if (!mkdtemp(k->dir))
            return -1;
        snprintf(k->db, sizeof k->db, "%s/k.db", k->dir);
        snprintf(k->files, sizeof k->files, "%s/k.db.files", k->dir);
    }
    k->gen.steps = steps;
    k->gen.step_ms = step_ms;
    atomic_init(&k->gen.calls, 0);
    atomic_init(&k->gen.started, 0);
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    sp.db_path = k->db;
    sp.files_dir = k->files;
    if (tav_kiosk_store_open(&sp, &k->store, NULL) != TAV_OK ||
        tav_kiosk_worker_start(k->store, test_double_generate, &k->gen, &k->worker) != TAV_OK) {
        fprintf(stderr, "kiosk_start: %s\n", tav_last_error());
        return -1;
    }
    tav_kiosk_server_params hp = tav_kiosk_server_default_params();
    hp.port = 0;
    hp.token = token;
    hp.model_checksum = "test-double-model";
    hp.engine_available = 1;
    hp.engine_status = "test double";
    if (tav_kiosk_server_start(&hp, k->store, k->worker, &k->server) != TAV_OK) {
        fprintf(stderr, "kiosk_start: %s\n", tav_last_error());
        return -1;
    }
    k->port = tav_kiosk_server_port(k->server);
    return 0;
}

static void kiosk_stop(kiosk *k, int remove)
{
    tav_kiosk_server_stop(k->server);
    tav_kiosk_worker_stop(k->worker);
    tav_kiosk_store_close(k->store);
    k->server = NULL;
    k->worker = NULL;
    k->store = NULL;
    if (remove) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", k->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", k->dir);
    }
}

/* ---------------------------------------------------------------- a tiny HTTP/1.0 client */

typedef struct resp {
    int status;
    char head[4096];
    tav_buf body;
} resp;

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {15, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_request(int fd, const char *method, const char *path, const char *headers,
                        const char *body, size_t body_len)
{
    char head[2048];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n%s%s\r\n", method,
                     path, body_len, strcmp(method, "POST") == 0 ? "Content-Type: application/json\r\n" : "",
                     headers ? headers : "");
    if (write(fd, head, (size_t)n) != n)
        return -1;
    size_t off = 0;
    while (off < body_len) {
        ssize_t w = write(fd, body + off, body_len - off);
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

/* One request, whole response. Returns the status (0 if no answer). */
static int http(int port, const char *method, const char *path, const char *headers,
                const char *body, resp *r)
{
    memset(r, 0, sizeof *r);
    int fd = connect_to(port);
    if (fd < 0)
        return 0;
    send_request(fd, method, path, headers, body, body ? strlen(body) : 0);
    tav_buf all = {0};
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        tav_buf_append(&all, buf, (size_t)n);
    close(fd);
    if (!all.data)
        return 0;
    char *sep = strstr(all.data, "\r\n\r\n");
    if (sep) {
        size_t hl = (size_t)(sep - all.data);
        snprintf(r->head, sizeof r->head, "%.*s", (int)(hl < sizeof r->head - 1 ? hl : sizeof r->head - 1), all.data);
        tav_buf_append(&r->body, sep + 4, all.len - hl - 4);
    }
    sscanf(all.data, "HTTP/1.%*d %d", &r->status);
    tav_buf_free(&all);
    return r->status;
}

static const char *body_of(resp *r) { return r->body.data ? r->body.data : ""; }

static long json_id(const char *s)
{
    const char *p = strstr(s, "\"id\":");
    return p ? strtol(p + 5, NULL, 10) : -1;
}

/* Reads a job's event stream until a final event, or until a progress event with
 * step >= stop_at_step (when > 0). Collects the raw stream in *out; returns the
 * number of progress events seen. */
static int sse_follow(int port, long id, int stop_at_step, tav_buf *out)
{
    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%ld/events", id);
    int fd = connect_to(port);
    if (fd < 0)
        return -1;
    send_request(fd, "GET", path, NULL, NULL, 0);
    int progress = 0;
    size_t scanned = 0;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        tav_buf_append(out, buf, (size_t)n);
        char *ev;
        int final = 0, stop = 0;
        while ((ev = strstr(out->data + scanned, "event: ")) && strstr(ev, "\n\n")) {
            char *end = strstr(ev, "\n\n");
            if (!strncmp(ev, "event: progress", 15)) {
                progress++;
                const char *st = strstr(ev, "\"step\":");
                if (stop_at_step > 0 && st && st < end && atoi(st + 7) >= stop_at_step)
                    stop = 1;
            } else if (!strncmp(ev, "event: done", 11) || !strncmp(ev, "event: failed", 13) ||
                       !strncmp(ev, "event: cancelled", 16)) {
                final = 1;
            }
            scanned = (size_t)(end + 2 - out->data);
        }
        if (final || stop)
            break;
    }
    close(fd);
    return progress;
}

/* ---------------------------------------------------------------- cases */

static void test_http_pages_templates_fill(void)
{
    kiosk k;
    if (kiosk_start(&k, 3, 1, NULL, 1)) {
        CHECK(0);
        return;
    }
    resp r;
    CHECK_EQ_INT(http(k.port, "GET", "/api/status", NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"engine\":true");
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", "/api/templates", NULL, NULL, &r), 200);
    int n = 0;
    for (const char *p = body_of(&r); (p = strstr(p, "\"steps\":[")); p++)
        n++;
    CHECK(n >= 8);
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "POST", "/api/fill", NULL,
                      "{\"template\":\"drill-bit-change\",\"values\":{\"press\":4,\"piece\":\"gear\",\"colour\":\"red\"}}", &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "the red gear is drilled at the drill press");
    CHECK_STR_CONTAINS(body_of(&r), "\"summary\":\"Drill bit change, press 4\"");
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "POST", "/api/fill", NULL,
                      "{\"template\":\"drill-bit-change\",\"values\":{\"press\":\"40\",\"piece\":\"cake\"}}", &r), 422);
    CHECK_STR_CONTAINS(body_of(&r), "{\"field\":\"press\",\"message\":\"Press number must be between 1 and 12.\"}");
    CHECK_STR_CONTAINS(body_of(&r), "\"field\":\"piece\"");
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "POST", "/api/fill", NULL, "{\"template\":\"../../etc/passwd\"}", &r), 404);
    tav_buf_free(&r.body);

    /* the page, with its security headers */
    CHECK_EQ_INT(http(k.port, "GET", "/", NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(r.head, "Content-Security-Policy: default-src 'self'");
    CHECK_STR_CONTAINS(body_of(&r), "<script src=\"app.js\">");
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", "/app.js", NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(r.head, "text/javascript");
    tav_buf_free(&r.body);

    /* no path traversal: nothing outside the page's own files is reachable */
    const char *evil[] = {"/../kiosk/store.c", "/..%2fkiosk%2fstore.c", "/%2e%2e/%2e%2e/etc/passwd",
                          "/app.js/../../Makefile", "/.git/config", "/assets/web/app.js",
                          "//etc/passwd", "/api/jobs/1/../../../etc/passwd", "/api/jobs/-1/video",
                          "/api/jobs/99999999999999999999/video", "/Makefile", "/kiosk.db"};
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        int st = http(k.port, "GET", evil[i], NULL, NULL, &r);
        if (st != 404 && st != 400)
            fprintf(stderr, "%s -> %d\n", evil[i], st);
        CHECK(st == 404 || st == 400);
        CHECK(!strstr(body_of(&r), "root:") && !strstr(body_of(&r), "sqlite3"));
        tav_buf_free(&r.body);
    }
    kiosk_stop(&k, 1);
}

static void test_http_submit_progress_files_cache_hit(void)
{
    kiosk k;
    if (kiosk_start(&k, 6, 40, NULL, 1)) {
        CHECK(0);
        return;
    }
    const char *job = "{\"template\":\"drill-bit-change\",\"values\":{\"press\":\"4\",\"piece\":\"gear\"},\"seed\":7}";
    resp r;
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", NULL, job, &r), 201);
    long id = json_id(body_of(&r));
    CHECK(id > 0);
    CHECK_STR_CONTAINS(body_of(&r), "\"cache_hit\":false");
    tav_buf_free(&r.body);

    tav_buf ev = {0};
    int progress = sse_follow(k.port, id, 0, &ev);
    CHECK(progress >= 3); /* the bar moves through several steps */
    CHECK_STR_CONTAINS(ev.data, "event: progress\ndata: {\"job\":");
    CHECK_STR_CONTAINS(ev.data, ",\"total\":6,\"eta\":"); /* steps may coalesce under load */
    CHECK_STR_CONTAINS(ev.data, "event: done\ndata: {\"job\":");
    tav_buf_free(&ev);

    char path[80];
    snprintf(path, sizeof path, "/api/jobs/%ld", id);
    CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"state\":\"done\"");
    CHECK_STR_CONTAINS(body_of(&r), "\"prompts\":[\"drill press, wide view: the blue gear rotates\"");
    CHECK_STR_CONTAINS(body_of(&r), "\"seed\":7");
    tav_buf_free(&r.body);

    snprintf(path, sizeof path, "/api/jobs/%ld/video", id);
    CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(r.head, "Content-Type: video/mp4");
    CHECK(r.body.len > 100 && !memcmp(r.body.data + 4, "ftyp", 4));
    size_t video_len = r.body.len;
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", path, "Range: bytes=0-99\r\n", NULL, &r), 206);
    CHECK_EQ_INT(r.body.len, 100);
    CHECK_STR_CONTAINS(r.head, "Content-Range: bytes 0-99/");
    tav_buf_free(&r.body);
    char range[64];
    snprintf(range, sizeof range, "Range: bytes=%zu-\r\n", video_len + 5);
    CHECK_EQ_INT(http(k.port, "GET", path, range, NULL, &r), 416);
    tav_buf_free(&r.body);
    snprintf(path, sizeof path, "/api/jobs/%ld/sheet", id);
    CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
    CHECK(r.body.len > 8 && !memcmp(r.body.data, "\x89PNG", 4));
    tav_buf_free(&r.body);
    snprintf(path, sizeof path, "/api/jobs/%ld/thumb", id);
    CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
    CHECK(r.body.len > 4 && !memcmp(r.body.data, "\xff\xd8\xff", 3));
    tav_buf_free(&r.body);

    /* a finished job cannot be cancelled */
    snprintf(path, sizeof path, "/api/jobs/%ld/cancel", id);
    CHECK_EQ_INT(http(k.port, "POST", path, NULL, "", &r), 409);
    CHECK_STR_CONTAINS(body_of(&r), "already ended");
    tav_buf_free(&r.body);

    /* the same request again: served from the cache, no generation */
    int calls = atomic_load(&k.gen.calls);
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", NULL, job, &r), 201);
    CHECK_STR_CONTAINS(body_of(&r), "\"state\":\"done\",\"cache_hit\":true");
    long id2 = json_id(body_of(&r));
    tav_buf_free(&r.body);
    ev = (tav_buf){0};
    CHECK_EQ_INT(sse_follow(k.port, id2, 0, &ev), 0);
    CHECK_STR_CONTAINS(ev.data, "event: done\ndata: {\"job\":");
    CHECK_STR_CONTAINS(ev.data, "\"cache_hit\":true");
    tav_buf_free(&ev);
    CHECK_EQ_INT(atomic_load(&k.gen.calls), calls);
    /* a different seed is a different video */
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", NULL,
                      "{\"template\":\"drill-bit-change\",\"values\":{\"press\":\"4\",\"piece\":\"gear\"},\"seed\":8}", &r), 201);
    CHECK_STR_CONTAINS(body_of(&r), "\"cache_hit\":false");
    tav_buf_free(&r.body);

    CHECK_EQ_INT(http(k.port, "GET", "/api/history?offset=0&limit=2", NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"total\":3,\"offset\":0,\"limit\":2,\"jobs\":[{\"id\":3");
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", "/api/history?limit=1000", NULL, NULL, &r), 400);
    tav_buf_free(&r.body);
    kiosk_stop(&k, 1);
}

static void test_http_cancel_running_and_pending(void)
{
    kiosk k;
    if (kiosk_start(&k, 40, 50, NULL, 1)) {
        CHECK(0);
        return;
    }
    resp r;
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", NULL, "{\"prompts\":[\"the red gear rotates at the drill in a close up\"],\"seed\":1}", &r), 201);
    long a = json_id(body_of(&r));
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", NULL, "{\"prompts\":[\"the blue gear rotates at the drill in a close up\"],\"seed\":1}", &r), 201);
    long b = json_id(body_of(&r));
    tav_buf_free(&r.body);
    char path[80];
    snprintf(path, sizeof path, "/api/jobs/%ld", b);
    CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"queue_ahead\":1");
    tav_buf_free(&r.body);

    /* pending: cancelled at once */
    snprintf(path, sizeof path, "/api/jobs/%ld/cancel", b);
    CHECK_EQ_INT(http(k.port, "POST", path, NULL, "", &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"state\":\"cancelled\"");
    tav_buf_free(&r.body);
    tav_buf ev = {0};
    sse_follow(k.port, b, 0, &ev);
    CHECK_STR_CONTAINS(ev.data, "event: cancelled\ndata: {\"job\":");
    tav_buf_free(&ev);

    /* running: wait for step 2, cancel, the stream ends with "cancelled" */
    ev = (tav_buf){0};
    sse_follow(k.port, a, 2, &ev);
    tav_buf_free(&ev);
    snprintf(path, sizeof path, "/api/jobs/%ld/cancel", a);
    CHECK_EQ_INT(http(k.port, "POST", path, NULL, "", &r), 202);
    CHECK_STR_CONTAINS(body_of(&r), "\"cancelling\":true");
    tav_buf_free(&r.body);
    ev = (tav_buf){0};
    sse_follow(k.port, a, 0, &ev);
    CHECK_STR_CONTAINS(ev.data, "event: cancelled\ndata: {\"job\":");
    CHECK_STR_CONTAINS(ev.data, "cancelled by the operator");
    tav_buf_free(&ev);
    snprintf(path, sizeof path, "/api/jobs/%ld", a);
    CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"state\":\"cancelled\"");
    CHECK_STR_CONTAINS(body_of(&r), "\"files\":null");
    tav_buf_free(&r.body);
    /* cancelling again is harmless */
    snprintf(path, sizeof path, "/api/jobs/%ld/cancel", a);
    CHECK_EQ_INT(http(k.port, "POST", path, NULL, "", &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"state\":\"cancelled\"");
    tav_buf_free(&r.body);
    /* no temp files stay behind */
    DIR *d = opendir(k.files);
    int stray = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        stray += e->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK_EQ_INT(stray, 0);
    kiosk_stop(&k, 1);
}

/* A clean stop (SIGTERM at shutdown) puts the running job back in the queue. */
static void test_clean_stop_requeues_running_job(void)
{
    kiosk k;
    if (kiosk_start(&k, 40, 50, NULL, 1)) {
        CHECK(0);
        return;
    }
    resp r;
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", NULL, "{\"prompts\":[\"the red gear rotates at the drill in a close up\"],\"seed\":2}", &r), 201);
    long id = json_id(body_of(&r));
    tav_buf_free(&r.body);
    tav_buf ev = {0};
    sse_follow(k.port, id, 2, &ev);
    tav_buf_free(&ev);
    kiosk_stop(&k, 0);
    if (kiosk_start(&k, 3, 1, NULL, 0)) {
        CHECK(0);
        return;
    }
    ev = (tav_buf){0};
    sse_follow(k.port, id, 0, &ev);
    CHECK_STR_CONTAINS(ev.data, "event: done");
    tav_buf_free(&ev);
    char path[80];
    snprintf(path, sizeof path, "/api/jobs/%ld", id);
    CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"attempts\":1"); /* the stopped start did not count */
    tav_buf_free(&r.body);
    kiosk_stop(&k, 1);
}

static void test_http_limits_and_token(void)
{
    kiosk k;
    if (kiosk_start(&k, 2, 1, "s3cret-token", 1)) {
        CHECK(0);
        return;
    }
    resp r;
    CHECK_EQ_INT(http(k.port, "GET", "/api/status", NULL, NULL, &r), 401);
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", "/", NULL, NULL, &r), 401);
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", "/api/status", "X-Tav-Token: wrong\r\n", NULL, &r), 401);
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", "/api/status", "X-Tav-Token: s3cret-token\r\n", NULL, &r), 200);
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", "/api/status", "Authorization: Bearer s3cret-token\r\n", NULL, &r), 200);
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", "/api/status?token=s3cret-token", NULL, NULL, &r), 200);
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "GET", "/api/status?token=s3cret-tokenX", NULL, NULL, &r), 401);
    tav_buf_free(&r.body);

    const char *tok = "X-Tav-Token: s3cret-token\r\n";
    char *big = malloc(TAV_KIOSK_MAX_BODY + 100);
    memset(big, ' ', TAV_KIOSK_MAX_BODY + 99);
    big[0] = '{';
    strcpy(big + TAV_KIOSK_MAX_BODY + 90, "\"a\":1}");
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", tok, big, &r), 413);
    tav_buf_free(&r.body);
    free(big);
    struct {
        const char *body;
        int status;
        const char *words;
    } cases[] = {
        {"{\"prompts\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]}", 413, "at most 6 scenes"},
        {"{\"prompts\":[\"a\"],\"steps\":500}", 413, "steps must be between 0 and 50"},
        {"{\"prompts\":[\"a\"],\"width\":4096}", 413, "width must be between"},
        {"{\"prompts\":[\"a\"],\"width\":100}", 400, "multiple of 16"},
        {"{\"prompts\":\"a\"}", 400, "prompts must be a list"},
        {"{\"prompts\":[\"a\"", 400, "bad JSON"},
        {"not json", 400, "bad JSON"},
        {"{}", 400, "give either prompts or a template"},
        {"{\"template\":\"drill-bit-change\",\"values\":{\"press\":\"x\"}}", 422, "must be a number"},
        {"{\"template\":\"no-such\",\"values\":{}}", 404, "there is no procedure"},
    };
    /* a form post (what another site's page could send) is refused */
    int fd = connect_to(k.port);
    const char form[] = "POST /api/jobs HTTP/1.0\r\nX-Tav-Token: s3cret-token\r\nContent-Type: "
                        "application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b";
    CHECK(write(fd, form, sizeof form - 1) == (ssize_t)(sizeof form - 1));
    char ans[256] = {0};
    CHECK(read(fd, ans, sizeof ans - 1) > 0);
    close(fd);
    CHECK_STR_CONTAINS(ans, " 415 Unsupported Media Type");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = http(k.port, "POST", "/api/jobs", tok, cases[i].body, &r);
        if (st != cases[i].status)
            fprintf(stderr, "case %zu: %d %s\n", i, st, body_of(&r));
        CHECK_EQ_INT(st, cases[i].status);
        CHECK_STR_CONTAINS(body_of(&r), cases[i].words);
        tav_buf_free(&r.body);
    }
    kiosk_stop(&k, 1);

    /* binding off loopback needs a token */
    tav_kiosk_server_params hp = tav_kiosk_server_default_params();
    hp.bind = "0.0.0.0";
    hp.port = 0;
    tav_kiosk_server *srv;
    CHECK_EQ_INT(tav_kiosk_server_start(&hp, NULL, NULL, &srv), TAV_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(tav_last_error(), "give --token");
    hp.bind = "not-an-address";
    CHECK_EQ_INT(tav_kiosk_server_start(&hp, NULL, NULL, &srv), TAV_ERR_INVALID_ARG);
}

/* The production engine adapter without an engine: the job fails with the reason. */
static void test_http_engine_missing_fails_jobs_in_words(void)
{
    tav_kiosk_engine *e;
    tav_kiosk_engine_open("/nonexistent/model.tavm", &e);
    CHECK(e != NULL);
    if (!e)
        return;
    if (tav_kiosk_engine_available(e)) {
        SKIP("an engine is built and a model loaded: nothing missing to report");
        tav_kiosk_engine_close(e);
        return;
    }
    kiosk k;
    snprintf(k.dir, sizeof k.dir, "/tmp/tav-http-XXXXXX");
    if (!mkdtemp(k.dir))
        abort();
    snprintf(k.db, sizeof k.db, "%s/k.db", k.dir);
    snprintf(k.files, sizeof k.files, "%s/k.db.files", k.dir);
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    sp.db_path = k.db;
    sp.files_dir = k.files;
    CHECK_EQ_INT(tav_kiosk_store_open(&sp, &k.store, NULL), TAV_OK);
    CHECK_EQ_INT(tav_kiosk_worker_start(k.store, tav_kiosk_engine_generate, e, &k.worker), TAV_OK);
    tav_kiosk_server_params hp = tav_kiosk_server_default_params();
    hp.port = 0;
    hp.model_checksum = tav_kiosk_engine_model_checksum(e);
    hp.engine_available = 0;
    hp.engine_status = tav_kiosk_engine_status(e);
    CHECK_EQ_INT(tav_kiosk_server_start(&hp, k.store, k.worker, &k.server), TAV_OK);
    k.port = tav_kiosk_server_port(k.server);
    resp r;
    CHECK_EQ_INT(http(k.port, "GET", "/api/status", NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"engine\":false");
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", NULL, "{\"prompts\":[\"the red gear rotates at the drill in a close up\"]}", &r), 201);
    long id = json_id(body_of(&r));
    tav_buf_free(&r.body);
    tav_buf ev = {0};
    sse_follow(k.port, id, 0, &ev);
    char want[600];
    snprintf(want, sizeof want, "event: failed\ndata: {\"job\":%ld,\"error\":\"%s\"}", id,
             tav_kiosk_engine_status(e));
    CHECK_STR_CONTAINS(ev.data, want);
    printf("# engine status: %s\n", tav_kiosk_engine_status(e));
    tav_buf_free(&ev);
    kiosk_stop(&k, 1);
    tav_kiosk_engine_close(e);
}

/* The production generator (kiosk/engine.c: pipeline + media) behind the same server,
 * with the tiny test model: a real MP4, sheet and thumbnail come out; a prompt word the
 * model does not know is refused before queueing. */
static void test_http_real_engine_tiny_model(void)
{
    tav_kiosk_engine *e;
    tav_kiosk_engine_open("tests/data/tiny.tavm", &e);
    if (!e || !tav_kiosk_engine_available(e)) {
        SKIP("engine not available: %s", tav_kiosk_engine_status(e));
        tav_kiosk_engine_close(e);
        return;
    }
    kiosk k;
    snprintf(k.dir, sizeof k.dir, "/tmp/tav-http-XXXXXX");
    if (!mkdtemp(k.dir))
        abort();
    snprintf(k.db, sizeof k.db, "%s/k.db", k.dir);
    snprintf(k.files, sizeof k.files, "%s/k.db.files", k.dir);
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    sp.db_path = k.db;
    sp.files_dir = k.files;
    CHECK_EQ_INT(tav_kiosk_store_open(&sp, &k.store, NULL), TAV_OK);
    CHECK_EQ_INT(tav_kiosk_worker_start(k.store, tav_kiosk_engine_generate, e, &k.worker), TAV_OK);
    tav_kiosk_server_params hp = tav_kiosk_server_default_params();
    hp.port = 0;
    hp.model_checksum = tav_kiosk_engine_model_checksum(e);
    hp.engine_available = 1;
    hp.engine_status = tav_kiosk_engine_status(e);
    hp.check = tav_kiosk_engine_check_prompts;
    hp.check_ctx = e;
    CHECK_EQ_INT(tav_kiosk_server_start(&hp, k.store, k.worker, &k.server), TAV_OK);
    k.port = tav_kiosk_server_port(k.server);
    resp r;
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", NULL,
                      "{\"prompts\":[\"a red gear moves along the conveyor\",\"the blue box\"]}", &r), 422);
    CHECK_STR_CONTAINS(body_of(&r), "unknown word in prompt: 'box'");
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "POST", "/api/check", NULL, "{\"prompts\":[\"the gear\",\"a sprocket\"]}", &r), 422);
    CHECK_STR_CONTAINS(body_of(&r), "'sprocket'");
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "POST", "/api/check", NULL, "{\"prompts\":[\"the red gear\"]}", &r), 200);
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(k.port, "POST", "/api/jobs", NULL,
                      "{\"prompts\":[\"a red gear moves along the conveyor\",\"a wide view of the press\"],\"seed\":4}", &r), 201);
    long id = json_id(body_of(&r));
    tav_buf_free(&r.body);
    tav_buf ev = {0};
    sse_follow(k.port, id, 0, &ev);
    CHECK_STR_CONTAINS(ev.data, "event: done");
    tav_buf_free(&ev);
    const char *kinds[] = {"video", "sheet", "thumb"};
    const char *magic[] = {"\0\0\0", "\x89PNG", "\xff\xd8\xff"};
    for (int i = 0; i < 3; i++) {
        char path[80];
        snprintf(path, sizeof path, "/api/jobs/%ld/%s", id, kinds[i]);
        CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
        CHECK(r.body.len > 100);
        if (i == 0)
            CHECK(r.body.len > 8 && !memcmp(r.body.data + 4, "ftyp", 4));
        else
            CHECK(r.body.len > 4 && !memcmp(r.body.data, magic[i], strlen(magic[i])));
        tav_buf_free(&r.body);
    }
    kiosk_stop(&k, 1);
    tav_kiosk_engine_close(e);
}

/* ---------------------------------------------------------------- kill -9 */

static int count_rows_with_missing_files(const char *db, const char *files)
{
    sqlite3 *h;
    if (sqlite3_open(db, &h) != SQLITE_OK)
        return -1;
    sqlite3_stmt *st;
    int bad = 0;
    sqlite3_prepare_v2(h, "SELECT video, sheet, thumb FROM cache", -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW)
        for (int c = 0; c < 3; c++) {
            char p[700];
            snprintf(p, sizeof p, "%s/%s", files, (const char *)sqlite3_column_text(st, c));
            struct stat s;
            if (stat(p, &s) != 0 || s.st_size == 0)
                bad++;
        }
    sqlite3_finalize(st);
    sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL);
    if (sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "ok"))
        bad += 1000;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return bad;
}

static void test_kill9_during_job_then_restart(void)
{
    kiosk k;
    memset(&k, 0, sizeof k);
    snprintf(k.dir, sizeof k.dir, "/tmp/tav-kill-XXXXXX");
    if (!mkdtemp(k.dir))
        abort();
    snprintf(k.db, sizeof k.db, "%s/k.db", k.dir);
    snprintf(k.files, sizeof k.files, "%s/k.db.files", k.dir);
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { /* the kiosk that will be killed */
        close(fds[0]);
        if (kiosk_start(&k, 40, 100, NULL, 0) != 0)
            _exit(3);
        if (write(fds[1], &k.port, sizeof k.port) != sizeof k.port)
            _exit(4);
        for (;;)
            pause();
    }
    close(fds[1]);
    int port = 0;
    CHECK(read(fds[0], &port, sizeof port) == sizeof port);
    close(fds[0]);
    resp r;
    CHECK_EQ_INT(http(port, "POST", "/api/jobs", NULL, "{\"prompts\":[\"the red gear rotates at the drill in a close up\",\"the blue plate is packed at the packing table in a wide shot\"],\"seed\":5}", &r), 201);
    long id = json_id(body_of(&r));
    tav_buf_free(&r.body);
    CHECK_EQ_INT(http(port, "POST", "/api/jobs", NULL, "{\"prompts\":[\"a second job still waiting\"],\"seed\":5}", &r), 201);
    long id2 = json_id(body_of(&r));
    tav_buf_free(&r.body);
    tav_buf ev = {0};
    CHECK(sse_follow(port, id, 3, &ev) >= 1); /* mid-generation: step >= 3 of 40 */
    CHECK_STR_CONTAINS(ev.data, ",\"total\":40,");
    tav_buf_free(&ev);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* as the kill left it: the job is 'running' in the database */
    sqlite3 *h;
    sqlite3_open(k.db, &h);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(h, "SELECT state FROM jobs WHERE id=?", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, id);
    CHECK(sqlite3_step(st) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "running"));
    sqlite3_finalize(st);
    sqlite3_close(h);
    CHECK_EQ_INT(count_rows_with_missing_files(k.db, k.files), 0);

    /* restart: recovered, re-queued, finished in order, files in place */
    tav_kiosk_recovery rec;
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    sp.db_path = k.db;
    sp.files_dir = k.files;
    tav_kiosk_store *s;
    CHECK_EQ_INT(tav_kiosk_store_open(&sp, &s, &rec), TAV_OK);
    CHECK_EQ_INT(rec.requeued, 1);
    tav_kiosk_job j;
    CHECK_EQ_INT(tav_kiosk_store_get_job(s, id, &j), TAV_OK);
    CHECK(j.state == TAV_JOB_PENDING && j.attempts == 1);
    tav_kiosk_job_clear(&j);
    tav_kiosk_store_close(s);

    if (kiosk_start(&k, 3, 1, NULL, 0) != 0) {
        CHECK(0);
        return;
    }
    ev = (tav_buf){0};
    sse_follow(k.port, id2, 0, &ev);
    CHECK_STR_CONTAINS(ev.data, "event: done");
    tav_buf_free(&ev);
    char path[80];
    snprintf(path, sizeof path, "/api/jobs/%ld", id);
    CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
    CHECK_STR_CONTAINS(body_of(&r), "\"state\":\"done\"");
    CHECK_STR_CONTAINS(body_of(&r), "\"attempts\":2");
    tav_buf_free(&r.body);
    snprintf(path, sizeof path, "/api/jobs/%ld/video", id);
    CHECK_EQ_INT(http(k.port, "GET", path, NULL, NULL, &r), 200);
    CHECK(r.body.len > 100);
    tav_buf_free(&r.body);
    kiosk_stop(&k, 0);
    CHECK_EQ_INT(count_rows_with_missing_files(k.db, k.files), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", k.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", k.dir);
}

/* ---------------------------------------------------------------- --serve */

static int serve(int argc, char **argv)
{
    kiosk k;
    memset(&k, 0, sizeof k);
    int steps = 20, step_ms = 150;
    const char *db = NULL, *web = "assets/web", *templates = "assets/templates";
    int port = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--db"))
            db = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps"))
            steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--step-ms"))
            step_ms = atoi(argv[i + 1]);
    }
    if (!db) {
        fprintf(stderr, "--serve needs --db\n");
        return 2;
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    snprintf(k.db, sizeof k.db, "%s", db);
    snprintf(k.files, sizeof k.files, "%s.files", db);
    k.gen.steps = steps;
    k.gen.step_ms = step_ms;
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    sp.db_path = k.db;
    sp.files_dir = k.files;
    if (tav_kiosk_store_open(&sp, &k.store, NULL) != TAV_OK ||
        tav_kiosk_worker_start(k.store, test_double_generate, &k.gen, &k.worker) != TAV_OK) {
        fprintf(stderr, "%s\n", tav_last_error());
        return 1;
    }
    tav_kiosk_server_params hp = tav_kiosk_server_default_params();
    hp.port = port;
    hp.web_dir = web;
    hp.templates_dir = templates;
    hp.model_checksum = "test-double-model";
    hp.engine_available = 1;
    hp.engine_status = "test double generator (tests/kiosk_test_double.h), not the engine";
    if (tav_kiosk_server_start(&hp, k.store, k.worker, &k.server) != TAV_OK) {
        fprintf(stderr, "%s\n", tav_last_error());
        return 1;
    }
    printf("PORT %d\n", tav_kiosk_server_port(k.server));
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    kiosk_stop(&k, 0);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && !strcmp(argv[1], "--serve"))
        return serve(argc, argv);
    RUN(test_http_pages_templates_fill);
    RUN(test_http_submit_progress_files_cache_hit);
    RUN(test_http_cancel_running_and_pending);
    RUN(test_clean_stop_requeues_running_job);
    RUN(test_http_limits_and_token);
    RUN(test_http_engine_missing_fails_jobs_in_words);
    RUN(test_http_real_engine_tiny_model);
    RUN(test_kill9_during_job_then_restart);
    return check_summary();
}
