/* fuzz_kiosk_http.c — libFuzzer harness for the kiosk's HTTP side: each input is sent as
 * raw bytes (request line, headers, body) to a real kiosk server on loopback (libmicrohttpd
 * + kiosk/server.c routes + store + worker, with the engine TEST DOUBLE of
 * tests/kiosk_test_double.h taking one step). Whatever comes in, the server must answer
 * with an HTTP status line or close, never crash (ASan/UBSan), never serve a file from
 * outside its own set, and still answer GET /api/status afterwards.
 *
 *   make test          replays tests/fuzz/corpus/kiosk_http/
 *   scripts/fuzz.sh 60 kiosk_http
 */
#include "kiosk/server.h"
#include "kiosk/store.h"
#include "kiosk/worker.h"
#include "../kiosk_test_double.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const char *tav_fuzz_name = "kiosk_http";

static int port;
static test_double_gen gen = {.steps = 1, .step_ms = 0};

static void start_once(void)
{
    if (port)
        return;
    signal(SIGPIPE, SIG_IGN);
    static char dir[64] = "/tmp/tav-fuzz-http-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    static char db[128], files[128];
    snprintf(db, sizeof db, "%s/k.db", dir);
    snprintf(files, sizeof files, "%s/files", dir);
    tav_kiosk_store_params sp = tav_kiosk_store_default_params();
    sp.db_path = db;
    sp.files_dir = files;
    sp.cache_cap_bytes = 1 << 20;
    static tav_kiosk_store *store;
    static tav_kiosk_worker *worker;
    static tav_kiosk_server *srv;
    tav_kiosk_server_params hp = tav_kiosk_server_default_params();
    hp.port = 0;
    hp.model_checksum = "fuzz";
    if (tav_kiosk_store_open(&sp, &store, NULL) != TAV_OK ||
        tav_kiosk_worker_start(store, test_double_generate, &gen, &worker) != TAV_OK ||
        tav_kiosk_server_start(&hp, store, worker, &srv) != TAV_OK) {
        fprintf(stderr, "fuzz_kiosk_http: %s\n", tav_last_error());
        abort();
    }
    port = tav_kiosk_server_port(srv);
}

/* Sends bytes, half-closes, reads the answer (up to cap bytes). Returns bytes read. */
static size_t exchange(const uint8_t *data, size_t size, char *ans, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0; /* refused (connection limit): the status check below decides */
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break; /* the server may refuse early (413, bad request) */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    ssize_t n;
    char sink[4096];
    while ((n = read(fd, got < cap ? ans + got : sink, got < cap ? cap - got : sizeof sink)) > 0)
        if (got < cap)
            got += (size_t)n;
    close(fd);
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    start_once();
    char ans[8192];
    size_t n = exchange(data, size, ans, sizeof ans - 1);
    ans[n] = '\0';
    if (n && strncmp(ans, "HTTP/1.", 7) != 0)
        abort(); /* garbage on the wire */
    /* files outside the kiosk's own set never leak */
    if (strstr(ans, "root:x:0:0") || strstr(ans, "SQLite format 3") || strstr(ans, "#include"))
        abort();
    /* Still serving. Event streams the fuzzer opened and dropped hold a connection
     * until their next keep-alive write finds the client gone (<= 5 s), so a busy
     * moment at the per-address connection limit is waited out, not counted. */
    static const char status[] = "GET /api/status HTTP/1.0\r\n\r\n";
    for (int tries = 0;; tries++) {
        n = exchange((const uint8_t *)status, sizeof status - 1, ans, sizeof ans - 1);
        ans[n] = '\0';
        if (strstr(ans, " 200 "))
            break;
        if (tries == 40)
            abort();
        usleep(250 * 1000);
    }
    return 0;
}
