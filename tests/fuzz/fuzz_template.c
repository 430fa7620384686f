/* fuzz_template.c — libFuzzer harness for the procedure template parser and filler
 * (kiosk/template.c).
 *
 * The input is split at the first "\n%%\n": before it, template text; after it,
 * "key=value" lines used to fill the template when it parses. Anything accepted
 * must fill or fail cleanly, and every filled prompt must be free of braces and
 * within the prompt bound.
 *
 *   make test          replays tests/fuzz/corpus/template/ (tests/fuzz/replay.c)
 *   scripts/fuzz.sh 60 template
 *
 * fuzz-sources: kiosk/template.c core/status.c core/mem.c core/log.c
 */
#include "kiosk/template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tav_fuzz_name = "template";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *sep = NULL;
    for (size_t i = 0; i + 4 <= size; i++)
        if (!memcmp(data + i, "\n%%\n", 4)) {
            sep = (const char *)data + i;
            break;
        }
    size_t tlen = sep ? (size_t)(sep - (const char *)data) : size;
    tav_template *t = NULL;
    if (tav_template_parse((const char *)data, tlen, "fuzz.tmpl", &t) != TAV_OK) {
        if (t)
            abort(); /* an error must leave *out NULL */
        return 0;
    }
    /* values: copy so they are NUL-terminated */
    char *vals = NULL;
    tav_template_kv kv[32];
    int n = 0;
    if (sep) {
        size_t vlen = size - tlen - 4;
        vals = malloc(vlen + 1);
        memcpy(vals, sep + 4, vlen);
        vals[vlen] = '\0';
        for (char *line = strtok(vals, "\n"); line && n < 32; line = strtok(NULL, "\n")) {
            char *eq = strchr(line, '=');
            if (!eq)
                continue;
            *eq = '\0';
            kv[n].key = line;
            kv[n].value = eq + 1;
            n++;
        }
    }
    tav_template_filled f;
    if (tav_template_fill(t, kv, n, &f) == TAV_OK) {
        if (f.n_prompts != t->n_steps || !f.summary)
            abort();
        for (int i = 0; i < f.n_prompts; i++) {
            /* captions are bounded and values hold no braces */
            if (strchr(f.prompts[i], '{') || strchr(f.prompts[i], '}'))
                abort();
        }
    } else if (f.n_prompts != 0) {
        abort();
    }
    tav_template_filled_free(&f);
    free(vals);
    tav_template_free(t);
    return 0;
}
