/* fuzz_kiosk_json.c — libFuzzer harness for what the kiosk does with an HTTP request
 * body: the JSON reader (kiosk/json.c) and the job parameter checks (kiosk/job.c).
 *
 * Accepted documents are walked whole; accepted job parameters are written back as
 * JSON, which must parse again to equal parameters and the same cache key.
 *
 *   make test          replays tests/fuzz/corpus/kiosk_json/
 *   scripts/fuzz.sh 60 kiosk_json
 *
 * fuzz-sources: kiosk/json.c kiosk/job.c core/sha256.c core/status.c core/mem.c
 */
#include "kiosk/job.h"
#include "kiosk/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *tav_fuzz_name = "kiosk_json";

static size_t walk(const tav_json *j, int depth)
{
    if (depth > TAV_JSON_MAX_DEPTH + 1)
        abort();
    size_t n = 1;
    if (j->type == TAV_JSON_STRING && strlen(j->str) != j->len)
        abort(); /* no NUL inside decoded strings */
    for (const tav_json *c = j->child; c; c = c->next)
        n += walk(c, depth + 1);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tav_json_doc *d;
    if (tav_json_parse((const char *)data, size, &d) != TAV_OK)
        return 0;
    walk(tav_json_root(d), 0);
    tav_kiosk_job_params p, q;
    if (tav_kiosk_job_params_from_json(tav_json_root(d), &p) == TAV_OK) {
        tav_buf b = {0};
        tav_kiosk_job_params_to_json(&p, &b);
        tav_json_doc *d2;
        if (b.failed || tav_json_parse(b.data, b.len, &d2) != TAV_OK)
            abort();
        if (tav_kiosk_job_params_from_json(tav_json_root(d2), &q) != TAV_OK)
            abort();
        char k1[TAV_KIOSK_KEY_HEX], k2[TAV_KIOSK_KEY_HEX];
        tav_kiosk_cache_key(&p, "m", k1);
        tav_kiosk_cache_key(&q, "m", k2);
        if (strcmp(k1, k2))
            abort();
        tav_json_free(d2);
        tav_buf_free(&b);
    }
    tav_json_free(d);
    return 0;
}
