/* test_simd_ops.c — every path's fp32 ops and quantiser against the reference,
 * plus the dispatch rules (TAV_ISA, unsupported paths, `info --cpu` text).
 *
 * Row sizes 1, below/at/above each vector width (4/8/16 lanes) and odd;
 * small strided matmuls (attention) at odd m, n, k and leading dimensions;
 * inputs include large magnitudes where exp under/overflows. Errors are
 * judged by simd.h's named tolerances; the largest one seen per op is
 * printed on stderr so a tolerance change can be argued from numbers.
 */
#include "check.h"
#include "core/mem.h"
#include "simd/simd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static tav_isa cur;

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(float lo, float hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 11) % 1000003) / 1000003.0f;
}

static const int sizes[] = {1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1000, 1537};
#define N_SIZES (int)(sizeof sizes / sizeof *sizes)
#define MAXN 1537

/* Compares y with ref under |d| <= abs_tol + rel_tol*|ref|; tracks the worst
 * ratio of error to allowance. Returns 1 if within. */
static double worst;
static int within(const float *y, const float *ref, size_t n, float rel_tol, float abs_tol,
                  const char *what)
{
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(y[i] - ref[i]), allow = abs_tol + rel_tol * fabsf(ref[i]);
        if (d / allow > worst)
            worst = d / allow;
        if (!(d <= allow)) {
            fprintf(stderr, "%s %s n=%zu: [%zu] = %.9g, reference %.9g\n", tav_simd_isa_name(cur),
                    what, n, i, y[i], ref[i]);
            return 0;
        }
    }
    return 1;
}

static int use_cur(void)
{
    if (!tav_simd_isa_supported(cur)) {
        SKIP("this CPU lacks the %s path", tav_simd_isa_name(cur));
        return 0;
    }
    CHECK_EQ_INT(tav_simd_set_isa(cur), TAV_OK);
    worst = 0;
    return 1;
}

static void report(const char *op)
{
    fprintf(stderr, "%s %s: worst error = %.3f of the tolerance\n", tav_simd_isa_name(cur), op,
            worst);
}

/* ---------------------------------------------------------------- cases */

static float xs[3][MAXN * 3], ys[2][MAXN * 3];

static void test_elementwise(void)
{
    if (!use_cur())
        return;
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s];
        for (int i = 0; i < n; i++) {
            xs[0][i] = frand(-10, 10);
            xs[1][i] = frand(-3, 3);
        }
        /* the tails of exp: large magnitudes, zeros */
        static const float special[] = {0.0f, -0.0f, 20.0f, -20.0f, 90.0f, -90.0f, 1e4f, -1e4f,
                                        1e-20f, -1e-20f};
        for (int i = 0; i < n && i < 10; i++)
            xs[0][(i * 7) % n] = special[i];
        tav_simd_gelu(ys[0], xs[0], (size_t)n);
        tav_ref_gelu(ys[1], xs[0], (size_t)n);
        CHECK(within(ys[0], ys[1], (size_t)n, TAV_TOL_GELU_REL, TAV_TOL_GELU_ABS, "gelu"));
        if (s == N_SIZES - 1)
            report("gelu");
        tav_simd_silu(ys[0], xs[0], (size_t)n);
        tav_ref_silu(ys[1], xs[0], (size_t)n);
        CHECK(within(ys[0], ys[1], (size_t)n, TAV_TOL_SILU_REL, TAV_TOL_SILU_ABS, "silu"));
        tav_simd_add(ys[0], xs[0], xs[1], (size_t)n);
        tav_ref_add(ys[1], xs[0], xs[1], (size_t)n);
        CHECK(memcmp(ys[0], ys[1], (size_t)n * sizeof(float)) == 0);
        tav_simd_mul(ys[0], xs[0], xs[1], (size_t)n);
        tav_ref_mul(ys[1], xs[0], xs[1], (size_t)n);
        CHECK(memcmp(ys[0], ys[1], (size_t)n * sizeof(float)) == 0);
        /* in place */
        memcpy(ys[0], xs[0], (size_t)n * sizeof(float));
        tav_simd_add(ys[0], ys[0], xs[1], (size_t)n);
        tav_ref_add(ys[1], xs[0], xs[1], (size_t)n);
        CHECK(memcmp(ys[0], ys[1], (size_t)n * sizeof(float)) == 0);
    }
    report("gelu then silu");
}

static void test_softmax(void)
{
    if (!use_cur())
        return;
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s], rows = 2;
        for (int i = 0; i < rows * n; i++)
            xs[0][i] = frand(-8, 8);
        xs[0][0] = 60.0f; /* one dominant logit: the others underflow */
        tav_simd_softmax(ys[0], xs[0], rows, n);
        tav_ref_softmax(ys[1], xs[0], rows, n);
        CHECK(within(ys[0], ys[1], (size_t)rows * n, TAV_TOL_SOFTMAX_REL, TAV_TOL_SOFTMAX_ABS,
                     "softmax"));
        memcpy(ys[0], xs[0], (size_t)rows * n * sizeof(float));
        tav_simd_softmax(ys[0], ys[0], rows, n); /* in place */
        CHECK(within(ys[0], ys[1], (size_t)rows * n, TAV_TOL_SOFTMAX_REL, TAV_TOL_SOFTMAX_ABS,
                     "softmax in place"));
    }
    report("softmax");
}

/* Small strided products against the reference, judged per element against
 * TAV_TOL_MATMUL_REL * k * sum_p |a_p b_p| (the sum the rounding acts on). */
static int matmul_within(const float *c, const float *ref, int m, int n, int k, int ldc,
                         const float *a, int lda, const float *b, int ldb, int nt, float alpha)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double mag = 0;
            for (int p = 0; p < k; p++)
                mag += fabs((double)a[i * lda + p] * (nt ? b[j * ldb + p] : b[p * ldb + j]));
            double allow = TAV_TOL_MATMUL_REL * k * mag * fabs(alpha) + 1e-30;
            double d = fabs((double)c[i * ldc + j] - ref[i * ldc + j]);
            if (d / allow > worst)
                worst = d / allow;
            if (!(d <= allow)) {
                fprintf(stderr, "%s matmul_%s m=%d n=%d k=%d: [%d,%d] = %.9g, reference %.9g\n",
                        tav_simd_isa_name(cur), nt ? "nt" : "nn", m, n, k, i, j,
                        c[i * ldc + j], ref[i * ldc + j]);
                return 0;
            }
        }
    return 1;
}

static void test_matmul(void)
{
    if (!use_cur())
        return;
    static const int ms[] = {1, 3, 4, 5, 16, 17, 64};
    static const int ks[] = {1, 7, 16, 24, 33, 130};
    static float A[64 * 140], B[140 * 140], c[2][64 * 140];
    int fails = 0;
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
            int m = ms[mi], k = ks[ki], n = ms[(mi + ki) % (sizeof ms / sizeof *ms)] + (int)ki;
            int lda = k + 3, ldb_nt = k + 5, ldb_nn = n + 2, ldc = n + 1;
            for (size_t i = 0; i < sizeof A / sizeof *A; i++)
                A[i] = frand(-2, 2);
            for (size_t i = 0; i < sizeof B / sizeof *B; i++)
                B[i] = frand(-2, 2);
            float alpha = 1.0f / sqrtf((float)k);
            memset(c, 0, sizeof c);
            tav_simd_matmul_nt(m, n, k, alpha, A, lda, B, ldb_nt, c[0], ldc);
            tav_ref_matmul_nt(m, n, k, alpha, A, lda, B, ldb_nt, c[1], ldc);
            fails += !matmul_within(c[0], c[1], m, n, k, ldc, A, lda, B, ldb_nt, 1, alpha);
            for (int i = 0; i < m; i++) /* column n (< ldc) is not written */
                fails += c[0][i * ldc + n] != 0.0f;
            tav_simd_matmul_nn(m, n, k, A, lda, B, ldb_nn, c[0], ldc);
            tav_ref_matmul_nn(m, n, k, A, lda, B, ldb_nn, c[1], ldc);
            fails += !matmul_within(c[0], c[1], m, n, k, ldc, A, lda, B, ldb_nn, 0, 1.0f);
            for (int i = 0; i < m; i++)
                fails += c[0][i * ldc + n] != 0.0f;
        }
    CHECK_EQ_INT(fails, 0);
    report("matmul");
}

static void test_norms(void)
{
    if (!use_cur())
        return;
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s], rows = 2;
        for (int i = 0; i < rows * n; i++)
            xs[0][i] = frand(-4, 4) + 3.0f; /* a non-zero mean */
        for (int i = 0; i < n; i++) {
            xs[1][i] = frand(0.5f, 1.5f);
            xs[2][i] = frand(-1, 1);
        }
        tav_simd_layernorm(ys[0], xs[0], rows, n, xs[1], xs[2], 1e-5f);
        tav_ref_layernorm(ys[1], xs[0], rows, n, xs[1], xs[2], 1e-5f);
        CHECK(within(ys[0], ys[1], (size_t)rows * n, TAV_TOL_NORM_REL, TAV_TOL_NORM_ABS,
                     "layernorm"));
        tav_simd_layernorm(ys[0], xs[0], rows, n, NULL, NULL, 1e-6f);
        tav_ref_layernorm(ys[1], xs[0], rows, n, NULL, NULL, 1e-6f);
        CHECK(within(ys[0], ys[1], (size_t)rows * n, TAV_TOL_NORM_REL, TAV_TOL_NORM_ABS,
                     "layernorm (no affine)"));
        tav_simd_rmsnorm(ys[0], xs[0], rows, n, xs[1], 1e-6f);
        tav_ref_rmsnorm(ys[1], xs[0], rows, n, xs[1], 1e-6f);
        CHECK(within(ys[0], ys[1], (size_t)rows * n, TAV_TOL_NORM_REL, TAV_TOL_NORM_ABS,
                     "rmsnorm"));
        tav_simd_rmsnorm(ys[0], xs[0], rows, n, NULL, 1e-6f);
        tav_ref_rmsnorm(ys[1], xs[0], rows, n, NULL, 1e-6f);
        CHECK(within(ys[0], ys[1], (size_t)rows * n, TAV_TOL_NORM_REL, TAV_TOL_NORM_ABS,
                     "rmsnorm (no gain)"));
    }
    report("norms");
}

/* The quantiser is exact: the same bytes and scales as the reference. */
static void test_quant_rows(void)
{
    if (!use_cur())
        return;
    static int8_t q[2][MAXN * 3];
    float sc[2][3];
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s], rows = 3;
        for (int i = 0; i < rows * n; i++)
            xs[0][i] = frand(-5, 5);
        for (int i = 0; i < n; i++)
            xs[0][2 * n + i] = 0.0f; /* an all-zero row */
        if (n >= 4) { /* exact halves: round half to even */
            xs[0][0] = 5.0f;
            xs[0][1] = 0.5f * 5.0f / 127.0f * 3.0f;
            xs[0][2] = -5.0f * 2.5f / 127.0f;
        }
        tav_simd_quant_rows(q[0], sc[0], xs[0], rows, n);
        tav_ref_quant_rows(q[1], sc[1], xs[0], rows, n);
        CHECK(memcmp(q[0], q[1], (size_t)rows * n) == 0);
        CHECK(memcmp(sc[0], sc[1], sizeof sc[0]) == 0);
        CHECK(sc[0][2] == 0.0f);
    }
    /* A row too small for 127/max to be finite quantises as a zero row. */
    float tiny[4] = {1e-38f, 0.0f, -5e-39f, 0.0f};
    tav_simd_quant_rows(q[0], sc[0], tiny, 1, 4);
    tav_ref_quant_rows(q[1], sc[1], tiny, 1, 4);
    for (int i = 0; i < 4; i++)
        CHECK(q[0][i] == 0 && q[1][i] == 0);
    CHECK(sc[0][0] == 0.0f && sc[1][0] == 0.0f);
}

/* The register-only peak loops `tav bench` uses run and count their ops:
 * 2 ops per MAC, MACs per iteration fixed by each loop. */
static void test_peak_loops(void)
{
    if (!tav_simd_isa_supported(cur)) {
        SKIP("this CPU lacks the %s path", tav_simd_isa_name(cur));
        return;
    }
    static const struct { tav_isa isa; int variant; double ops_per_iter; } loops[] = {
        {TAV_ISA_AVX2, 0, 8 * 32 * 2}, {TAV_ISA_AVX2, 1, 8 * 16 * 2},
        {TAV_ISA_AVX512VNNI, 0, 16 * 64 * 2}, {TAV_ISA_NEON, 0, 4 * 16 * 2},
        {TAV_ISA_NEONDOT, 0, 8 * 16 * 2},
    };
    int found = 0;
    for (size_t i = 0; i < sizeof loops / sizeof *loops; i++)
        if (loops[i].isa == cur) {
            CHECK(tav_simd_peak_loop(cur, loops[i].variant, 1000) == 1000 * loops[i].ops_per_iter);
            found = 1;
        }
    CHECK(tav_simd_peak_loop(cur, 7, 1000) == 0.0); /* no such variant */
    if (cur == TAV_ISA_SCALAR)
        CHECK(tav_simd_peak_loop(cur, 0, 1000) == 0.0);
    else
        CHECK(found);
}

/* ---------------------------------------------------------------- dispatch */

/* Runs tav_simd_init() in a child with TAV_ISA=value (unset if NULL); returns its status
 * (or 100 + the path chosen when it succeeds). */
static int init_with_env(const char *value)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (value)
            setenv("TAV_ISA", value, 1);
        else
            unsetenv("TAV_ISA");
        tav_status st = tav_simd_init();
        _exit(st == TAV_OK ? 100 + (int)tav_simd_isa() : -st);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static void test_dispatch(void)
{
    /* no TAV_ISA: the best path this CPU has */
    tav_isa best = TAV_ISA_SCALAR;
    static const tav_isa order[] = {TAV_ISA_NEON, TAV_ISA_NEONDOT, TAV_ISA_AVX2,
                                    TAV_ISA_AVX512VNNI};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (tav_simd_isa_supported(order[i]))
            best = order[i];
    CHECK_EQ_INT(init_with_env(NULL), 100 + best);
    CHECK_EQ_INT(init_with_env("scalar"), 100 + TAV_ISA_SCALAR);
    CHECK_EQ_INT(init_with_env("bogus"), -TAV_ERR_INVALID_ARG);
    for (int i = 0; i < TAV_ISA_COUNT; i++) {
        int got = init_with_env(tav_simd_isa_name((tav_isa)i));
        CHECK_EQ_INT(got, tav_simd_isa_supported((tav_isa)i) ? 100 + i : -TAV_ERR_UNSUPPORTED);
    }
    tav_isa isa;
    CHECK_EQ_INT(tav_simd_parse_isa("avx512vnni", &isa), TAV_OK);
    CHECK_EQ_INT(isa, TAV_ISA_AVX512VNNI);
    CHECK_EQ_INT(tav_simd_parse_isa("AVX2", &isa), TAV_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(tav_last_error(), "unknown kernel path");
    for (int i = 0; i < TAV_ISA_COUNT; i++)
        if (!tav_simd_isa_supported((tav_isa)i)) {
            CHECK_EQ_INT(tav_simd_set_isa((tav_isa)i), TAV_ERR_UNSUPPORTED);
            CHECK_STR_CONTAINS(tav_last_error(), tav_simd_isa_name((tav_isa)i));
        }
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    CHECK(f != NULL);
    if (f) {
        tav_simd_print_cpu(f);
        fclose(f);
    }
    CHECK_STR_CONTAINS(buf, "cpu features:");
    CHECK_STR_CONTAINS(buf, "kernel path in use: ");
#if defined(__aarch64__)
    /* under qemu -cpu cortex-a53 there is no dotprod; -cpu max has it */
    CHECK(tav_simd_isa_supported(TAV_ISA_NEON));
#endif
}

int main(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } per_isa[] = {
        {"ops_elementwise", test_elementwise},
        {"ops_softmax", test_softmax},
        {"ops_matmul", test_matmul},
        {"ops_norms", test_norms},
        {"ops_quant_rows", test_quant_rows},
        {"peak_loop", test_peak_loops},
    };
    RUN(test_dispatch); /* first: its children must start uninitialised */
    for (int i = 0; i < TAV_ISA_COUNT; i++) {
        cur = (tav_isa)i;
        if (!tav_simd_isa_built(cur))
            continue;
        for (size_t c = 0; c < sizeof per_isa / sizeof *per_isa; c++) {
            char name[96];
            snprintf(name, sizeof name, "%s_%s", per_isa[c].name, tav_simd_isa_name(cur));
            check_run(name, per_isa[c].fn);
        }
    }
    return check_summary();
}
