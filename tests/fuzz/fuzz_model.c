/* fuzz_model.c — libFuzzer harness for the .tavm reader (core/model_file.c).
 *
 * Each input is opened as a model file without the checksum (so mutations
 * reach the structural checks) and with it. When an input is accepted, every
 * view is read end to end, every metadata getter is called, and the model is
 * rewritten by the C writer and re-opened: the writer's output of anything
 * the reader accepts must be accepted again with identical content.
 *
 *   make test          replays tests/fuzz/corpus/model/ (tests/fuzz/replay.c)
 *   scripts/fuzz.sh 60 real libFuzzer run with clang
 *
 * fuzz-sources: core/model_file.c core/model_writer.c core/sha256.c core/status.c core/mem.c
 */
#include "core/mem.h"
#include "core/model_file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tav_fuzz_name = "model";

static void fuzz_die(const char *what)
{
    fprintf(stderr, "fuzz_model: %s\n", what);
    abort();
}

/* Reads every byte the model exposes; returns a sum so nothing is optimised out. */
static unsigned touch(const tav_model *m)
{
    unsigned sum = (unsigned)strlen(tav_model_checksum_hex(m)) + (unsigned)strlen(tav_model_writer_name(m));
    for (size_t i = 0; i < tav_model_tensor_count(m); i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        if (tav_model_tensor_find(m, t->name) != t)
            fuzz_die("tensor_find does not return the tensor's own view");
        for (size_t k = 0; k < t->n_bytes; k++)
            sum += ((const uint8_t *)t->data)[k];
        for (int64_t r = 0; t->scales && r < t->shape[0]; r++)
            sum += (unsigned)(t->scales[r] > 0);
    }
    for (size_t i = 0; i < tav_model_meta_count(m); i++) {
        const char *key, *s;
        tav_meta_type ty;
        int64_t v;
        double d;
        const char *const *items;
        size_t n;
        if (tav_model_meta_at(m, i, &key, &ty) != TAV_OK)
            fuzz_die("meta_at failed in range");
        int ok = (tav_model_meta_get_i64(m, key, &v) == TAV_OK) +
                 (tav_model_meta_get_f64(m, key, &d) == TAV_OK) +
                 (tav_model_meta_get_str(m, key, &s) == TAV_OK) +
                 (tav_model_meta_get_strs(m, key, &items, &n) == TAV_OK);
        if (ok != 1)
            fuzz_die("a key must match exactly one typed getter");
        if (ty == TAV_META_STR_ARRAY)
            for (size_t k = 0; k < n; k++)
                sum += (unsigned)strlen(items[k]);
    }
    return sum;
}

/* Rewrites m with the C writer; the result must open and match. */
static void rewrite(const tav_model *m)
{
    tav_model_writer *w = NULL;
    if (tav_model_writer_init(&w) != TAV_OK)
        return;
    tav_status st = TAV_OK;
    for (size_t i = 0; i < tav_model_meta_count(m) && st == TAV_OK; i++) {
        const char *key, *s;
        tav_meta_type ty;
        int64_t v;
        double d;
        const char *const *items;
        size_t n;
        tav_model_meta_at(m, i, &key, &ty);
        if (ty == TAV_META_I64 && tav_model_meta_get_i64(m, key, &v) == TAV_OK)
            st = tav_model_writer_set_i64(w, key, v);
        else if (ty == TAV_META_F64 && tav_model_meta_get_f64(m, key, &d) == TAV_OK)
            st = tav_model_writer_set_f64(w, key, d);
        else if (ty == TAV_META_STR && tav_model_meta_get_str(m, key, &s) == TAV_OK)
            st = tav_model_writer_set_str(w, key, s);
        else if (ty == TAV_META_STR_ARRAY && tav_model_meta_get_strs(m, key, &items, &n) == TAV_OK)
            st = tav_model_writer_set_strs(w, key, items, n);
    }
    for (size_t i = 0; i < tav_model_tensor_count(m) && st == TAV_OK; i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        st = tav_model_writer_add_tensor(w, t->name, t->dtype, t->ndim, t->shape, t->data,
                                         t->scales);
    }
    if (st != TAV_OK)
        fuzz_die("the writer refused content the reader accepted");
    void *buf = NULL;
    size_t size = 0;
    if (tav_model_writer_write_memory(w, &buf, &size) != TAV_OK)
        fuzz_die("writer failed on accepted content");
    tav_model *again = NULL;
    if (tav_model_open_memory(buf, size, 0, &again) != TAV_OK)
        fuzz_die("the reader refused the writer's output");
    if (tav_model_tensor_count(again) != tav_model_tensor_count(m) ||
        tav_model_meta_count(again) != tav_model_meta_count(m))
        fuzz_die("rewritten model differs");
    for (size_t i = 0; i < tav_model_tensor_count(m); i++) {
        const tav_tensor_view *a = tav_model_tensor_at(m, i), *b = tav_model_tensor_at(again, i);
        if (strcmp(a->name, b->name) || a->n_bytes != b->n_bytes ||
            memcmp(a->data, b->data, a->n_bytes))
            fuzz_die("rewritten tensor differs");
    }
    tav_model_close(again);
    tav_free(buf);
    tav_model_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exactly-sized 64-aligned copy: the reader's alignment contract, and
     * ASan sees any read past the end. */
    void *buf = NULL;
    if (posix_memalign(&buf, 64, size ? size : 1) != 0)
        return 0;
    if (size)
        memcpy(buf, data, size);
    for (unsigned flags = TAV_MODEL_NO_VERIFY;; flags = 0) {
        tav_model *m = NULL;
        tav_clear_error();
        tav_status st = tav_model_open_memory(buf, size, flags, &m);
        if (st == TAV_OK) {
            volatile unsigned sink = touch(m);
            (void)sink;
            if (flags)
                rewrite(m);
            tav_model_close(m);
        } else if (m != NULL || tav_last_error()[0] == '\0') {
            fuzz_die("an error without a message, or a model handed out on error");
        }
        if (flags == 0)
            break;
    }
    free(buf);
    return 0;
}
