/* test_engine_parity.c — the C engine against the PyTorch reference's golden
 * vectors (tests/data/tiny_golden.tavm, written by train/golden.py), stage by
 * stage: tokens, text embeddings, DiT inputs and per-block outputs for the
 * first step (prompt and unconditional passes), latents after each Euler
 * step, decoder output and bytes. Each stage prints its NMSE and largest
 * absolute difference. The int8 case quantises the tiny model with
 * `tav quantize` and checks the same stages within looser tolerances.
 * The same checks run on tests/data/tiny_up.tavm (a decoder with one extra
 * 2x level, model.dec_up_levels = 1: 4x4 latents to 64x64 frames) against
 * tests/data/tiny_up_golden.tavm. */
#include "check.h"

#include "core/engine.h"
#include "core/mem.h"
#include "core/pipeline.h"
#include "core/sampler.h"
#include "simd/simd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TINY "tests/data/tiny.tavm"
#define GOLDEN "tests/data/tiny_golden.tavm"
#define TINY_UP "tests/data/tiny_up.tavm"
#define GOLDEN_UP "tests/data/tiny_up_golden.tavm"

/* fp32: the engine and PyTorch run the same float32 ops in different
 * summation orders (OpenBLAS vs MKL-DNN/ATen kernels, own softmax/LN loops),
 * so each element differs by a few ulp, compounding over the blocks and the
 * 3 CFG steps (w = 3 amplifies differences by up to 5x). Measured NMSE is
 * ~1e-13..1e-11; 1e-9 keeps two orders of margin and still catches any
 * wrong op (a wrong op gives NMSE > 1e-3). */
#define TOL_NMSE_FP32 1e-9
/* Bytes: round((y + 1) * 127.5) can flip by one where y lands within a few
 * ulp of a rounding boundary; more than one level is a real difference. */
#define TOL_RGB_MAX_ABS_FP32 1
/* int8 (weights per output channel from `tav quantize`, activations per row
 * on the fly): each linear adds ~1e-4 relative error. Measured on this
 * random tiny model (whose weights have no quantisation-friendly structure):
 * text stages NMSE <= 2.3e-4, DiT/latents <= 2.3e-4, decoder 9e-5, bytes off
 * by at most 1 level. The tolerances allow ~10x that: a wrong scale, a
 * transposed weight or a dropped bias all give NMSE > 1e-2. */
#define TOL_NMSE_INT8_TEXT 2e-3
#define TOL_NMSE_INT8 2e-3
#define TOL_RGB_MAX_ABS_INT8 4
/* The extra decoder level of tiny_up: the decoded frames (frames.f32) of
 * the fp32 file must match as closely as every other stage (same ops, one
 * more upsample + two convs; measured NMSE 8e-15), so TOL_NMSE_FP32 applies
 * unchanged. int8 quantises the extra level's two convolutions too (48 s8
 * tensors instead of 46); measured frames.f32 NMSE 6.4e-6 (the DiT's int8
 * error included), bytes off by at most 1 level. 1e-4 allows ~15x that and
 * is 20x below the symmetric model's bound. Measured in PyTorch on this
 * model: dropping the extra level's last bias moves frames.f32 by NMSE
 * 2.2e-3 (caught here); scaling one of its weights by 1.1 only by 2.8e-5
 * (caught by the fp32 bound, not by this one). */
#define TOL_NMSE_FP32_DEC_UP TOL_NMSE_FP32
#define TOL_NMSE_INT8_DEC_UP 1e-4

static tav_model *golden;

static const float *gt(const char *name, size_t *n)
{
    const tav_tensor_view *t = tav_model_tensor_find(golden, name);
    if (!t) {
        fprintf(stderr, "golden tensor %s missing\n", name);
        return NULL;
    }
    *n = t->n_elems;
    return t->data;
}

/* NMSE of got vs the golden `name` over its first n elements (n 0: all). */
static double compare(const char *stage, const char *name, const float *got, size_t n, double tol)
{
    size_t gn = 0;
    const float *ref = gt(name, &gn);
    if (!ref)
        return INFINITY;
    if (n == 0 || n > gn)
        n = gn;
    double err = 0, norm = 0, maxd = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        err += d * d;
        norm += (double)ref[i] * ref[i];
        if (fabs(d) > maxd) {
            maxd = fabs(d);
            at = i;
        }
    }
    double nmse = norm > 0 ? err / norm : err;
    printf("  %-8s %-28s nmse %.3e  max|diff| %.3e at %zu (tol %.0e)\n", stage, name, nmse, maxd,
           at, tol);
    return nmse;
}

/* ---------------------------------------------------------------- the engine by hand */

typedef struct engine {
    tav_model *m;
    tav_engine_cfg cfg;
    tav_tokenizer tok;
    tav_text_encoder te;
    tav_dit dit;
    tav_vae vae;
    tav_pool *pool;
    tav_engine_ctx ec;
    tav_arena arena;
    tav_text_ws tws;
    tav_dit_ws dws;
    tav_vae_ws vws;
} engine;

static int engine_open(engine *e, const char *path, int threads)
{
    memset(e, 0, sizeof *e);
    tav_linear_blas_single_thread();
    if (tav_model_open(path, 0, &e->m) || tav_engine_cfg_load(e->m, &e->cfg) ||
        tav_tokenizer_load(&e->tok, e->m, &e->cfg) || tav_text_encoder_load(&e->te, e->m, &e->cfg) ||
        tav_dit_load(&e->dit, e->m, &e->cfg) || tav_vae_load(&e->vae, e->m, &e->cfg) ||
        tav_pool_init(threads, &e->pool)) {
        fprintf(stderr, "engine_open(%s): %s\n", path, tav_last_error());
        return -1;
    }
    e->ec = (tav_engine_ctx){.pool = e->pool, .n_threads = threads};
    int T = 6;
    tav_arena meas;
    tav_arena_init_measure(&meas);
    tav_text_ws_plan(&e->te, &meas, e->cfg.max_text, threads, &e->tws);
    tav_dit_ws_plan(&e->dit, &meas, T, e->cfg.max_text, threads, &e->dws);
    tav_vae_ws_plan(&e->vae, &meas, T, &e->vws);
    if (tav_arena_init(&e->arena, meas.peak) ||
        tav_text_ws_plan(&e->te, &e->arena, e->cfg.max_text, threads, &e->tws) ||
        tav_dit_ws_plan(&e->dit, &e->arena, T, e->cfg.max_text, threads, &e->dws) ||
        tav_vae_ws_plan(&e->vae, &e->arena, T, &e->vws))
        return -1;
    return 0;
}

static void engine_close(engine *e)
{
    tav_text_encoder_free(&e->te);
    tav_dit_free(&e->dit);
    tav_vae_free(&e->vae);
    tav_pool_free(e->pool);
    tav_arena_free(&e->arena);
    tav_model_close(e->m);
}

typedef struct step_rec {
    engine *e;
    size_t n;
    double tol, worst;
} step_rec;

static tav_status record_step(void *user, int step, const float *z)
{
    step_rec *r = user;
    char name[32];
    snprintf(name, sizeof name, "latents.step%d", step);
    double nmse = compare("sampler", name, z, r->n, r->tol);
    if (nmse > r->worst)
        r->worst = nmse;
    return TAV_OK;
}

/* Runs every stage and checks it against the golden vectors with tolerances
 * text_tol (tokens-to-text stages), tol (DiT and sampler) and dec_tol (the
 * decoded frames). */
static void parity(const char *model_path, double text_tol, double tol, double dec_tol,
                   int rgb_max_abs)
{
    engine e;
    if (engine_open(&e, model_path, 2) != 0) {
        CHECK(!"engine opens");
        return;
    }
    const tav_engine_cfg *c = &e.cfg;
    int D = c->width, Dt = c->text_width, S = c->tokens_per_frame;
    const char *prompt[2] = {"a red gear moves along the conveyor",
                             "Close view: the press stamps a blue plate"};
    /* tokens: exact */
    int ids[64], sc[64], L = 0;
    CHECK_EQ_INT(tav_tokenizer_encode(&e.tok, prompt, 2, c, ids, sc, &L), TAV_OK);
    size_t gn = 0;
    const float *gids = gt("tokens.ids", &gn), *gsc = gt("tokens.scene", &gn);
    int n_golden = 0;
    for (size_t i = 0; i < gn; i++)
        n_golden += gids[i] != 0.0f;
    CHECK_EQ_INT(L, n_golden);
    for (int i = 0; i < L && i < n_golden; i++) {
        CHECK_EQ_INT(ids[i], (int)gids[i]);
        CHECK_EQ_INT(sc[i], (int)gsc[i]);
    }
    printf("  tokens   %d ids, scenes match the reference exactly\n", L);
    /* text encoder and text_proj, prompt and <bos> alone */
    int T = 6;
    float *emb = calloc((size_t)L * Dt, 4), *nemb = calloc(Dt, 4);
    float *txt = calloc((size_t)L * D, 4), *ntxt = calloc(D, 4);
    int bos = e.tok.bos, zero = 0;
    CHECK_EQ_INT(tav_text_encoder_forward(&e.te, &e.ec, &e.tws, ids, sc, L, emb), TAV_OK);
    CHECK_EQ_INT(tav_text_encoder_forward(&e.te, &e.ec, &e.tws, &bos, &zero, 1, nemb), TAV_OK);
    CHECK(compare("text", "text.emb", emb, (size_t)L * Dt, text_tol) <= text_tol);
    CHECK(compare("text", "null.emb", nemb, (size_t)Dt, text_tol) <= text_tol);
    CHECK_EQ_INT(tav_dit_prepare_text(&e.dit, &e.ec, &e.dws, emb, L, txt), TAV_OK);
    CHECK_EQ_INT(tav_dit_prepare_text(&e.dit, &e.ec, &e.dws, nemb, 1, ntxt), TAV_OK);
    CHECK(compare("dit", "step0.cond.dit.text", txt, (size_t)L * D, text_tol) <= text_tol);
    CHECK(compare("dit", "step0.uncond.dit.text", ntxt, (size_t)D, text_tol) <= text_tol);
    /* noise: the portable generator, to the last bit (1 ulp allowed by docs) */
    size_t zn = (size_t)T * c->latent_channels * c->latent_size * c->latent_size;
    float *z = calloc(zn, 4), *vc = calloc(zn, 4), *vu = calloc(zn, 4);
    tav_noise_fill(z, zn, 42);
    const float *gnoise = gt("noise", &gn);
    int ulp_bad = 0;
    for (size_t i = 0; i < zn && gnoise; i++)
        ulp_bad += fabsf(z[i] - gnoise[i]) > 1.2e-7f * fmaxf(1.0f, fabsf(gnoise[i]));
    CHECK_EQ_INT(ulp_bad, 0);
    compare("noise", "noise", z, zn, 0);
    /* first step, both passes, with the trace */
    size_t nd = (size_t)T * S * D;
    float *tin = calloc(nd, 4), *cvec = calloc(D, 4), *blocks = calloc(nd * c->depth, 4);
    const char *pass[2] = {"cond", "uncond"};
    for (int k = 0; k < 2; k++) {
        tav_dit_trace tr = {tin, cvec, blocks};
        CHECK_EQ_INT(tav_dit_forward(&e.dit, &e.ec, &e.dws, z, T, 1.0f, k ? ntxt : txt,
                                     k ? 1 : L, k ? vu : vc, &tr), TAV_OK);
        char name[64];
        snprintf(name, sizeof name, "step0.%s.dit.tokens_in", pass[k]);
        CHECK(compare("dit", name, tin, nd, tol) <= tol);
        snprintf(name, sizeof name, "step0.%s.dit.c", pass[k]);
        CHECK(compare("dit", name, cvec, D, tol) <= tol);
        for (int j = 0; j < c->depth; j++) {
            snprintf(name, sizeof name, "step0.%s.dit.block%d", pass[k], j);
            CHECK(compare("dit", name, blocks + (size_t)j * nd, nd, tol) <= tol);
        }
        snprintf(name, sizeof name, "step0.v_%s", pass[k]);
        CHECK(compare("dit", name, k ? vu : vc, zn, tol) <= tol);
    }
    /* the sampler: latents after each step */
    step_rec rec = {&e, zn, tol, 0};
    tav_sampler_job sj = {.dit = &e.dit, .ec = &e.ec, .ws = &e.dws, .cfg = c, .z = z, .T = T,
                          .steps = 3, .cfg_scale = 3.0f, .txt_c = txt, .l_c = L, .txt_u = ntxt,
                          .l_u = 1, .vc = vc, .vu = vu, .on_step = record_step, .user = &rec};
    CHECK_EQ_INT(tav_sampler_run(&sj), TAV_OK);
    CHECK(rec.worst <= tol);
    CHECK(compare("sampler", "latents.final", z, zn, tol) <= tol);
    /* the decoder */
    size_t px = (size_t)c->image_size * c->image_size * 3;
    uint8_t *rgb = calloc(T * px, 1);
    float *y = calloc(T * px, 4);
    CHECK_EQ_INT(tav_vae_decode(&e.vae, &e.ec, &e.vws, z, T, rgb, y), TAV_OK);
    CHECK(compare("decode", "frames.f32", y, T * px, dec_tol) <= dec_tol);
    const float *grgb = gt("frames.rgb", &gn);
    int maxd = 0;
    size_t ndiff = 0;
    for (size_t i = 0; grgb && i < T * px; i++) {
        int d = abs((int)rgb[i] - (int)grgb[i]);
        maxd = d > maxd ? d : maxd;
        ndiff += d != 0;
    }
    printf("  decode   %-28s max|diff| %d levels, %zu of %zu bytes differ (tol %d)\n",
           "frames.rgb", maxd, ndiff, T * px, rgb_max_abs);
    CHECK(maxd <= rgb_max_abs);
    free(emb); free(nemb); free(txt); free(ntxt); free(z); free(vc); free(vu);
    free(tin); free(cvec); free(blocks); free(rgb); free(y);
    engine_close(&e);
}

/* tiny.tavm has the text encoder's scene-position term (model.text_scene_pos
 * 1, text.scene_pos.weight [32, 32]); the parity below covers it: without
 * the term text.emb is off by NMSE ~0.5. */
static void test_scene_pos_config(void)
{
    engine e;
    if (engine_open(&e, TINY, 1) != 0) {
        CHECK(!"engine opens");
        return;
    }
    CHECK_EQ_INT(e.cfg.text_scene_pos, 1);
    CHECK_EQ_INT(e.te.scene_pos.n_out, e.cfg.text_width);
    CHECK_EQ_INT(e.te.scene_pos.k, e.cfg.text_width);
    CHECK(e.te.scene_pos.bias == NULL);
    engine_close(&e);
}

static void test_parity_fp32(void)
{
    parity(TINY, TOL_NMSE_FP32, TOL_NMSE_FP32, TOL_NMSE_FP32, TOL_RGB_MAX_ABS_FP32);
}

/* The whole pipeline gives the golden frames too (same bytes as the stages),
 * width x width frames. */
static void pipeline_matches_golden(const char *model_path, int width)
{
    tav_pipeline *p;
    CHECK_EQ_INT(tav_pipeline_open(model_path, &p), TAV_OK);
    if (!p)
        return;
    const char *sc[2] = {"a red gear moves along the conveyor",
                         "Close view: the press stamps a blue plate"};
    tav_gen_params gp = tav_gen_default_params();
    gp.scenes = sc;
    gp.n_scenes = 2;
    gp.seed = 42;
    gp.threads = 2;
    tav_video v;
    CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v), TAV_OK);
    CHECK_EQ_INT(v.n_frames, 6);
    CHECK_EQ_INT(v.width, width);
    CHECK_EQ_INT(v.height, width);
    CHECK_EQ_INT(v.scene_start[1], 3);
    size_t gn = 0;
    const float *grgb = gt("frames.rgb", &gn);
    int maxd = 0;
    for (size_t i = 0; v.rgb && grgb && i < gn; i++) {
        int d = abs((int)v.rgb[i] - (int)grgb[i]);
        maxd = d > maxd ? d : maxd;
    }
    printf("  pipeline frames.rgb max|diff| %d levels\n", maxd);
    CHECK(v.rgb && maxd <= TOL_RGB_MAX_ABS_FP32);
    tav_video_free(&v);
    tav_pipeline_close(p);
}

static void test_pipeline_matches_golden(void) { pipeline_matches_golden(TINY, 32); }

/* Quantises src with `tav quantize` into a new file under build/test-tmp
 * whose name is written to out (size >= 64); -> 0, or -1 after a SKIP
 * (./tav not built, or the quantiser failed). */
static int quantize_tmp(const char *src, char *out)
{
    if (access("./tav", X_OK) != 0) {
        SKIP("./tav is not built (make tav) so %s cannot be quantised", src);
        return -1;
    }
    strcpy(out, "build/test-tmp/tiny_int8_XXXXXX");
    system("mkdir -p build/test-tmp");
    int fd = mkstemp(out);
    if (fd < 0) {
        SKIP("cannot create a temp file in build/test-tmp");
        return -1;
    }
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "./tav -q quantize %s %s > build/test-tmp/quantize.log 2>&1", src, out);
    int rc = system(cmd);
    if (rc != 0) {
        unlink(out);
        SKIP("`tav quantize` failed or is not built (exit %d; see build/test-tmp/quantize.log)", rc);
        return -1;
    }
    tav_model *m;
    int n_s8 = 0;
    if (tav_model_open(out, 0, &m) == TAV_OK) {
        for (size_t i = 0; i < tav_model_tensor_count(m); i++)
            n_s8 += tav_model_tensor_at(m, i)->dtype == TAV_DTYPE_S8;
        tav_model_close(m);
    }
    printf("  int8 model from %s: %d s8 tensors\n", src, n_s8);
    CHECK(n_s8 > 0);
    return 0;
}

/* the int8 path gives the same bytes for any thread count */
static void int8_thread_invariance(const char *model_path)
{
    tav_pipeline *p;
    CHECK_EQ_INT(tav_pipeline_open(model_path, &p), TAV_OK);
    if (!p)
        return;
    const char *sc[2] = {"a red gear moves along the conveyor", "the press stamps a blue plate"};
    tav_video v[3];
    int threads[3] = {1, 2, 3};
    for (int i = 0; i < 3; i++) {
        tav_gen_params gp = tav_gen_default_params();
        gp.scenes = sc;
        gp.n_scenes = 2;
        gp.seed = 9;
        gp.threads = threads[i];
        CHECK_EQ_INT(tav_pipeline_generate(p, &gp, &v[i]), TAV_OK);
    }
    size_t n = (size_t)v[0].n_frames * v[0].width * v[0].height * 3;
    for (int i = 1; i < 3; i++)
        CHECK(v[0].rgb && v[i].rgb && memcmp(v[0].rgb, v[i].rgb, n) == 0);
    printf("  int8: same bytes with 1, 2 and 3 threads\n");
    for (int i = 0; i < 3; i++)
        tav_video_free(&v[i]);
    tav_pipeline_close(p);
}

/* int8: quantise src with `tav quantize` (needs ./tav built), then the
 * stages within the int8 bounds (dec_tol for the decoded frames). */
static void parity_int8(const char *src, double dec_tol)
{
    char out[64];
    if (quantize_tmp(src, out) != 0)
        return;
    parity(out, TOL_NMSE_INT8_TEXT, TOL_NMSE_INT8, dec_tol, TOL_RGB_MAX_ABS_INT8);
    int8_thread_invariance(out);
    unlink(out);
}

static void test_parity_int8(void) { parity_int8(TINY, TOL_NMSE_INT8); }

/* ---------------------------------------------------------------- extra decoder level */

static int golden_open(const char *path)
{
    tav_model_close(golden);
    golden = NULL;
    if (tav_model_open(path, 0, &golden) != TAV_OK) {
        printf("FAIL golden_file %s: %s\n", path, tav_last_error());
        return -1;
    }
    return 0;
}

static void test_dec_up_config(void)
{
    tav_model *m;
    tav_engine_cfg c;
    CHECK_EQ_INT(tav_model_open(TINY_UP, 0, &m), TAV_OK);
    if (!m)
        return;
    CHECK_EQ_INT(tav_engine_cfg_load(m, &c), TAV_OK);
    CHECK_EQ_INT(c.image_size, 64);
    CHECK_EQ_INT(c.latent_size, 4);
    CHECK_EQ_INT(c.ae_levels, 3);
    CHECK_EQ_INT(c.dec_up_levels, 1);
    CHECK_EQ_INT(c.dec_levels, 4);
    CHECK_EQ_INT(c.dec_channels[3], 6);
    CHECK_EQ_INT(c.text_scene_pos, 0); /* model.text_scene_pos absent: off */
    tav_model_close(m);
}

static void test_dec_up_parity_fp32(void)
{
    parity(TINY_UP, TOL_NMSE_FP32, TOL_NMSE_FP32, TOL_NMSE_FP32_DEC_UP, TOL_RGB_MAX_ABS_FP32);
    pipeline_matches_golden(TINY_UP, 64);
}

static void test_dec_up_parity_int8(void) { parity_int8(TINY_UP, TOL_NMSE_INT8_DEC_UP); }

int main(void)
{
    if (tav_model_open(GOLDEN, 0, &golden) != TAV_OK) {
        printf("FAIL golden_file: %s\n", tav_last_error());
        return 1;
    }
    tav_simd_init();
    printf("# int8 kernel path: %s\n", tav_simd_isa_name(tav_simd_isa()));
    RUN(test_scene_pos_config);
    RUN(test_parity_fp32);
    RUN(test_pipeline_matches_golden);
    RUN(test_parity_int8);
    if (golden_open(GOLDEN_UP) != 0)
        return 1;
    RUN(test_dec_up_config);
    RUN(test_dec_up_parity_fp32);
    RUN(test_dec_up_parity_int8);
    tav_model_close(golden);
    return check_summary();
}
