/* test_quant.c — quant/: the int8 row format (error bounds per channel, zero
 * rows, extreme values, non-finite input), NMSE, the fp32 rule on the tiny
 * golden model, the quantised file (dtypes, scales, values, metadata,
 * provenance), keep patterns and the measured weight rule, bad inputs and
 * outputs (corrupt, already quantised, unwritable, full disk, same path),
 * allocation failures, the calibrator against simd's reference GEMM, and the
 * CSV report. */
#include "check.h"
#include "core/mem.h"
#include "core/model_file.h"
#include "quant/quant.h"
#include "simd/simd.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <fnmatch.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define TINY "tests/data/tiny.tavm"
#define OUT_DIR "build/test-tmp/quant"

/* Weight NMSE of the tiny model's tensors after int8 rounding. Its weights are
 * random (roughly Gaussian or uniform rows of k = 16..256): one step is
 * amax/127 with amax ~ 2.5..4 sigma, so NMSE ~ (amax/127)^2/12/sigma^2 =
 * 3e-5..8e-5 per tensor (measured: 2.3e-5..5.0e-5; worst row 8.7e-5).
 * 1e-4 fails on any systematic error (a wrong scale or rounding rule costs
 * 1e-2 or more) without flaking on rounding luck. */
#define TOL_TINY_WEIGHT_NMSE 1e-4

/* Per-layer output NMSE of the tiny model with int8 weights and activations
 * on the calibration prompts: the two roundings add to ~1e-4 (measured
 * 1.6e-5..1.3e-4). 5e-4 = the default --max-nmse: no layer of the tiny
 * model may trip it (so all 47 candidates stay int8). */
#define TOL_TINY_OUT_NMSE 5e-4

/* Calibrator vs a direct recomputation with simd's reference kernels: the same
 * int8 products, summed in another order only in the final double sums. */
#define TOL_CALIB_REL 1e-9

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) /* [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float nrand(void) /* roughly N(0, 1): sum of 4 uniforms */
{
    return (float)((urand() + urand() + urand() + urand() - 2.0) * 1.7320508);
}

/* Checks the per-element bound of quant.h on rows of w; returns failures. */
static int check_bound(const float *w, size_t rows, size_t k)
{
    int8_t *q = malloc(rows * k);
    float *s = malloc(rows * sizeof *s), *d = malloc(rows * k * sizeof *d);
    int bad = 0;
    if (!q || !s || !d || tav_quant_encode_rows(q, s, w, rows, k) != TAV_OK) {
        bad = 1;
        goto out;
    }
    tav_quant_decode_rows(d, q, s, rows, k);
    for (size_t r = 0; r < rows; r++) {
        double amax = 0;
        for (size_t j = 0; j < k; j++)
            amax = fmax(amax, fabs((double)w[r * k + j]));
        if (!(s[r] >= 0) || !isfinite(s[r]))
            bad++;
        for (size_t j = 0; j < k; j++) {
            double err = fabs((double)w[r * k + j] - (double)d[r * k + j]);
            double tol = TAV_QUANT_TOL_HALF_STEP * s[r] + TAV_QUANT_TOL_REL * amax + TAV_QUANT_TOL_ABS;
            if (!(err <= tol) || q[r * k + j] < -127) {
                if (bad < 5)
                    fprintf(stderr, "row %zu col %zu: w %g -> %g (q %d, scale %g), err %g > %g\n",
                            r, j, w[r * k + j], d[r * k + j], q[r * k + j], s[r], err, tol);
                bad++;
            }
        }
    }
out:
    free(q);
    free(s);
    free(d);
    return bad;
}

static void ensure_out_dir(void)
{
    mkdir("build", 0755);
    mkdir("build/test-tmp", 0755);
    mkdir(OUT_DIR, 0755);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Number of "<base>.tmp.*" leftovers in OUT_DIR. */
static int tmp_leftovers(const char *base)
{
    DIR *d = opendir(OUT_DIR);
    int n = 0;
    if (!d)
        return -1;
    char pat[256];
    snprintf(pat, sizeof pat, "%s.tmp.*", base);
    for (struct dirent *e; (e = readdir(d));)
        n += fnmatch(pat, e->d_name, 0) == 0;
    closedir(d);
    return n;
}

static int copy_file(const char *from, const char *to, long flip_at, long truncate_to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    int ok = a && b;
    long i = 0;
    for (int c; ok && (c = fgetc(a)) != EOF; i++) {
        if (truncate_to >= 0 && i >= truncate_to)
            break;
        fputc(i == flip_at ? c ^ 0x5a : c, b);
    }
    if (a)
        fclose(a);
    if (b && fclose(b) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- int8 rows */

static void test_encode_bound_random(void)
{
    const size_t ks[] = {1, 7, 32, 129, 256};
    const float mags[] = {1e-3f, 0.05f, 1.0f, 300.0f};
    for (size_t a = 0; a < sizeof ks / sizeof *ks; a++)
        for (size_t b = 0; b < sizeof mags / sizeof *mags; b++) {
            size_t rows = 9, k = ks[a];
            float *w = malloc(rows * k * sizeof *w);
            for (size_t i = 0; i < rows * k; i++)
                w[i] = nrand() * mags[b] * (float)(1 + i / k); /* rows of growing scale */
            CHECK_EQ_INT(check_bound(w, rows, k), 0);
            free(w);
        }
}

static void test_encode_row_max_maps_to_127(void)
{
    float w[2][5] = {{0.5f, -2.0f, 1.0f, 0.25f, 0.0f}, {3.0f, 1.5f, -1.5f, 0.0f, 0.75f}};
    int8_t q[10];
    float s[2];
    CHECK_EQ_INT(tav_quant_encode_rows(q, s, &w[0][0], 2, 5), TAV_OK);
    CHECK_EQ_INT(q[1], -127);
    CHECK_EQ_INT(q[5], 127);
    CHECK(s[0] == (float)(2.0 / 127.0) && s[1] == (float)(3.0 / 127.0));
    CHECK_EQ_INT(q[2], 64);  /* 1.0 / (2/127) = 63.5 -> round half to even 64 */
    CHECK_EQ_INT(q[4], 0);
    CHECK_EQ_INT(q[6], 64);  /* 1.5 / (3/127) = 63.5 -> 64 */
    CHECK_EQ_INT(q[7], -64);
}

static void test_encode_zero_rows(void)
{
    float w[3 * 4] = {0, 0, 0, 0, /* */ 1, -1, 0.5f, 0, /* */ -0.0f, 0, 0, -0.0f};
    int8_t q[12];
    float s[3], d[12];
    CHECK_EQ_INT(tav_quant_encode_rows(q, s, w, 3, 4), TAV_OK);
    CHECK(s[0] == 0.0f && s[2] == 0.0f && s[1] > 0.0f);
    tav_quant_decode_rows(d, q, s, 3, 4);
    for (int j = 0; j < 4; j++) {
        CHECK(q[j] == 0 && d[j] == 0.0f);
        CHECK(q[8 + j] == 0 && d[8 + j] == 0.0f);
    }
    CHECK_EQ_INT(check_bound(w, 3, 4), 0);
    /* weight NMSE of an all-zero tensor is 0, not NaN */
    CHECK(tav_quant_nmse(w, d, 4) == 0.0);
}

static void test_encode_extremes(void)
{
    const float sub = FLT_TRUE_MIN;
    float w[] = {
        FLT_MAX, -FLT_MAX, 1.0f, 0.0f,                    /* largest finite values       */
        1e30f, 1e-30f, -1e-30f, 0.0f,                     /* huge range in one row       */
        sub, -sub, 0.0f, 3 * sub,                         /* subnormal row: 127/amax overflows */
        FLT_MIN, -FLT_MIN / 2, FLT_MIN / 4, 0.0f,         /* normal/subnormal boundary   */
        1e-38f, 0.0f, -5e-39f, 1e-40f,                    /* 127/amax > FLT_MAX          */
    };
    CHECK_EQ_INT(check_bound(w, 5, 4), 0);
    int8_t q[20];
    float s[5];
    CHECK_EQ_INT(tav_quant_encode_rows(q, s, w, 5, 4), TAV_OK);
    CHECK_EQ_INT(q[0], 127);
    CHECK_EQ_INT(q[1], -127);
    CHECK(isfinite(s[0]) && s[0] > 0);
    /* zeros stay zero in every row, however small the scale */
    CHECK(q[3] == 0 && q[7] == 0 && q[10] == 0 && q[15] == 0 && q[17] == 0);
}

static void test_encode_rejects_nonfinite(void)
{
    float w[6] = {1, 2, 3, 4, NAN, 6};
    int8_t q[6];
    float s[2];
    CHECK_EQ_INT(tav_quant_encode_rows(q, s, w, 2, 3), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "[1][1] is NaN");
    w[4] = -INFINITY;
    CHECK_EQ_INT(tav_quant_encode_rows(q, s, w, 2, 3), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "infinite");
    CHECK_EQ_INT(tav_quant_encode_rows(q, s, w, 0, 3), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_quant_encode_rows(NULL, s, w, 2, 3), TAV_ERR_INVALID_ARG);
}

static void test_nmse(void)
{
    float ref[2] = {1, 2}, x[2] = {1, 3}, z[2] = {0, 0};
    CHECK(fabs(tav_quant_nmse(ref, x, 2) - 0.2) < 1e-15);
    CHECK(tav_quant_nmse(ref, ref, 2) == 0.0);
    CHECK(tav_quant_nmse(z, z, 2) == 0.0);
    CHECK(isinf(tav_quant_nmse(z, x, 2)));
}

/* ---------------------------------------------------------------- the rule */

/* The tiny model's tensors the default rule keeps fp32, besides 1-D ones. */
static const char *const tiny_fp32[] = {
    "text.pos_emb", "text.scene_emb", "text.tok_emb.weight", "dit.pos_s",
    "dit.patch_in.weight", "dit.patch_out.weight", "ae.dec.conv_in.weight",
    "ae.dec.conv_out.weight",
};

static int in_list(const char *name, const char *const *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, l[i]) == 0)
            return 1;
    return 0;
}

/* Frame statistics of `tav quantize --compare`: bytes mapped to [-1, 1]. */
static void test_compare_stats(void)
{
    const uint8_t ref[4] = {0, 255, 128, 200}, same[4] = {0, 255, 128, 200};
    const uint8_t test[4] = {2, 255, 127, 200};
    tav_quant_cmp_stats s = {0}, z = {0}, all = {0};
    tav_quant_cmp_add(&z, ref, same, 4);
    CHECK(tav_quant_cmp_nmse(&z) == 0.0 && isinf(tav_quant_cmp_psnr(&z)) && z.max_diff == 0);
    tav_quant_cmp_add(&s, ref, test, 4);
    double r2 = 0;
    for (int i = 0; i < 4; i++)
        r2 += (ref[i] / 127.5 - 1) * (ref[i] / 127.5 - 1);
    double e2 = (2 / 127.5) * (2 / 127.5) + (1 / 127.5) * (1 / 127.5);
    CHECK(fabs(tav_quant_cmp_nmse(&s) - e2 / r2) < 1e-12 * (e2 / r2));
    /* MSE in bytes = (4 + 1) / 4 */
    CHECK(fabs(tav_quant_cmp_psnr(&s) - 10 * log10(255.0 * 255.0 / 1.25)) < 1e-9);
    CHECK(s.max_diff == 2 && s.abs_sum == 3 && s.n_values == 4);
    s.n_frames = 1;
    z.n_frames = 1;
    tav_quant_cmp_merge(&all, &s);
    tav_quant_cmp_merge(&all, &z);
    CHECK(all.n_values == 8 && all.n_frames == 2 && all.max_diff == 2);
    CHECK(fabs(tav_quant_cmp_nmse(&all) - e2 / (2 * r2)) < 1e-12 * (e2 / r2));
}

static void test_rule_on_tiny(void)
{
    tav_model *m;
    if (tav_model_open(TINY, 0, &m) != TAV_OK) {
        CHECK(!"open tiny");
        return;
    }
    tav_quant_params p = tav_quant_default_params();
    size_t n_cand = 0, n_named = 0;
    for (size_t i = 0; i < tav_model_tensor_count(m); i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        const char *why = NULL;
        int c = tav_quant_rule_check(t, &p, &why);
        CHECK(why != NULL);
        int want_fp32 = t->ndim == 1 || in_list(t->name, tiny_fp32, sizeof tiny_fp32 / sizeof *tiny_fp32);
        if (c == want_fp32)
            fprintf(stderr, "rule: %s -> %d (%s)\n", t->name, c, why);
        CHECK_EQ_INT(c, !want_fp32);
        n_cand += c;
        n_named += in_list(t->name, tiny_fp32, sizeof tiny_fp32 / sizeof *tiny_fp32);
        if (strcmp(t->name, "dit.patch_in.weight") == 0)
            CHECK_STR_CONTAINS(why, "first/last");
        if (strcmp(t->name, "text.tok_emb.weight") == 0)
            CHECK_STR_CONTAINS(why, "embedding");
        if (strcmp(t->name, "text.blocks.0.ln1.weight") == 0)
            CHECK_STR_CONTAINS(why, "1-D");
    }
    CHECK_EQ_INT(n_named, sizeof tiny_fp32 / sizeof *tiny_fp32);
    CHECK_EQ_INT(n_cand, 47); /* 6 text block + text.scene_pos + 4 dit stem + 2 x 14 block +
                               * final_mod + 6 decoder convs */

    const char *keep[] = {"dit.blocks.*.mod.weight"};
    p.keep = keep;
    p.n_keep = 1;
    const tav_tensor_view *mod = tav_model_tensor_find(m, "dit.blocks.1.mod.weight");
    const char *why = NULL;
    CHECK(mod && tav_quant_rule_check(mod, &p, &why) == 0);
    CHECK_STR_CONTAINS(why, "--keep");
    tav_model_close(m);
}

/* ---------------------------------------------------------------- the quantised file */

static void test_convert_tiny(void)
{
    ensure_out_dir();
    const char *out = OUT_DIR "/tiny-int8.tavm";
    tav_quant_params p = tav_quant_default_params();
    tav_quant_report rep;
    tav_status st = tav_quant_file_convert(TINY, out, &p, &rep);
    CHECK_EQ_INT(st, TAV_OK);
    if (st) {
        fprintf(stderr, "%s\n", tav_last_error());
        tav_quant_report_free(&rep);
        return;
    }
    tav_model *src, *q;
    CHECK_EQ_INT(tav_model_open(TINY, 0, &src), TAV_OK);
    CHECK_EQ_INT(tav_model_open(out, 0, &q), TAV_OK); /* checksum verified */
    if (!src || !q)
        return;
    CHECK_EQ_INT(tav_model_tensor_count(q), tav_model_tensor_count(src));
    CHECK_EQ_INT(rep.n_layers, tav_model_tensor_count(src));
    size_t n_s8 = 0;
    for (size_t i = 0; i < tav_model_tensor_count(src); i++) {
        const tav_tensor_view *a = tav_model_tensor_at(src, i), *b = tav_model_tensor_at(q, i);
        CHECK(strcmp(a->name, b->name) == 0);
        CHECK_EQ_INT(a->ndim, b->ndim);
        CHECK(memcmp(a->shape, b->shape, sizeof a->shape) == 0);
        int want_s8 = tav_quant_rule_check(a, &p, NULL);
        CHECK_EQ_INT(b->dtype, want_s8 ? TAV_DTYPE_S8 : TAV_DTYPE_F32);
        CHECK_EQ_INT(rep.layers[i].dtype_out, b->dtype);
        if (b->dtype == TAV_DTYPE_S8) {
            n_s8++;
            CHECK(b->scales != NULL);
            size_t rows = (size_t)b->shape[0], k = b->n_elems / rows;
            const float *w = a->data;
            float *d = malloc(b->n_elems * sizeof *d);
            tav_quant_decode_rows(d, b->data, b->scales, rows, k);
            int bad = 0;
            for (size_t r = 0; r < rows; r++) {
                double amax = 0;
                for (size_t j = 0; j < k; j++)
                    amax = fmax(amax, fabs(w[r * k + j]));
                CHECK(fabs(b->scales[r] - amax / 127.0) <= amax * 1e-7);
                for (size_t j = 0; j < k; j++)
                    bad += !(fabs(w[r * k + j] - d[r * k + j]) <=
                             TAV_QUANT_TOL_HALF_STEP * b->scales[r] + TAV_QUANT_TOL_REL * amax +
                                 TAV_QUANT_TOL_ABS);
            }
            CHECK_EQ_INT(bad, 0);
            double nm = tav_quant_nmse(w, d, b->n_elems);
            CHECK(fabs(nm - rep.layers[i].weight_nmse) <= 1e-9 * nm);
            CHECK(nm < TOL_TINY_WEIGHT_NMSE);
            free(d);
        } else {
            CHECK(b->scales == NULL);
            CHECK(a->n_bytes == b->n_bytes && memcmp(a->data, b->data, a->n_bytes) == 0);
        }
    }
    CHECK_EQ_INT(n_s8, rep.n_s8);
    CHECK_EQ_INT(n_s8, 47);
    CHECK(rep.file_bytes_out < rep.file_bytes_in / 2);

    /* metadata: every source key copied with its value, plus 4 quant.* keys */
    CHECK_EQ_INT(tav_model_meta_count(q), tav_model_meta_count(src) + 4);
    int64_t v1, v2;
    CHECK(tav_model_meta_get_i64(q, "model.width", &v1) == TAV_OK &&
          tav_model_meta_get_i64(src, "model.width", &v2) == TAV_OK && v1 == v2);
    double c1, c2;
    CHECK(tav_model_meta_get_f64(q, "model.cfg_scale", &c1) == TAV_OK &&
          tav_model_meta_get_f64(src, "model.cfg_scale", &c2) == TAV_OK && c1 == c2);
    const char *const *va, *const *vb;
    size_t na = 0, nb = 0;
    CHECK(tav_model_meta_get_strs(q, "tokenizer.vocab", &va, &na) == TAV_OK &&
          tav_model_meta_get_strs(src, "tokenizer.vocab", &vb, &nb) == TAV_OK && na == nb);
    for (size_t i = 0; i < na && i < nb; i++)
        CHECK(strcmp(va[i], vb[i]) == 0);
    const char *s;
    CHECK(tav_model_meta_get_str(q, "quant.version", &s) == TAV_OK && strcmp(s, TAV_QUANT_VERSION) == 0);
    CHECK(tav_model_meta_get_str(q, "quant.source_sha256", &s) == TAV_OK &&
          strcmp(s, tav_model_checksum_hex(src)) == 0);
    CHECK(tav_model_meta_get_str(q, "quant.rule", &s) == TAV_OK);
    CHECK_STR_CONTAINS(s, TAV_QUANT_RULE_NAME);
    CHECK(tav_model_meta_get_str(q, "quant.calibration", &s) == TAV_OK);
    CHECK_STR_CONTAINS(s, rep.calib_note);
    /* output NMSE: measured through the fp32 engine for every linear/conv
     * (kept ones too), absent (NaN) for everything else */
    CHECK_EQ_INT(rep.calibrated, tav_quant_calib_available());
    if (rep.calibrated) {
        CHECK_STR_CONTAINS(rep.calib_note, "3 prompts");
        for (size_t i = 0; i < rep.n_layers; i++) {
            const tav_quant_layer *L = &rep.layers[i];
            int linear = (L->ndim == 2 || L->ndim == 4) && !strstr(L->name, "emb") &&
                         !strstr(L->name, "pos_");
            CHECK_EQ_INT(L->out_calls > 0, linear);
            if (linear)
                CHECK(L->out_nmse > 0 && L->out_nmse < TOL_TINY_OUT_NMSE);
            else
                CHECK(isnan(L->out_nmse));
        }
    }

    /* deterministic: the same input gives the same bytes */
    tav_quant_report rep2;
    CHECK_EQ_INT(tav_quant_file_convert(TINY, OUT_DIR "/tiny-int8-again.tavm", &p, &rep2), TAV_OK);
    tav_model *q2;
    if (tav_model_open(OUT_DIR "/tiny-int8-again.tavm", 0, &q2) == TAV_OK) {
        CHECK(strcmp(tav_model_checksum_hex(q2), tav_model_checksum_hex(q)) == 0);
        tav_model_close(q2);
    } else {
        CHECK(!"reopen second output");
    }
    tav_quant_report_free(&rep2);
    tav_model_close(src);
    tav_model_close(q);
    tav_quant_report_free(&rep);
    CHECK(rep.layers == NULL && rep.n_layers == 0);
}

static void test_keep_and_weight_rule(void)
{
    ensure_out_dir();
    const char *out = OUT_DIR "/tiny-keep.tavm";
    tav_quant_params p = tav_quant_default_params();
    const char *keep[] = {"dit.blocks.*.mod.weight", "text.*"};
    p.keep = keep;
    p.n_keep = 2;
    p.max_weight_nmse = 5e-5; /* between the tiny model's best and worst rows */
    tav_quant_report rep;
    CHECK_EQ_INT(tav_quant_file_convert(TINY, out, &p, &rep), TAV_OK);
    tav_model *q;
    if (tav_model_open(out, 0, &q) != TAV_OK) {
        CHECK(!"open");
        tav_quant_report_free(&rep);
        return;
    }
    size_t by_weight = 0, s8 = 0;
    for (size_t i = 0; i < rep.n_layers; i++) {
        const tav_quant_layer *L = &rep.layers[i];
        const tav_tensor_view *t = tav_model_tensor_find(q, L->name);
        CHECK(t && t->dtype == L->dtype_out);
        if (fnmatch("dit.blocks.*.mod.weight", L->name, 0) == 0 || fnmatch("text.*", L->name, 0) == 0)
            CHECK(L->dtype_out != TAV_DTYPE_S8);
        if (L->dtype_out == TAV_DTYPE_S8) {
            s8++;
            CHECK(L->weight_nmse_max <= p.max_weight_nmse);
        }
        if (strstr(L->reason, "--max-weight-nmse")) {
            by_weight++;
            CHECK(L->weight_nmse_max > p.max_weight_nmse);
            CHECK(L->dtype_out == TAV_DTYPE_F32);
        }
    }
    CHECK(by_weight > 0 && s8 > 0); /* the threshold splits the tiny model's layers */
    const char *rule;
    CHECK(tav_model_meta_get_str(q, "quant.rule", &rule) == TAV_OK);
    CHECK_STR_CONTAINS(rule, "dit.blocks.*.mod.weight");
    CHECK_STR_CONTAINS(rule, "5e-05");
    tav_model_close(q);
    tav_quant_report_free(&rep);
}

static void test_max_nmse_rule(void)
{
    if (!tav_quant_calib_available()) {
        SKIP("calibration needs the engine");
        return;
    }
    ensure_out_dir();
    tav_quant_params p = tav_quant_default_params();
    p.max_nmse = 6e-5; /* between the tiny model's best and worst layers */
    tav_quant_report rep;
    CHECK_EQ_INT(tav_quant_file_convert(TINY, OUT_DIR "/tiny-nmse.tavm", &p, &rep), TAV_OK);
    size_t kept = 0, s8 = 0;
    for (size_t i = 0; i < rep.n_layers; i++) {
        const tav_quant_layer *L = &rep.layers[i];
        if (L->dtype_out == TAV_DTYPE_S8) {
            s8++;
            CHECK(L->out_nmse <= p.max_nmse);
        }
        if (L->reason && strstr(L->reason, "--max-nmse")) {
            kept++;
            CHECK(L->out_nmse > p.max_nmse && L->dtype_out == TAV_DTYPE_F32);
        }
    }
    CHECK(kept > 0 && s8 > 0);
    CHECK_EQ_INT(rep.n_s8 + kept, 47);
    tav_quant_report_free(&rep);
}

static void test_calib_prompts(void)
{
    if (!tav_quant_calib_available()) {
        SKIP("calibration needs the engine");
        return;
    }
    ensure_out_dir();
    tav_quant_params p = tav_quant_default_params();
    const char *good[] = {"a red gear moves along the conveyor | the press stamps a blue plate"};
    p.calib_prompts = good;
    p.n_calib_prompts = 1;
    tav_quant_report rep;
    CHECK_EQ_INT(tav_quant_file_convert(TINY, OUT_DIR "/tiny-calib.tavm", &p, &rep), TAV_OK);
    CHECK(rep.calibrated);
    CHECK_STR_CONTAINS(rep.calib_note, "1 prompts from the caller");
    const tav_quant_layer *fc = NULL;
    for (size_t i = 0; i < rep.n_layers; i++)
        if (strcmp(rep.layers[i].name, "dit.blocks.0.mlp.fc1.weight") == 0)
            fc = &rep.layers[i];
    CHECK(fc && fc->out_calls == 6); /* 3 steps x (prompt + unconditional) */
    tav_quant_report_free(&rep);

    const char *bad[] = {"a red gear | the sprocket wobbles"};
    p.calib_prompts = bad;
    unlink(OUT_DIR "/tiny-calib-bad.tavm");
    CHECK_EQ_INT(tav_quant_file_convert(TINY, OUT_DIR "/tiny-calib-bad.tavm", &p, &rep),
                 TAV_ERR_UNKNOWN_WORD);
    CHECK_STR_CONTAINS(tav_last_error(), "sprocket");
    CHECK(!file_exists(OUT_DIR "/tiny-calib-bad.tavm"));
    tav_quant_report_free(&rep);

    /* a model from memory cannot be run by the engine: said, not measured */
    tav_model *m;
    tav_model_writer *w;
    if (tav_model_open(TINY, 0, &m) == TAV_OK && tav_model_writer_init(&w) == TAV_OK) {
        p = tav_quant_default_params();
        CHECK_EQ_INT(tav_quant_model_convert(m, &p, w, &rep), TAV_OK);
        CHECK(!rep.calibrated);
        CHECK_STR_CONTAINS(rep.calib_note, "not run");
        for (size_t i = 0; i < rep.n_layers; i++)
            CHECK(isnan(rep.layers[i].out_nmse));
        tav_quant_report_free(&rep);
        tav_model_writer_free(w);
        tav_model_close(m);
    }
}

static uint16_t f32_to_f16(float f) /* normal range only, round to nearest */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, e = (u >> 23) & 255, m = u & 0x7fffff;
    if (e == 0)
        return (uint16_t)sign;
    uint32_t h = ((e - 112) << 10) | (m >> 13);
    h += (m >> 12) & 1; /* round half up: fine for a test input */
    return (uint16_t)(sign | h);
}

/* A non-engine file with f16 weights: quantised from the f16 values without
 * calibration; with calibration the engine refuses it and says --no-calib. */
static void test_f16_input(void)
{
    ensure_out_dir();
    enum { R = 5, K = 12 };
    uint16_t wh[R * K], bh[R];
    float wf[R * K];
    for (int i = 0; i < R * K; i++)
        wh[i] = f32_to_f16(nrand());
    for (int i = 0; i < R; i++)
        bh[i] = f32_to_f16(0.5f);
    tav_model_writer *w;
    if (tav_model_writer_init(&w) != TAV_OK)
        return;
    int64_t sw[2] = {R, K}, sb[1] = {R};
    CHECK_EQ_INT(tav_model_writer_add_tensor(w, "blk.fc.weight", TAV_DTYPE_F16, 2, sw, wh, NULL), TAV_OK);
    CHECK_EQ_INT(tav_model_writer_add_tensor(w, "blk.fc.bias", TAV_DTYPE_F16, 1, sb, bh, NULL), TAV_OK);
    CHECK_EQ_INT(tav_model_writer_write(w, OUT_DIR "/f16.tavm"), TAV_OK);
    tav_model_writer_free(w);

    tav_quant_params p = tav_quant_default_params();
    tav_quant_report rep;
    CHECK(tav_quant_file_convert(OUT_DIR "/f16.tavm", OUT_DIR "/f16-int8.tavm", &p, &rep) != TAV_OK);
    CHECK_STR_CONTAINS(tav_last_error(), "--no-calib");
    tav_quant_report_free(&rep);
    p.calibrate = 0;
    CHECK_EQ_INT(tav_quant_file_convert(OUT_DIR "/f16.tavm", OUT_DIR "/f16-int8.tavm", &p, &rep), TAV_OK);
    tav_quant_report_free(&rep);
    tav_model *m;
    if (tav_model_open(OUT_DIR "/f16-int8.tavm", 0, &m) != TAV_OK) {
        CHECK(!"open f16-int8");
        return;
    }
    const tav_tensor_view *tw = tav_model_tensor_find(m, "blk.fc.weight");
    const tav_tensor_view *tb = tav_model_tensor_find(m, "blk.fc.bias");
    CHECK(tw && tw->dtype == TAV_DTYPE_S8 && tb && tb->dtype == TAV_DTYPE_F16);
    if (tw && tw->dtype == TAV_DTYPE_S8) {
        /* same int8 as quantising the f16 values widened to f32 */
        for (int i = 0; i < R * K; i++) {
            uint16_t h = wh[i];
            int e = (h >> 10) & 31, mm = h & 1023;
            float v = e == 0 ? ldexpf((float)mm, -24) : ldexpf((float)(mm | 1024), e - 25);
            wf[i] = (h & 0x8000) ? -v : v;
        }
        int8_t q[R * K];
        float s[R];
        CHECK_EQ_INT(tav_quant_encode_rows(q, s, wf, R, K), TAV_OK);
        CHECK(memcmp(q, tw->data, sizeof q) == 0 && memcmp(s, tw->scales, sizeof s) == 0);
    }
    if (tb && tb->dtype == TAV_DTYPE_F16)
        CHECK(memcmp(tb->data, bh, sizeof bh) == 0);
    tav_model_close(m);
}

/* ---------------------------------------------------------------- bad inputs and outputs */

static void test_already_quantised(void)
{
    ensure_out_dir();
    const char *in = OUT_DIR "/tiny-int8-src.tavm", *out = OUT_DIR "/twice.tavm";
    tav_quant_params p = tav_quant_default_params();
    tav_quant_report rep;
    CHECK_EQ_INT(tav_quant_file_convert(TINY, in, &p, &rep), TAV_OK);
    tav_quant_report_free(&rep);
    unlink(out);
    CHECK_EQ_INT(tav_quant_file_convert(in, out, &p, &rep), TAV_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(tav_last_error(), "already quantised");
    CHECK_STR_CONTAINS(tav_last_error(), in);
    CHECK(!file_exists(out));
    CHECK_EQ_INT(tmp_leftovers("twice.tavm"), 0);
    tav_quant_report_free(&rep);
    /* all kept fp32: no s8 tensor, but the quant.* keys still mark it */
    const char *all[] = {"*"};
    p.keep = all;
    p.n_keep = 1;
    p.calibrate = 0;
    CHECK_EQ_INT(tav_quant_file_convert(TINY, in, &p, &rep), TAV_OK);
    CHECK_EQ_INT(rep.n_s8, 0);
    tav_quant_report_free(&rep);
    CHECK_EQ_INT(tav_quant_file_convert(in, out, &p, &rep), TAV_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(tav_last_error(), "metadata 'quant.");
    CHECK(!file_exists(out));
    tav_quant_report_free(&rep);
}

static void test_corrupt_inputs(void)
{
    ensure_out_dir();
    const char *bad = OUT_DIR "/bad.tavm", *out = OUT_DIR "/from-bad.tavm";
    tav_quant_params p = tav_quant_default_params();
    tav_quant_report rep;
    unlink(out);
    /* one flipped byte deep in the tensor data: the checksum catches it */
    CHECK_EQ_INT(copy_file(TINY, bad, 200000, -1), 0);
    CHECK_EQ_INT(tav_quant_file_convert(bad, out, &p, &rep), TAV_ERR_CHECKSUM);
    CHECK_STR_CONTAINS(tav_last_error(), bad);
    tav_quant_report_free(&rep);
    /* truncated */
    CHECK_EQ_INT(copy_file(TINY, bad, -1, 5000), 0);
    CHECK_EQ_INT(tav_quant_file_convert(bad, out, &p, &rep), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "truncated");
    tav_quant_report_free(&rep);
    /* not a model at all */
    CHECK_EQ_INT(copy_file("tests/check.h", bad, -1, -1), 0);
    CHECK_EQ_INT(tav_quant_file_convert(bad, out, &p, &rep), TAV_ERR_FORMAT);
    tav_quant_report_free(&rep);
    /* missing */
    CHECK_EQ_INT(tav_quant_file_convert(OUT_DIR "/no-such.tavm", out, &p, &rep), TAV_ERR_IO);
    CHECK_STR_CONTAINS(tav_last_error(), "no-such.tavm");
    tav_quant_report_free(&rep);
    CHECK(!file_exists(out));
    CHECK_EQ_INT(tmp_leftovers("from-bad.tavm"), 0);
}

static void test_unwritable_outputs(void)
{
    ensure_out_dir();
    tav_quant_params p = tav_quant_default_params();
    tav_quant_report rep;
    /* a directory that does not exist */
    CHECK_EQ_INT(tav_quant_file_convert(TINY, OUT_DIR "/no/such/dir/x.tavm", &p, &rep), TAV_ERR_IO);
    CHECK_STR_CONTAINS(tav_last_error(), "no/such/dir/x.tavm");
    tav_quant_report_free(&rep);
    /* the path is a directory: the rename fails, the temporary file goes */
    mkdir(OUT_DIR "/adir", 0755);
    CHECK_EQ_INT(tav_quant_file_convert(TINY, OUT_DIR "/adir", &p, &rep), TAV_ERR_IO);
    CHECK_STR_CONTAINS(tav_last_error(), "adir");
    CHECK_EQ_INT(tmp_leftovers("adir"), 0);
    tav_quant_report_free(&rep);
    /* the input itself */
    struct stat before, after;
    stat(TINY, &before);
    CHECK_EQ_INT(tav_quant_file_convert(TINY, "tests/data/../data/tiny.tavm", &p, &rep),
                 TAV_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(tav_last_error(), "is the input file");
    stat(TINY, &after);
    CHECK(before.st_mtime == after.st_mtime && before.st_size == after.st_size);
    tav_quant_report_free(&rep);
}

/* A full disk, simulated by a file-size limit: write() fails with EFBIG at
 * the limit, as it fails with ENOSPC on a full disk — the same error path. */
static void test_disk_full(void)
{
    ensure_out_dir();
    const char *out = OUT_DIR "/full.tavm";
    FILE *f = fopen(out, "w"); /* an older output that must survive */
    if (!f) {
        CHECK(!"create old output");
        return;
    }
    fputs("old contents\n", f);
    fclose(f);
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    struct rlimit lim = {64 * 1024, old.rlim_max};
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
        signal(SIGXFSZ, prev);
        SKIP("setrlimit(RLIMIT_FSIZE): %s", strerror(errno));
        return;
    }
    tav_quant_params p = tav_quant_default_params();
    tav_quant_report rep;
    tav_status st = tav_quant_file_convert(TINY, out, &p, &rep);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tav_last_error());
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK_EQ_INT(st, TAV_ERR_IO);
    CHECK_STR_CONTAINS(msg, out);
    CHECK_STR_CONTAINS(msg, strerror(EFBIG));
    char buf[64] = {0};
    f = fopen(out, "r");
    CHECK(f && fgets(buf, sizeof buf, f) && strcmp(buf, "old contents\n") == 0);
    if (f)
        fclose(f);
    CHECK_EQ_INT(tmp_leftovers("full.tavm"), 0);
    tav_quant_report_free(&rep);
}

static void test_alloc_faults(void)
{
    tav_model *m;
    if (tav_model_open(TINY, 0, &m) != TAV_OK) {
        CHECK(!"open tiny");
        return;
    }
    tav_quant_params p = tav_quant_default_params();
    int ok_at = 0, n_nomem = 0;
    for (long nth = 1; nth < 5000 && !ok_at; nth++) {
        tav_model_writer *w = NULL;
        if (tav_model_writer_init(&w) != TAV_OK)
            break;
        tav_quant_report rep;
        tav_fault_alloc_fail_at(nth);
        tav_status st = tav_quant_model_convert(m, &p, w, &rep);
        tav_fault_alloc_fail_at(0);
        if (st == TAV_OK)
            ok_at = (int)nth;
        else if (st == TAV_ERR_NOMEM)
            n_nomem++;
        else
            CHECK_EQ_INT(st, TAV_ERR_NOMEM);
        tav_quant_report_free(&rep);
        tav_model_writer_free(w);
    }
    CHECK(ok_at > 1 && n_nomem == ok_at - 1); /* every failure point returned NOMEM, no leak (ASan) */
    tav_model_close(m);
}

/* ---------------------------------------------------------------- calibration */

static void test_calib_observe(void)
{
    enum { N = 24, K = 40, M = 13 };
    float w[N * K], b[N], x[M * K], y[M * N];
    for (int i = 0; i < N * K; i++)
        w[i] = nrand() * 0.2f;
    for (int i = 0; i < N; i++)
        b[i] = nrand() * 0.1f;
    for (int i = 0; i < M * K; i++)
        x[i] = nrand() * (i % K == 3 ? 8.0f : 1.0f); /* one outlier channel */
    for (int r = 0; r < M; r++)
        for (int n = 0; n < N; n++) {
            double acc = b[n];
            for (int j = 0; j < K; j++)
                acc += (double)x[r * K + j] * w[n * K + j];
            y[r * N + n] = (float)acc;
        }
    int8_t wq[N * K], xq[M * K];
    float ws[N], xs[M], yq[M * N];
    CHECK_EQ_INT(tav_quant_encode_rows(wq, ws, w, N, K), TAV_OK);

    tav_quant_calib *c;
    CHECK_EQ_INT(tav_quant_calib_init(&c), TAV_OK);
    if (!c)
        return;
    CHECK_EQ_INT(tav_quant_calib_add_layer(c, "blk.fc.weight", wq, ws, b, N, K), TAV_OK);
    CHECK_EQ_INT(tav_quant_calib_add_layer(c, "blk.fc.weight", wq, ws, b, N, K), TAV_ERR_INVALID_ARG);
    double nm;
    long calls;
    CHECK_EQ_INT(tav_quant_calib_result(c, "blk.fc", &nm, &calls), TAV_OK);
    CHECK(isnan(nm) && calls == 0);
    /* the engine names layers without ".weight" */
    CHECK_EQ_INT(tav_quant_calib_observe(c, "blk.fc", x, M, K, y, N), TAV_OK);
    CHECK_EQ_INT(tav_quant_calib_observe(c, "blk.fc.weight", x, M, K, y, N), TAV_OK);
    CHECK_EQ_INT(tav_quant_calib_observe(c, "blk.other", x, M, K, y, N), TAV_OK);
    CHECK_EQ_INT(tav_quant_calib_unmatched(c), 1);
    CHECK_EQ_INT(tav_quant_calib_observe(c, "blk.fc", x, M, K - 1, y, N), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_quant_calib_result(c, "blk.fc", &nm, &calls), TAV_OK);
    CHECK_EQ_INT(calls, 2);
    CHECK_EQ_INT(tav_quant_calib_result(c, "nope", &nm, &calls), TAV_ERR_NOT_FOUND);

    /* the same numbers from simd's scalar reference */
    tav_ref_quant_rows(xq, xs, x, M, K);
    tav_ref_gemm_s8(xq, xs, wq, ws, b, M, N, K, TAV_ACT_NONE, yq);
    double want = tav_quant_nmse(y, yq, M * N);
    tav_quant_calib_result(c, "blk.fc", &nm, &calls);
    CHECK(fabs(nm - want) <= TOL_CALIB_REL * want);
    CHECK(nm > 0 && nm < 1e-2); /* int8 x int8 of a well-spread layer */
    tav_quant_calib_free(c);
}

/* ---------------------------------------------------------------- report */

static void test_report_csv(void)
{
    ensure_out_dir();
    tav_quant_params p = tav_quant_default_params();
    tav_quant_report rep;
    CHECK_EQ_INT(tav_quant_file_convert(TINY, OUT_DIR "/for-csv.tavm", &p, &rep), TAV_OK);
    const char *csv = OUT_DIR "/report.csv";
    CHECK_EQ_INT(tav_quant_report_write_csv(&rep, csv), TAV_OK);
    FILE *f = fopen(csv, "r");
    char line[512];
    size_t n = 0;
    int saw_patch_in = 0, saw_q = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (n == 0)
            CHECK(strncmp(line, "tensor,shape,dtype_in,dtype_out,weight_nmse,", 44) == 0);
        saw_patch_in |= strncmp(line, "dit.patch_in.weight,32x16,f32,f32,", 34) == 0;
        saw_q |= strncmp(line, "dit.blocks.0.attn_s.q.weight,32x32,f32,s8,", 42) == 0;
        n++;
    }
    if (f)
        fclose(f);
    CHECK_EQ_INT(n, rep.n_layers + 1);
    CHECK(saw_patch_in && saw_q);
    CHECK_EQ_INT(tav_quant_report_write_csv(&rep, OUT_DIR "/no/such/report.csv"), TAV_ERR_IO);
    /* the printed table names every 2-D+ tensor and the totals */
    FILE *mem = tmpfile();
    if (mem) {
        tav_quant_report_print(&rep, mem);
        rewind(mem);
        size_t lines = 0;
        int total = 0;
        while (fgets(line, sizeof line, mem)) {
            lines++;
            total |= strstr(line, "47 of 117 tensors int8") != NULL;
        }
        fclose(mem);
        CHECK(total);
        CHECK_EQ_INT(lines, 1 + 55 + 4); /* header, 55 tensors of 2+ dims, 4 footer lines */
    }
    tav_quant_report_free(&rep);
}

int main(void)
{
    RUN(test_encode_bound_random);
    RUN(test_encode_row_max_maps_to_127);
    RUN(test_encode_zero_rows);
    RUN(test_encode_extremes);
    RUN(test_encode_rejects_nonfinite);
    RUN(test_nmse);
    RUN(test_compare_stats);
    RUN(test_rule_on_tiny);
    RUN(test_convert_tiny);
    RUN(test_keep_and_weight_rule);
    RUN(test_max_nmse_rule);
    RUN(test_calib_prompts);
    RUN(test_f16_input);
    RUN(test_already_quantised);
    RUN(test_corrupt_inputs);
    RUN(test_unwritable_outputs);
    RUN(test_disk_full);
    RUN(test_alloc_faults);
    RUN(test_calib_observe);
    RUN(test_report_csv);
    return check_summary();
}
