/* test_engine_e2e.c — the pipeline end to end on the tiny model: MP4 frame
 * count and size, seeds, thread-count determinism, corrupted weights,
 * cancel, progress, streaming, unknown words, bad parameters, the quantiser
 * hook, and allocation faults. */
#include "check.h"

#include "core/linear.h"
#include "core/media.h"
#include "core/model_file.h"
#include "core/mem.h"
#include "core/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TINY "tests/data/tiny.tavm"
#define TINY_UP "tests/data/tiny_up.tavm" /* one extra decoder level */
#define TMP "build/test-tmp"

static const char *two[2] = {"a red gear moves along the conveyor",
                             "close view the press stamps a blue plate"};

static tav_gen_params params(int n, uint64_t seed, int threads)
{
    tav_gen_params gp = tav_gen_default_params();
    gp.scenes = two;
    gp.n_scenes = n;
    gp.seed = seed;
    gp.threads = threads;
    return gp;
}

static size_t video_bytes(const tav_video *v) { return (size_t)v->n_frames * v->width * v->height * 3; }

static tav_pipeline *open_tiny(void)
{
    tav_pipeline *p = NULL;
    tav_status st = tav_pipeline_open(TINY, &p);
    if (st != TAV_OK)
        fprintf(stderr, "open: %s\n", tav_last_error());
    CHECK_EQ_INT(st, TAV_OK);
    return p;
}

/* ---------------------------------------------------------------- outputs */

static void test_mp4_frame_count_and_size(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    tav_gen_params gp = params(2, 7, 2);
    tav_video v;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_OK);
    CHECK_EQ_INT(v.n_frames, 6); /* 2 scenes x 3 frames per scene */
    CHECK_EQ_INT(v.n_scenes, 2);
    CHECK_EQ_INT(v.scene_start[0], 0);
    CHECK_EQ_INT(v.scene_start[1], 3);
    system("mkdir -p " TMP);
    const char *path = TMP "/e2e.mp4";
    CHECK_EQ_INT(tav_media_write_mp4(path, &v, NULL), TAV_OK);
    tav_video r;
    CHECK_EQ_INT(tav_media_read_video(path, 100, &r), TAV_OK);
    CHECK_EQ_INT(r.n_frames, 6);
    CHECK_EQ_INT(r.width, 32);
    CHECK_EQ_INT(r.height, 32);
    CHECK_EQ_INT(r.fps, 8);
    tav_free(r.rgb);
    unlink(path);
    /* --fps 16 keeps each scene's duration: twice the frames */
    gp.fps = 16;
    tav_video_free(&v);
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_OK);
    CHECK_EQ_INT(v.n_frames, 12);
    CHECK_EQ_INT(v.fps, 16);
    /* explicit scene durations */
    float secs[2] = {0.5f, 1.0f};
    gp.fps = 0;
    gp.scene_seconds = secs;
    tav_video_free(&v);
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_OK);
    CHECK_EQ_INT(v.n_frames, 12);
    CHECK_EQ_INT(v.scene_start[1], 4);
    tav_video_free(&v);
    tav_pipeline_close(p);
}

static void test_seeds_differ(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    tav_gen_params a = params(2, 1, 2), b = params(2, 2, 2);
    tav_video va, vb;
    CHECK_EQ_INT(tav_pipeline_generate(p, &a, &va), TAV_OK);
    CHECK_EQ_INT(tav_pipeline_generate(p, &b, &vb), TAV_OK);
    size_t n = video_bytes(&va), diff = 0;
    for (size_t i = 0; va.rgb && vb.rgb && i < n; i++)
        diff += va.rgb[i] != vb.rgb[i];
    printf("  seeds 1 vs 2: %zu of %zu bytes differ\n", diff, n);
    CHECK(diff > n / 4);
    tav_video_free(&va);
    tav_video_free(&vb);
    tav_pipeline_close(p);
}

static void test_same_bytes_any_thread_count(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    tav_video v[4];
    int threads[4] = {1, 2, 3, 5};
    for (int i = 0; i < 4; i++) {
        tav_gen_params gp = params(2, 42, threads[i]);
        CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v[i]), TAV_OK);
    }
    for (int i = 1; i < 4; i++)
        CHECK(v[0].rgb && v[i].rgb && memcmp(v[0].rgb, v[i].rgb, video_bytes(&v[0])) == 0);
    for (int i = 0; i < 4; i++)
        tav_video_free(&v[i]);
    tav_pipeline_close(p);
}

/* ---------------------------------------------------------------- the weights matter */

static void *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*n);
    if (b && fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void test_corrupt_weight_changes_output(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    tav_gen_params gp = params(2, 42, 2);
    tav_video good;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &good), TAV_OK);
    tav_pipeline_close(p);
    /* flip bytes inside one weight tensor of a copy */
    tav_model *m;
    CHECK_EQ_INT(tav_model_open(TINY, 0, &m), TAV_OK);
    const tav_tensor_view *t = m ? tav_model_tensor_find(m, "dit.blocks.1.mlp.fc2.weight") : NULL;
    CHECK(t != NULL);
    uint64_t off = t ? t->offset : 0;
    size_t nb = t ? t->n_bytes : 0;
    tav_model_close(m);
    size_t n;
    uint8_t *buf = read_file(TINY, &n);
    CHECK(buf && off + nb <= n);
    if (!buf || !t)
        return;
    for (size_t i = 3; i < nb; i += 4) /* sign flip of every weight */
        buf[off + i] ^= 0x80;
    const char *path = TMP "/corrupt.tavm";
    system("mkdir -p " TMP);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n);
    if (f)
        fclose(f);
    free(buf);
    /* the checksum catches it ... */
    CHECK_EQ_INT(tav_pipeline_open(path, &p), TAV_ERR_CHECKSUM);
    CHECK(p == NULL);
    /* ... and skipping it, the output changes */
    CHECK_EQ_INT(tav_pipeline_open_flags(path, TAV_MODEL_NO_VERIFY, &p), TAV_OK);
    if (p) {
        tav_video bad;
        CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &bad), TAV_OK);
        size_t diff = 0, nb2 = video_bytes(&good);
        for (size_t i = 0; bad.rgb && good.rgb && i < nb2; i++)
            diff += bad.rgb[i] != good.rgb[i];
        printf("  corrupted weights: %zu of %zu bytes differ\n", diff, nb2);
        CHECK(diff > nb2 / 10);
        tav_video_free(&bad);
        tav_pipeline_close(p);
    }
    tav_video_free(&good);
    unlink(path);
}

static void test_missing_and_truncated_model(void)
{
    tav_pipeline *p;
    CHECK(tav_pipeline_open(TMP "/no-such-model.tavm", &p) != TAV_OK);
    CHECK(p == NULL);
    CHECK_STR_CONTAINS(tav_last_error(), "no-such-model.tavm");
    size_t n;
    uint8_t *buf = read_file(TINY, &n);
    if (!buf)
        return;
    const char *path = TMP "/truncated.tavm";
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, n / 2, f) == n / 2);
    if (f)
        fclose(f);
    free(buf);
    CHECK_EQ_INT(tav_pipeline_open(path, &p), TAV_ERR_FORMAT);
    CHECK(p == NULL);
    unlink(path);
}

/* ---------------------------------------------------------------- control */

typedef struct prog_rec {
    int calls, last_step, total, bad_order, cancel_at, eta_after_step1_ok;
    atomic_int *flag;
    char stages[8][16];
} prog_rec;

static int record(void *user, const char *stage, int step, int total, double eta)
{
    prog_rec *r = user;
    if (r->calls < 8)
        snprintf(r->stages[r->calls], sizeof r->stages[0], "%s", stage);
    r->calls++;
    if (step < r->last_step)
        r->bad_order++;
    r->last_step = step;
    r->total = total;
    if (step >= 1 && !(eta >= 0))
        r->eta_after_step1_ok = 0;
    if (r->cancel_at && step == r->cancel_at && r->flag)
        atomic_store(r->flag, 1);
    return 0;
}

static void test_progress(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    prog_rec r = {.eta_after_step1_ok = 1};
    tav_gen_params gp = params(2, 1, 2);
    gp.progress = record;
    gp.progress_user = &r;
    tav_video v;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_OK);
    CHECK_EQ_INT(r.total, 3 + 6); /* steps + frames */
    CHECK_EQ_INT(r.last_step, r.total);
    CHECK_EQ_INT(r.bad_order, 0);
    CHECK(r.eta_after_step1_ok);
    CHECK(strcmp(r.stages[0], "text") == 0 && strcmp(r.stages[1], "denoise") == 0);
    tav_video_free(&v);
    tav_pipeline_close(p);
}

static int stop_at_two(void *user, const char *stage, int step, int total, double eta)
{
    *(int *)user = step;
    return step == 2;
}

static void test_cancel(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    atomic_int flag = 0;
    prog_rec r = {.cancel_at = 1, .flag = &flag, .eta_after_step1_ok = 1};
    tav_gen_params gp = params(2, 1, 2);
    gp.cancel = &flag;
    gp.progress = record;
    gp.progress_user = &r;
    tav_video v;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_ERR_CANCELLED);
    CHECK(v.rgb == NULL && v.n_frames == 0);
    CHECK_EQ_INT(r.last_step, 1); /* stopped within the next step */
    /* a flag already set cancels before any step */
    tav_gen_params g2 = params(2, 1, 2);
    g2.cancel = &flag;
    atomic_store(&flag, 1);
    CHECK_EQ_INT(tav_pipeline_generate(p, &g2, &v), TAV_ERR_CANCELLED);
    /* a progress callback returning nonzero cancels too */
    g2.cancel = NULL;
    g2.progress = stop_at_two;
    int seen = 0;
    g2.progress_user = &seen;
    CHECK_EQ_INT(tav_pipeline_generate(p, &g2, &v), TAV_ERR_CANCELLED);
    CHECK_EQ_INT(seen, 2);
    gp = params(2, 1, 2);
    /* the pipeline still works after a cancel */
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_OK);
    tav_video_free(&v);
    tav_pipeline_close(p);
}

typedef struct frame_rec {
    int n, in_order;
    uint8_t *copy;
} frame_rec;

static tav_status on_frame(void *user, int index, const uint8_t *rgb, int w, int h)
{
    frame_rec *r = user;
    if (index != r->n)
        r->in_order = 0;
    memcpy(r->copy + (size_t)index * w * h * 3, rgb, (size_t)w * h * 3);
    r->n++;
    return TAV_OK;
}

static void test_streaming_frames(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    tav_gen_params gp = params(2, 5, 3);
    tav_video kept, streamed;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &kept), TAV_OK);
    frame_rec r = {.in_order = 1, .copy = calloc(video_bytes(&kept), 1)};
    gp.on_frame = on_frame;
    gp.on_frame_user = &r;
    gp.discard_frames = 1;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &streamed), TAV_OK);
    CHECK(streamed.rgb == NULL);
    CHECK_EQ_INT(r.n, kept.n_frames);
    CHECK(r.in_order);
    CHECK(kept.rgb && memcmp(r.copy, kept.rgb, video_bytes(&kept)) == 0);
    free(r.copy);
    tav_video_free(&kept);
    tav_video_free(&streamed);
    tav_pipeline_close(p);
}

/* ---------------------------------------------------------------- errors */

static void test_unknown_words_named(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    const char *sc[2] = {"a purple gear moves", "the press stamps a zebra and a purple plate"};
    CHECK_EQ_INT(tav_pipeline_check_prompts(p, sc, 2), TAV_ERR_UNKNOWN_WORD);
    CHECK_STR_CONTAINS(tav_last_error(), "'purple'");
    CHECK_STR_CONTAINS(tav_last_error(), "'zebra'");
    tav_gen_params gp = params(2, 1, 1);
    gp.scenes = sc;
    tav_video v;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_ERR_UNKNOWN_WORD);
    CHECK_STR_CONTAINS(tav_last_error(), "'purple', 'zebra'");
    CHECK(v.rgb == NULL);
    /* case folding and punctuation follow the tokenizer rule */
    const char *ok[1] = {"A RED gear, moves... along: the conveyor!"};
    CHECK_EQ_INT(tav_pipeline_check_prompts(p, ok, 1), TAV_OK);
    tav_pipeline_close(p);
}

static void test_bad_params(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    const char *seven[7] = {"a", "a", "a", "a", "a", "a", "a"};
    tav_gen_params gp = params(2, 1, 1);
    tav_video v;
    gp.scenes = seven;
    gp.n_scenes = 7;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_ERR_LIMIT);
    gp = params(2, 1, 1);
    gp.width = gp.height = 64;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(tav_last_error(), "32x32");
    gp = params(2, 1, 1);
    const char *empty[2] = {"a red gear", " ,; "};
    gp.scenes = empty;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(tav_last_error(), "scene 2 has no words");
    gp = params(2, 1, 1);
    gp.steps = -1;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_ERR_INVALID_ARG);
    gp = params(2, 1, 1);
    float secs[2] = {30.0f, 30.0f};
    gp.scene_seconds = secs;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_ERR_LIMIT);
    tav_pipeline_close(p);
}

/* ---------------------------------------------------------------- hook, faults */

typedef struct hook_rec {
    int calls, saw_attn, saw_conv, bad, conv_checked;
    const float *conv_w, *conv_b; /* ae.dec.conv_out from the file: [3, 8, 3, 3], [3] */
} hook_rec;

static void hook(void *user, const char *name, const float *x, int m, int k, const float *y, int n)
{
    hook_rec *r = user;
    r->calls++;
    r->saw_attn |= strcmp(name, "dit.blocks.0.attn_s.q") == 0 && k == 32 && n == 32;
    r->saw_conv |= strcmp(name, "ae.dec.conv_out") == 0 && k == 8 * 9 && n == 3;
    if (!x || !y || m < 1)
        r->bad++;
    /* the hook's x is in the file's weight order: y = x W^T + b with the file's W */
    if (strcmp(name, "ae.dec.conv_out") == 0 && r->conv_w && k == 72 && n == 3) {
        for (int row = 0; row < m; row += 97)
            for (int o = 0; o < 3; o++) {
                double acc = r->conv_b[o];
                for (int i = 0; i < k; i++)
                    acc += (double)x[(size_t)row * k + i] * r->conv_w[o * k + i];
                if (fabs(acc - y[(size_t)row * n + o]) > 1e-4 * (1 + fabs(acc)))
                    r->bad++;
                r->conv_checked++;
            }
    }
}

static void test_linear_hook(void)
{
    tav_pipeline *p = open_tiny();
    if (!p)
        return;
    hook_rec r = {0};
    tav_model *m = NULL;
    CHECK_EQ_INT(tav_model_open(TINY, 0, &m), TAV_OK);
    if (m) {
        r.conv_w = tav_model_tensor_find(m, "ae.dec.conv_out.weight")->data;
        r.conv_b = tav_model_tensor_find(m, "ae.dec.conv_out.bias")->data;
    }
    tav_engine_set_linear_hook(hook, &r);
    tav_gen_params gp = params(2, 1, 2);
    tav_video v;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_OK);
    tav_engine_set_linear_hook(NULL, NULL);
    printf("  hook: %d linear calls\n", r.calls);
    CHECK(r.calls > 100);
    CHECK(r.saw_attn && r.saw_conv);
    CHECK_EQ_INT(r.bad, 0);
    CHECK(r.conv_checked > 0);
    tav_model_close(m);
    /* the hook does not change the output */
    tav_video v2;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v2), TAV_OK);
    CHECK(v.rgb && v2.rgb && memcmp(v.rgb, v2.rgb, video_bytes(&v)) == 0);
    tav_video_free(&v);
    tav_video_free(&v2);
    tav_pipeline_close(p);
}

/* A copy of the model src (NULL: the tiny model) with one metadata value
 * replaced or added (key, i64) or one tensor left out (drop); written with
 * the C writer into path. */
static int rewrite_tiny(const char *path, const char *key, int64_t val, const char *drop,
                        const char *src)
{
    tav_model *m;
    tav_model_writer *w;
    if (tav_model_open(src ? src : TINY, 0, &m) != TAV_OK || tav_model_writer_init(&w) != TAV_OK)
        return -1;
    int replaced = 0;
    for (size_t i = 0; i < tav_model_meta_count(m); i++) {
        const char *k;
        tav_meta_type t;
        tav_model_meta_at(m, i, &k, &t);
        replaced |= key && strcmp(k, key) == 0;
        int64_t iv;
        double dv;
        const char *sv;
        const char *const *items;
        size_t n;
        if (key && strcmp(k, key) == 0 && t == TAV_META_I64)
            tav_model_writer_set_i64(w, k, val);
        else if (t == TAV_META_I64 && tav_model_meta_get_i64(m, k, &iv) == TAV_OK)
            tav_model_writer_set_i64(w, k, iv);
        else if (t == TAV_META_F64 && tav_model_meta_get_f64(m, k, &dv) == TAV_OK)
            tav_model_writer_set_f64(w, k, dv);
        else if (t == TAV_META_STR && tav_model_meta_get_str(m, k, &sv) == TAV_OK)
            tav_model_writer_set_str(w, k, sv);
        else if (t == TAV_META_STR_ARRAY && tav_model_meta_get_strs(m, k, &items, &n) == TAV_OK)
            tav_model_writer_set_strs(w, k, items, n);
    }
    if (key && !replaced)
        tav_model_writer_set_i64(w, key, val);
    for (size_t i = 0; i < tav_model_tensor_count(m); i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        tav_model_writer_add_tensor(w, t->name, t->dtype, t->ndim, t->shape, t->data, t->scales);
    }
    tav_status st = tav_model_writer_write(w, path);
    tav_model_writer_free(w);
    tav_model_close(m);
    return st == TAV_OK ? 0 : -1;
}

/* A copy of the tiny model whose tensor `name` keeps only its first `rows`
 * rows (a well-formed file with a mis-shaped tensor). */
static int rewrite_tiny_rows(const char *path, const char *name, int64_t rows)
{
    tav_model *m;
    tav_model_writer *w;
    if (tav_model_open(TINY, 0, &m) != TAV_OK || tav_model_writer_init(&w) != TAV_OK)
        return -1;
    tav_status st = TAV_OK;
    for (size_t i = 0; !st && i < tav_model_meta_count(m); i++) {
        const char *k;
        tav_meta_type t;
        int64_t iv;
        double dv;
        const char *sv;
        const char *const *items;
        size_t n;
        tav_model_meta_at(m, i, &k, &t);
        if (t == TAV_META_I64 && tav_model_meta_get_i64(m, k, &iv) == TAV_OK)
            st = tav_model_writer_set_i64(w, k, iv);
        else if (t == TAV_META_F64 && tav_model_meta_get_f64(m, k, &dv) == TAV_OK)
            st = tav_model_writer_set_f64(w, k, dv);
        else if (t == TAV_META_STR && tav_model_meta_get_str(m, k, &sv) == TAV_OK)
            st = tav_model_writer_set_str(w, k, sv);
        else if (t == TAV_META_STR_ARRAY && tav_model_meta_get_strs(m, k, &items, &n) == TAV_OK)
            st = tav_model_writer_set_strs(w, k, items, n);
    }
    for (size_t i = 0; !st && i < tav_model_tensor_count(m); i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        int64_t shape[TAV_MODEL_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        if (strcmp(t->name, name) == 0)
            shape[0] = rows;
        st = tav_model_writer_add_tensor(w, t->name, t->dtype, t->ndim, shape, t->data, t->scales);
    }
    if (!st)
        st = tav_model_writer_write(w, path);
    tav_model_writer_free(w);
    tav_model_close(m);
    return st == TAV_OK ? 0 : -1;
}

/* Well-formed files with the wrong contents are errors naming the problem. */
static void test_bad_model_contents(void)
{
    system("mkdir -p " TMP);
    const char *path = TMP "/bad-contents.tavm";
    struct { const char *key; int64_t val; const char *drop; tav_status want; const char *says;
             const char *src; } cases[] = {
        {"model.width", 64, NULL, TAV_ERR_FORMAT, "dit.pos_s", NULL},
        {"model.depth", 3, NULL, TAV_ERR_FORMAT, "dit.blocks.2", NULL},
        {"model.heads", 5, NULL, TAV_ERR_FORMAT, "heads", NULL},
        {"model.image_size", 36, NULL, TAV_ERR_FORMAT, "image size 36", NULL},
        {"model.vocab_size", 40, NULL, TAV_ERR_FORMAT, "vocab", NULL},
        {"model.patch", 3, NULL, TAV_ERR_FORMAT, "patch 3", NULL},
        {"model.ae_levels", 7, NULL, TAV_ERR_FORMAT, "model.ae_levels", NULL},
        {NULL, 0, "dit.blocks.1.attn_t.v.bias", TAV_ERR_FORMAT, "dit.blocks.1.attn_t.v.bias", NULL},
        {NULL, 0, "ae.dec.up.2.1.weight", TAV_ERR_FORMAT, "ae.dec.up.2.1.weight", NULL},
        {NULL, 0, "text.tok_emb.weight", TAV_ERR_FORMAT, "text.tok_emb.weight", NULL},
        /* the extra decoder levels of tiny_up.tavm (model.dec_up_levels 1) */
        {"model.dec_up_levels", 3, NULL, TAV_ERR_FORMAT, "'model.dec_up_levels' = 3 is outside 0..2", TINY_UP},
        {"model.dec_up_levels", -1, NULL, TAV_ERR_FORMAT, "model.dec_up_levels", TINY_UP},
        {"model.dec_up_channels.0", 0, NULL, TAV_ERR_FORMAT, "model.dec_up_channels.0", TINY_UP},
        {"model.dec_up_channels.0", 5, NULL, TAV_ERR_FORMAT, "ae.dec.up.3.0", TINY_UP},
        {"model.image_size", 72, NULL, TAV_ERR_FORMAT, "model.dec_up_levels 1", TINY_UP},
        {"model.image_size", 32, NULL, TAV_ERR_FORMAT, "dit.pos_s", TINY_UP},
        {NULL, 0, "ae.dec.up.3.1.weight", TAV_ERR_FORMAT, "ae.dec.up.3.1.weight", TINY_UP},
        /* the text encoder's scene-position term: tiny.tavm has it
         * (model.text_scene_pos 1), tiny_up.tavm does not (key absent) */
        {"model.text_scene_pos", 2, NULL, TAV_ERR_FORMAT,
         "'model.text_scene_pos' = 2 is outside 0..1", NULL},
        {"model.text_scene_pos", -1, NULL, TAV_ERR_FORMAT, "model.text_scene_pos", NULL},
        {NULL, 0, "text.scene_pos.weight", TAV_ERR_FORMAT,
         "model file lacks tensor 'text.scene_pos.weight'", NULL},
        {"model.text_scene_pos", 1, NULL, TAV_ERR_FORMAT,
         "model file lacks tensor 'text.scene_pos.weight'", TINY_UP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_EQ_INT(rewrite_tiny(path, cases[i].key, cases[i].val, cases[i].drop, cases[i].src), 0);
        tav_pipeline *p = NULL;
        tav_status st = tav_pipeline_open(path, &p);
        if (st != cases[i].want)
            fprintf(stderr, "case %zu: %s\n", i, tav_last_error());
        CHECK_EQ_INT(st, cases[i].want);
        CHECK(p == NULL);
        CHECK_STR_CONTAINS(tav_last_error(), cases[i].says);
        tav_pipeline_close(p);
    }
    /* text.scene_pos.weight [16, 32] where the configuration needs [32, 32] */
    CHECK_EQ_INT(rewrite_tiny_rows(path, "text.scene_pos.weight", 16), 0);
    tav_pipeline *bad = NULL;
    CHECK_EQ_INT(tav_pipeline_open(path, &bad), TAV_ERR_FORMAT);
    CHECK(bad == NULL);
    CHECK_STR_CONTAINS(tav_last_error(), "tensor 'text.scene_pos.weight' is [16, 32]; the "
                                         "configuration needs [32, 32]");
    tav_pipeline_close(bad);
    /* and the unchanged rewrite works (the copy itself is sound) */
    const char *srcs[2] = {TINY, TINY_UP};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(rewrite_tiny(path, NULL, 0, NULL, srcs[i]), 0);
        tav_pipeline *p = NULL;
        CHECK_EQ_INT(tav_pipeline_open(path, &p), TAV_OK);
        tav_pipeline_close(p);
    }
    unlink(path);
}

static void test_alloc_faults(void)
{
    int nomem = 0, ok = 0;
    for (long nth = 1; nth < 400; nth++) {
        tav_pipeline *p = NULL;
        tav_fault_alloc_fail_at(nth);
        tav_status st = tav_pipeline_open(TINY, &p);
        tav_video v = {0};
        if (st == TAV_OK) {
            tav_gen_params gp = params(2, 1, 2);
            st = tav_pipeline_generate(p, &gp, &v);
        }
        tav_fault_alloc_fail_at(0);
        if (st == TAV_OK)
            ok++;
        else if (st == TAV_ERR_NOMEM || st == TAV_ERR_INTERNAL)
            nomem++;
        else
            CHECK_EQ_INT(st, TAV_ERR_NOMEM);
        tav_video_free(&v);
        tav_pipeline_close(p);
        if (ok > 3)
            break; /* past the last allocation */
    }
    printf("  allocation faults: %d failed cleanly before the run needed no more\n", nomem);
    CHECK(nomem > 5);
}

int main(void)
{
    RUN(test_mp4_frame_count_and_size);
    RUN(test_seeds_differ);
    RUN(test_same_bytes_any_thread_count);
    RUN(test_corrupt_weight_changes_output);
    RUN(test_missing_and_truncated_model);
    RUN(test_progress);
    RUN(test_cancel);
    RUN(test_streaming_frames);
    RUN(test_unknown_words_named);
    RUN(test_bad_params);
    RUN(test_linear_hook);
    RUN(test_bad_model_contents);
    RUN(test_alloc_faults);
    return check_summary();
}
