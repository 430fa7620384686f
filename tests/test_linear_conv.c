/* test_linear_conv.c — tav_linear_conv3x3 (im2col rows made per GEMM panel,
 * core/linear.h) and the GEMM it rides on, tav_gemm_s8_segs (simd/simd.h),
 * against the explicit path: im2col rows + tav_linear_forward /
 * tav_gemm_s8_f32. Exact bytes on every kernel path, with and without the
 * 2x upsample, for whole maps and partial bands, channel counts that the
 * fused AVX-512 kernel takes (multiples of 16) and ones it declines.
 * Also: a layer never loaded (or freed) is an error, not a silent no-op.
 */
#include "check.h"
#include "core/linear.h"
#include "core/mem.h"
#include "simd/simd.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static tav_isa cur;
static uint64_t rng = 0x853c49e6748fea9bull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) % 2000001) / 1000000.0f - 1.0f;
}

/* the im2col rows the decoder builds (tap-major), pixels p0 .. p0+m-1 */
static void im2col(float *col, const float *in, int Hs, int Ws, int up, int cin, int p0, int m)
{
    int H = Hs << up, W = Ws << up;
    for (int r = 0; r < m; r++)
        for (int t = 0; t < 9; t++) {
            int p = p0 + r, yy = p / W + t / 3 - 1, xx = p % W + t % 3 - 1;
            float *d = col + ((size_t)r * 9 + t) * cin;
            if (yy < 0 || yy >= H || xx < 0 || xx >= W)
                memset(d, 0, (size_t)cin * sizeof(float));
            else
                memcpy(d, in + ((size_t)(yy >> up) * Ws + (xx >> up)) * cin,
                       (size_t)cin * sizeof(float));
        }
}

/* fp32 layers with n_out <= 4 (core/linear.c, conv_few_out): its spec, per
 * output, 16 lane sums over ci mod 16 tap by tap (taps outside the map add
 * nothing: their im2col columns are zero and are skipped here too), the lanes
 * folded in halves, then the bias, then SiLU. 1 if out matches that spec (to
 * the SiLU kernel's tolerance) and is within TAV_TOL_CONV_FEW_REL of the
 * sgemm result ref. */
static int few_out_ok(const float *out, const float *ref, const float *col, const float *w,
                      const float *bias, int m, int n_out, int cin)
{
    const int k = 9 * cin;
    float amax = 0.0f, dmax = 0.0f;
    int same = 1;
    for (int r = 0; r < m; r++)
        for (int q = 0; q < n_out; q++) {
            float acc[16] = {0};
            for (int t = 0; t < 9; t++) {
                const float *x = col + (size_t)r * k + (size_t)t * cin;
                int zero = 1;
                for (int ci = 0; ci < cin; ci++)
                    zero &= x[ci] == 0.0f;
                for (int ci = 0; ci < cin && !zero; ci++)
                    acc[ci % 16] += w[(size_t)q * k + (size_t)t * cin + ci] * x[ci];
            }
            for (int h = 8; h > 0; h /= 2) /* lanes folded in halves */
                for (int j = 0; j < h; j++)
                    acc[j] += acc[j + h];
            float sum = acc[0] + bias[q];
            float y = sum / (1.0f + expf(-sum)), o = out[(size_t)r * n_out + q];
            float e = ref[(size_t)r * n_out + q];
            same &= fabsf(o - y) <= 1e-6f * (1.0f + fabsf(y)); /* SiLU: tav_simd_silu's tolerance */
            amax = fabsf(e) > amax ? fabsf(e) : amax;
            dmax = fabsf(o - e) > dmax ? fabsf(o - e) : dmax;
        }
    if (!same || dmax > TAV_TOL_CONV_FEW_REL * amax)
        fprintf(stderr, "few-output conv: spec %s, max |diff| vs sgemm %g of max %g\n",
                same ? "matches" : "differs", dmax, amax);
    return same && dmax <= TAV_TOL_CONV_FEW_REL * amax;
}

/* One layer (int8 on `cur`, or fp32 when f32), one map, one band: 1 if the
 * bytes match the explicit path. */
static int check_conv(int cin, int n_out, int Hs, int Ws, int up, int p0, int m, int f32,
                      tav_pool *pool)
{
    const int k = 9 * cin, hw = (Hs << up) * (Ws << up);
    if (p0 + m > hw)
        m = hw - p0;
    float *in = tav_malloc_array((size_t)Hs * Ws * cin, sizeof(float));
    float *w = tav_malloc_array((size_t)n_out * k, sizeof(float));
    int8_t *wq = tav_malloc_array((size_t)n_out, (size_t)k);
    float *ws = tav_malloc_array((size_t)n_out, sizeof(float));
    float *bias = tav_malloc_array((size_t)n_out, sizeof(float));
    float *col = tav_malloc_array((size_t)m * k, sizeof(float));
    float *col2 = tav_malloc_array((size_t)m * k, sizeof(float));
    float *ref = tav_malloc_array((size_t)m * n_out, sizeof(float));
    float *out = tav_malloc_array((size_t)m * n_out, sizeof(float));
    for (int i = 0; i < Hs * Ws * cin; i++) /* some all-zero pixels */
        in[i] = (i / cin) % 5 == 2 ? 0.0f : frand() * (float)(1 + (i / cin) % 3);
    for (int i = 0; i < n_out * k; i++) {
        w[i] = frand() * 0.1f;
        wq[i] = (int8_t)(i * 37 % 255 - 127);
    }
    for (int i = 0; i < n_out; i++) {
        ws[i] = 1e-3f * (float)(1 + i % 7);
        bias[i] = frand();
    }
    tav_linear l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "test.conv");
    l.n_out = n_out;
    l.k = k;
    l.tap_major = 1;
    l.bias = bias;
    if (f32)
        l.w = w;
    else
        CHECK_EQ_INT(tav_gemm_pack_weights(wq, ws, bias, n_out, k, cur, &l.pw), TAV_OK);
    size_t sb = tav_linear_scratch_bytes(&l, m);
    tav_linear_scratch s = {sb ? tav_malloc(sb) : NULL, sb};
    im2col(col, in, Hs, Ws, up, cin, p0, m);
    CHECK_EQ_INT(tav_linear_forward(&l, col, m, ref, TAV_ACT_SILU, pool, &s), TAV_OK);
    memset(out, 0xff, (size_t)m * n_out * sizeof(float));
    CHECK_EQ_INT(tav_linear_conv3x3(&l, in, Hs, Ws, up, p0, m, out, TAV_ACT_SILU, col2, pool, &s),
                 TAV_OK);
    int ok = memcmp(out, ref, (size_t)m * n_out * sizeof(float)) == 0;
    if (f32 && n_out <= 4 && cin % 16 == 0) /* the direct few-output path */
        ok = few_out_ok(out, ref, col, w, bias, m, n_out, cin);
    if (!ok)
        fprintf(stderr, "%s cin=%d n=%d %dx%d up=%d p0=%d m=%d f32=%d: bytes differ\n",
                tav_simd_isa_name(cur), cin, n_out, Hs, Ws, up, p0, m, f32);
    tav_free(s.buf);
    tav_gemm_free_weights(l.pw);
    tav_free(in);
    tav_free(w);
    tav_free(wq);
    tav_free(ws);
    tav_free(bias);
    tav_free(col);
    tav_free(col2);
    tav_free(ref);
    tav_free(out);
    return ok;
}

static void test_conv_matches_im2col(void)
{
    if (!tav_simd_isa_supported(cur)) {
        SKIP("this CPU lacks the %s path", tav_simd_isa_name(cur));
        return;
    }
    static const int cins[] = {16, 32, 64, 8, 5};
    int fails = 0;
    for (size_t c = 0; c < sizeof cins / sizeof *cins; c++)
        for (int up = 0; up <= 1; up++) {
            fails += !check_conv(cins[c], 16, 5, 3, up, 0, 1 << 20, 0, NULL); /* whole map */
            fails += !check_conv(cins[c], 33, 4, 7, up, 3, 29, 0, NULL);     /* a partial band */
            fails += !check_conv(cins[c], 3, 6, 6, up, 0, 1 << 20, 1, NULL); /* fp32 layer */
        }
    tav_pool *pool = NULL;
    CHECK_EQ_INT(tav_pool_init(3, &pool), TAV_OK);
    fails += !check_conv(32, 64, 8, 8, 1, 0, 1 << 20, 0, pool);
    tav_pool_free(pool);
    CHECK_EQ_INT(fails, 0);
}

static void no_runs(void *ctx, int r0, int n, const float **ptrs)
{
    (void)ctx;
    for (int i = 0; i < n * 5; i++) /* the calls below use 5 runs per row */
        ptrs[i] = NULL;
}

static void test_conv_errors(void)
{
    tav_linear l;
    memset(&l, 0, sizeof l);
    l.n_out = 1;
    l.k = 9;
    float in[1] = {1}, out[1];
    CHECK_EQ_INT(tav_linear_conv3x3(&l, in, 1, 1, 0, 0, 1, out, TAV_ACT_NONE, NULL, NULL, NULL),
                 TAV_ERR_INTERNAL); /* not a conv layer */
    CHECK_STR_CONTAINS(tav_last_error(), "not a 3x3 convolution");
    l.tap_major = 1;
    CHECK_EQ_INT(tav_linear_conv3x3(&l, in, 1, 1, 0, 0, 0, out, TAV_ACT_NONE, NULL, NULL, NULL),
                 TAV_OK); /* no rows: nothing to do */
    /* segments that do not divide k, or too many of them */
    int8_t wq[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    float s[1] = {1};
    tav_gemm_weights *pw = NULL;
    CHECK_EQ_INT(tav_gemm_pack_weights(wq, s, NULL, 1, 10, TAV_ISA_SCALAR, &pw), TAV_OK);
    CHECK_EQ_INT(tav_gemm_s8_segs(pw, 3, no_runs, NULL, 1, out, TAV_ACT_NONE, NULL, NULL),
                 TAV_ERR_INVALID_ARG); /* 3 does not divide k = 10 */
    CHECK_STR_CONTAINS(tav_last_error(), "do not fit k = 10");
    CHECK_EQ_INT(tav_gemm_s8_segs(pw, 5, NULL, NULL, 1, out, TAV_ACT_NONE, NULL, NULL),
                 TAV_ERR_INVALID_ARG); /* no run function */
    CHECK_EQ_INT(tav_gemm_s8_segs(pw, 5, no_runs, NULL, 1, out, TAV_ACT_NONE, NULL, NULL),
                 TAV_OK); /* all-zero runs: the bias only (none here) */
    CHECK(out[0] == 0.0f);
    tav_gemm_free_weights(pw);
}

/* a layer that was never loaded (zeroed), or has been freed, is an error
 * naming it, not a silent no-op that leaves y unwritten */
static void test_linear_unloaded(void)
{
    tav_linear l;
    memset(&l, 0, sizeof l);
    float x[2 * 9] = {0}, y[2 * 3], col[9 * 16];
    for (int i = 0; i < 2 * 3; i++)
        y[i] = -1.0f;
    CHECK_EQ_INT(tav_linear_forward(&l, x, 2, y, TAV_ACT_NONE, NULL, NULL), TAV_ERR_INTERNAL);
    CHECK_STR_CONTAINS(tav_last_error(), "'(unnamed)' has no weights");
    CHECK(y[0] == -1.0f && y[5] == -1.0f); /* nothing written */
    CHECK_EQ_INT(tav_linear_forward(&l, x, 0, y, TAV_ACT_NONE, NULL, NULL), TAV_OK); /* no rows */
    snprintf(l.name, sizeof l.name, "dit.patch_in");
    l.n_out = 3;
    l.k = 9;
    CHECK_EQ_INT(tav_linear_forward(&l, x, 1, y, TAV_ACT_NONE, NULL, NULL), TAV_ERR_INTERNAL);
    CHECK_STR_CONTAINS(tav_last_error(), "'dit.patch_in' has no weights");
    /* a conv layer with the direct few-output shape used to read l->w = NULL */
    l.k = 9 * 16;
    l.tap_major = 1;
    float in[16] = {0};
    CHECK_EQ_INT(tav_linear_conv3x3(&l, in, 1, 1, 0, 0, 1, y, TAV_ACT_NONE, col, NULL, NULL),
                 TAV_ERR_INTERNAL);
    CHECK_STR_CONTAINS(tav_last_error(), "never loaded");

    /* fp32 and int8 layers run, then are unloaded by tav_linear_free */
    float w[3 * 9];
    int8_t wq[3 * 9];
    float ws[3] = {0.5f, 0.25f, 1.0f};
    for (int i = 0; i < 3 * 9; i++) {
        w[i] = 0.01f * (float)(i + 1);
        wq[i] = (int8_t)(i - 13);
        x[i % 9] = 1.0f;
    }
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "test.fc");
    l.n_out = 3;
    l.k = 9;
    l.w = w;
    CHECK_EQ_INT(tav_linear_forward(&l, x, 1, y, TAV_ACT_NONE, NULL, NULL), TAV_OK);
    CHECK(fabsf(y[0] - 0.45f) < 1e-6f); /* 0.01 * (1 + ... + 9) */
    tav_linear_free(&l);
    CHECK_EQ_INT(tav_linear_forward(&l, x, 1, y, TAV_ACT_NONE, NULL, NULL), TAV_ERR_INTERNAL);
    CHECK_STR_CONTAINS(tav_last_error(), "'test.fc' has no weights");
    CHECK_EQ_INT(tav_gemm_pack_weights(wq, ws, NULL, 3, 9, TAV_ISA_SCALAR, &l.pw), TAV_OK);
    size_t sb = tav_linear_scratch_bytes(&l, 1);
    tav_linear_scratch s = {tav_malloc(sb), sb};
    CHECK(s.buf != NULL);
    CHECK_EQ_INT(tav_linear_forward(&l, x, 1, y, TAV_ACT_NONE, NULL, &s), TAV_OK);
    tav_linear_free(&l);
    CHECK(l.pw == NULL);
    CHECK_EQ_INT(tav_linear_forward(&l, x, 1, y, TAV_ACT_NONE, NULL, &s), TAV_ERR_INTERNAL);
    tav_free(s.buf);
}

int main(void)
{
    for (int i = 0; i < TAV_ISA_COUNT; i++) {
        cur = (tav_isa)i;
        if (!tav_simd_isa_built(cur))
            continue;
        char name[96];
        snprintf(name, sizeof name, "conv_matches_im2col_%s", tav_simd_isa_name(cur));
        check_run(name, test_conv_matches_im2col);
    }
    RUN(test_conv_errors);
    RUN(test_linear_unloaded);
    return check_summary();
}
