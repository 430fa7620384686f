/* tokenizer.c — scene captions -> token ids and scene indices (docs/model.md). */
#include "core/engine.h"

#include <stdio.h>
#include <string.h>

#define MAX_WORD 64 /* longer words cannot be in a caption vocabulary; reported as unknown */

tav_status tav_tokenizer_load(tav_tokenizer *t, const tav_model *m, const tav_engine_cfg *cfg)
{
    memset(t, 0, sizeof *t);
    if (tav_model_meta_get_strs(m, "tokenizer.vocab", &t->vocab, &t->n) != TAV_OK)
        return tav_fail(TAV_ERR_FORMAT, "model metadata: %s", tav_last_error());
    if (t->n != (size_t)cfg->vocab_size)
        return tav_fail(TAV_ERR_FORMAT, "tokenizer.vocab has %zu words; model.vocab_size says %d",
                        t->n, cfg->vocab_size);
    const char *keys[4] = {"tokenizer.pad", "tokenizer.unk", "tokenizer.sep", "tokenizer.bos"};
    int *dst[4] = {&t->pad, &t->unk, &t->sep, &t->bos};
    for (int i = 0; i < 4; i++) {
        int64_t v;
        if (tav_model_meta_get_i64(m, keys[i], &v) != TAV_OK || v < 0 || (size_t)v >= t->n)
            return tav_fail(TAV_ERR_FORMAT, "model metadata '%s' is missing or not a vocabulary id",
                            keys[i]);
        *dst[i] = (int)v;
    }
    return TAV_OK;
}

/* The id of word w (len bytes) among the non-special words, or -1. */
static int lookup(const tav_tokenizer *t, const char *w, size_t len)
{
    if (len > MAX_WORD)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        if ((int)i == t->pad || (int)i == t->unk || (int)i == t->sep || (int)i == t->bos)
            continue;
        if (strlen(t->vocab[i]) == len && memcmp(t->vocab[i], w, len) == 0)
            return (int)i;
    }
    return -1;
}

/* Calls fn(word, len) for each word of s: ASCII A-Z lower-cased, a word is a
 * maximal run of [a-z0-9], every other byte separates. Returns the count. */
typedef int (*word_fn)(void *u, const char *w, size_t len);
static int for_each_word(const char *s, word_fn fn, void *u)
{
    char buf[MAX_WORD + 1];
    size_t len = 0, n = 0;
    int count = 0;
    for (const unsigned char *p = (const unsigned char *)s;; p++) {
        unsigned ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            ch += 32;
        int word_byte = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (word_byte) {
            if (len < MAX_WORD)
                buf[len] = (char)ch;
            len++;
            continue;
        }
        if (len) {
            n = len < MAX_WORD ? len : MAX_WORD;
            buf[n] = 0;
            count++;
            if (fn && fn(u, buf, len)) /* len may exceed MAX_WORD: buf holds a prefix */
                return -1;
            len = 0;
        }
        if (!ch)
            break;
    }
    return count;
}

typedef struct unk_ctx {
    const tav_tokenizer *t;
    char msg[1024];
    size_t used;
    int n_unknown;
} unk_ctx;

static int collect_unknown(void *u, const char *w, size_t len)
{
    unk_ctx *c = u;
    if (lookup(c->t, w, len) >= 0)
        return 0;
    char quoted[MAX_WORD + 8];
    snprintf(quoted, sizeof quoted, "'%.*s%s'", (int)(len > MAX_WORD ? MAX_WORD : len), w,
             len > MAX_WORD ? "..." : "");
    if (strstr(c->msg, quoted)) /* name each word once */
        return 0;
    if (c->used + strlen(quoted) + 8 < sizeof c->msg) {
        c->used += (size_t)snprintf(c->msg + c->used, sizeof c->msg - c->used, "%s%s",
                                    c->n_unknown ? ", " : "", quoted);
    }
    c->n_unknown++;
    return 0;
}

typedef struct enc_ctx {
    const tav_tokenizer *t;
    int *ids, *scene, n, cap, k;
} enc_ctx;

static int append_word(void *u, const char *w, size_t len)
{
    enc_ctx *c = u;
    if (c->n < c->cap) {
        c->ids[c->n] = lookup(c->t, w, len);
        c->scene[c->n] = c->k;
    }
    c->n++;
    return 0;
}

tav_status tav_tokenizer_encode(const tav_tokenizer *t, const char *const *scenes, int n_scenes,
                                const tav_engine_cfg *cfg, int *ids, int *scene, int *n_tokens)
{
    *n_tokens = 0;
    if (n_scenes < 1 || n_scenes > cfg->max_scenes)
        return tav_fail(TAV_ERR_LIMIT, "%d scenes; the model takes 1..%d", n_scenes,
                        cfg->max_scenes);
    unk_ctx uc = {.t = t};
    for (int k = 0; k < n_scenes; k++) {
        if (!scenes[k])
            return tav_fail(TAV_ERR_INVALID_ARG, "scene %d is NULL", k + 1);
        for_each_word(scenes[k], collect_unknown, &uc);
    }
    if (uc.n_unknown)
        return tav_fail(TAV_ERR_UNKNOWN_WORD,
                        "unknown word%s in prompt: %s (use words from the caption vocabulary: "
                        "tav info --vocab MODEL)",
                        uc.n_unknown > 1 ? "s" : "", uc.msg);
    enc_ctx ec = {.t = t, .ids = ids, .scene = scene, .cap = cfg->max_text};
    ids[0] = t->bos;
    scene[0] = 0;
    ec.n = 1;
    for (int k = 0; k < n_scenes; k++) {
        if (for_each_word(scenes[k], NULL, NULL) == 0)
            return tav_fail(TAV_ERR_INVALID_ARG, "scene %d has no words", k + 1);
        ec.k = k;
        if (k > 0) {
            if (ec.n < ec.cap) {
                ids[ec.n] = t->sep;
                scene[ec.n] = k;
            }
            ec.n++;
        }
        for_each_word(scenes[k], append_word, &ec);
    }
    if (ec.n > cfg->max_text)
        return tav_fail(TAV_ERR_LIMIT, "the prompt is %d tokens; the model takes at most %d",
                        ec.n, cfg->max_text);
    *n_tokens = ec.n;
    return TAV_OK;
}
