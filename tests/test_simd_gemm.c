/* test_simd_gemm.c — every int8 GEMM path against the scalar reference.
 *
 * Exact int32 equality (and exact fp32 bytes without a fused activation) at
 * sizes 1, below/at/above each path's micro-tile, odd sizes, k not a
 * multiple of the vector width or of the depth block, the int8 extremes;
 * fused GELU/SiLU within the named tolerances; identical output bytes for
 * 1, 2, 3 and 7 threads; fp32 input (quantise + pack fused) against
 * tav_ref_quant_rows + the reference GEMM. A path this CPU lacks prints SKIP.
 */
#include "check.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "simd/simd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static tav_isa cur; /* the path the running case tests */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void fill_s8(int8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (int8_t)(rnd() & 0xff); /* the full range -128..127 */
}

static void fill_scales(float *p, int n, float lo, float hi)
{
    for (int i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * (float)(rnd() % 10000) / 10000.0f;
}

/* Packs, runs (acc and fp32), compares with the reference; 1 if all equal. */
static int check_shape(int m, int n, int k, const int8_t *a, const int8_t *w, tav_act act,
                       tav_pool *pool)
{
    int ok = 1;
    float *ascale = tav_malloc_array((size_t)m, sizeof(float));
    float *wscale = tav_malloc_array((size_t)n, sizeof(float));
    float *bias = tav_malloc_array((size_t)n, sizeof(float));
    int32_t *acc = tav_malloc_array((size_t)m * n, sizeof(int32_t));
    int32_t *acc_ref = tav_malloc_array((size_t)m * n, sizeof(int32_t));
    float *out = tav_malloc_array((size_t)m * n, sizeof(float));
    float *out_ref = tav_malloc_array((size_t)m * n, sizeof(float));
    CHECK(ascale && wscale && bias && acc && acc_ref && out && out_ref);
    fill_scales(ascale, m, 1e-3f, 2e-2f);
    fill_scales(wscale, n, 1e-3f, 2e-2f);
    fill_scales(bias, n, -1.0f, 1.0f);

    tav_gemm_weights *pw = NULL;
    CHECK_EQ_INT(tav_gemm_pack_weights(w, wscale, bias, n, k, cur, &pw), TAV_OK);
    if (!pw)
        return 0;
    CHECK_EQ_INT(tav_gemm_s8_acc(pw, a, m, acc, pool, NULL), TAV_OK);
    tav_ref_gemm_s8_acc(a, w, m, n, k, acc_ref);
    for (size_t i = 0; i < (size_t)m * n && ok; i++)
        if (acc[i] != acc_ref[i]) {
            fprintf(stderr, "%s m=%d n=%d k=%d: acc[%zu] = %d, reference %d\n",
                    tav_simd_isa_name(cur), m, n, k, i, acc[i], acc_ref[i]);
            ok = 0;
        }

    size_t wsz = tav_gemm_workspace_size(pw, m);
    void *ws = tav_malloc(wsz);
    CHECK(ws != NULL);
    CHECK_EQ_INT(tav_gemm_s8(pw, a, ascale, m, out, act, pool, ws), TAV_OK);
    tav_ref_gemm_s8(a, ascale, w, wscale, bias, m, n, k, act, out_ref);
    for (size_t i = 0; i < (size_t)m * n && ok; i++) {
        float d = fabsf(out[i] - out_ref[i]), r = fabsf(out_ref[i]);
        int good = act == TAV_ACT_NONE ? out[i] == out_ref[i]
                   : act == TAV_ACT_GELU ? d <= TAV_TOL_GELU_ABS + TAV_TOL_GELU_REL * r
                                         : d <= TAV_TOL_SILU_ABS + TAV_TOL_SILU_REL * r;
        if (!good) {
            fprintf(stderr, "%s m=%d n=%d k=%d act=%d: out[%zu] = %.9g, reference %.9g\n",
                    tav_simd_isa_name(cur), m, n, k, (int)act, i, out[i], out_ref[i]);
            ok = 0;
        }
    }
    tav_free(ws);
    tav_gemm_free_weights(pw);
    tav_free(ascale);
    tav_free(wscale);
    tav_free(bias);
    tav_free(acc);
    tav_free(acc_ref);
    tav_free(out);
    tav_free(out_ref);
    return ok;
}

static int check_random(int m, int n, int k, tav_act act, tav_pool *pool)
{
    int8_t *a = tav_malloc_array((size_t)m, (size_t)k);
    int8_t *w = tav_malloc_array((size_t)n, (size_t)k);
    fill_s8(a, (size_t)m * k);
    fill_s8(w, (size_t)n * k);
    int ok = check_shape(m, n, k, a, w, act, pool);
    tav_free(a);
    tav_free(w);
    return ok;
}

static int skip_if_unsupported(void)
{
    if (tav_simd_isa_supported(cur))
        return 0;
    SKIP("this CPU lacks the %s path", tav_simd_isa_name(cur));
    return 1;
}

/* ---------------------------------------------------------------- cases */

/* Sizes around every path's micro-tiles (mr in {4,6,8,12}, nr in {8,16,32},
 * vector widths 16/32/64 bytes) and the depth blocks (512, 768). */
static void test_gemm_shapes(void)
{
    if (skip_if_unsupported())
        return;
    static const int ms[] = {1, 3, 4, 5, 6, 7, 8, 11, 12, 13, 25, 49};
    static const int ns[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 129};
    static const int ks[] = {1, 2, 3, 4, 5, 15, 16, 17, 31, 33, 63, 64, 65, 127, 130};
    int fails = 0;
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
        for (size_t j = 0; j < sizeof ns / sizeof *ns; j++) {
            int k = ks[(i * 5 + j * 3) % (sizeof ks / sizeof *ks)];
            fails += !check_random(ms[i], ns[j], k, TAV_ACT_NONE, NULL);
        }
    for (size_t t = 0; t < sizeof ks / sizeof *ks; t++)
        fails += !check_random(13, 33, ks[t], TAV_ACT_NONE, NULL);
    CHECK_EQ_INT(fails, 0);
}

static void test_gemm_deep_and_tiled(void)
{
    if (skip_if_unsupported())
        return;
    /* k beyond every depth block, several output tiles, odd edges */
    CHECK(check_random(37, 45, 1100, TAV_ACT_NONE, NULL));
    CHECK(check_random(101, 263, 71, TAV_ACT_NONE, NULL));
    CHECK(check_random(2, 300, 1537, TAV_ACT_NONE, NULL));
}

/* -128/127 everywhere: the products vpmaddubsw would saturate and the
 * largest sums the VNNI zero-point correction must survive. */
static void test_gemm_extremes(void)
{
    if (skip_if_unsupported())
        return;
    const int m = 13, n = 35, k = 2051;
    int8_t *a = tav_malloc_array((size_t)m, (size_t)k);
    int8_t *w = tav_malloc_array((size_t)n, (size_t)k);
    static const int8_t pat_a[] = {-128, 127, -128, -128, 127, 127, 0, -1};
    static const int8_t pat_w[] = {-128, -128, 127, -128, 127, -127, 1, 127};
    int pats = sizeof pat_a / sizeof *pat_a;
    for (int i = 0; i < m; i++)
        for (int p = 0; p < k; p++)
            a[(size_t)i * k + p] = i < pats ? pat_a[i] : (p & 1 ? 127 : -128);
    for (int j = 0; j < n; j++)
        for (int p = 0; p < k; p++)
            w[(size_t)j * k + p] = j < pats ? pat_w[j] : ((p + j) % 3 ? -128 : 127);
    CHECK(check_shape(m, n, k, a, w, TAV_ACT_NONE, NULL));
    tav_free(a);
    tav_free(w);
}

static void test_gemm_fused_activations(void)
{
    if (skip_if_unsupported())
        return;
    CHECK(check_random(9, 40, 77, TAV_ACT_GELU, NULL));
    CHECK(check_random(9, 40, 77, TAV_ACT_SILU, NULL));
    CHECK(check_random(50, 70, 300, TAV_ACT_GELU, NULL));
}

/* The same bytes for 1, 2, 3 and 7 threads (and for no pool). */
static void test_gemm_thread_invariance(void)
{
    if (skip_if_unsupported())
        return;
    const int m = 150, n = 290, k = 900;
    int8_t *a = tav_malloc_array((size_t)m, (size_t)k);
    int8_t *w = tav_malloc_array((size_t)n, (size_t)k);
    float *ascale = tav_malloc_array((size_t)m, sizeof(float));
    float *wscale = tav_malloc_array((size_t)n, sizeof(float));
    float *first = tav_malloc_array((size_t)m * n, sizeof(float));
    float *out = tav_malloc_array((size_t)m * n, sizeof(float));
    fill_s8(a, (size_t)m * k);
    fill_s8(w, (size_t)n * k);
    fill_scales(ascale, m, 1e-3f, 1e-2f);
    fill_scales(wscale, n, 1e-3f, 1e-2f);
    tav_gemm_weights *pw = NULL;
    CHECK_EQ_INT(tav_gemm_pack_weights(w, wscale, NULL, n, k, cur, &pw), TAV_OK);
    CHECK_EQ_INT(tav_gemm_s8(pw, a, ascale, m, first, TAV_ACT_GELU, NULL, NULL), TAV_OK);
    static const int threads[] = {1, 2, 3, 7};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        tav_pool *pool = NULL;
        CHECK_EQ_INT(tav_pool_init(threads[t], &pool), TAV_OK);
        for (int rep = 0; rep < 2; rep++) {
            memset(out, 0xff, (size_t)m * n * sizeof(float));
            CHECK_EQ_INT(tav_gemm_s8(pw, a, ascale, m, out, TAV_ACT_GELU, pool, NULL), TAV_OK);
            if (memcmp(out, first, (size_t)m * n * sizeof(float)) != 0) {
                fprintf(stderr, "%s: %d threads changed the output bytes\n",
                        tav_simd_isa_name(cur), threads[t]);
                CHECK(0);
            }
        }
        tav_pool_free(pool);
    }
    tav_gemm_free_weights(pw);
    tav_free(a);
    tav_free(w);
    tav_free(ascale);
    tav_free(wscale);
    tav_free(first);
    tav_free(out);
}

/* tav_gemm_s8_f32 (quantise + pack fused where the path has it) gives the
 * bytes of tav_ref_quant_rows + tav_ref_gemm_s8, for rows of mixed
 * magnitude, all-zero and below-TAV_QUANT_MIN_AMAX rows, and ties at .5. */
static int check_f32_shape(int m, int n, int k, tav_act act, tav_pool *pool)
{
    float *x = tav_malloc_array((size_t)m * k, sizeof(float));
    int8_t *w = tav_malloc_array((size_t)n, (size_t)k), *q = tav_malloc_array((size_t)m, (size_t)k);
    float *xs = tav_malloc_array((size_t)m, sizeof(float));
    float *wscale = tav_malloc_array((size_t)n, sizeof(float));
    float *bias = tav_malloc_array((size_t)n, sizeof(float));
    float *out = tav_malloc_array((size_t)m * n, sizeof(float));
    float *ref = tav_malloc_array((size_t)m * n, sizeof(float));
    CHECK(x && w && q && xs && wscale && bias && out && ref);
    for (int r = 0; r < m; r++) {
        float mag = r % 7 == 3 ? 0.0f : r % 7 == 5 ? 1e-38f : (float)(1 + r % 5) * 0.37f;
        for (int i = 0; i < k; i++) {
            float v = ((float)(rnd() % 2001) - 1000.0f) / 1000.0f * mag;
            x[(size_t)r * k + i] = i % 11 == 4 ? mag * 63.5f / 127.0f : v; /* a .5 tie */
        }
    }
    fill_s8(w, (size_t)n * k);
    fill_scales(wscale, n, 1e-3f, 2e-2f);
    fill_scales(bias, n, -1.0f, 1.0f);
    tav_ref_quant_rows(q, xs, x, m, k);
    tav_ref_gemm_s8(q, xs, w, wscale, bias, m, n, k, act, ref);
    tav_gemm_weights *pw = NULL;
    CHECK_EQ_INT(tav_gemm_pack_weights(w, wscale, bias, n, k, cur, &pw), TAV_OK);
    int ok = pw != NULL;
    void *ws = pw ? tav_malloc(tav_gemm_workspace_size_f32(pw, m)) : NULL;
    CHECK(ws != NULL);
    if (pw)
        CHECK_EQ_INT(tav_gemm_s8_f32(pw, x, m, out, act, pool, ws), TAV_OK);
    for (size_t i = 0; i < (size_t)m * n && ok; i++) {
        float d = fabsf(out[i] - ref[i]), r = fabsf(ref[i]);
        int good = act == TAV_ACT_NONE ? out[i] == ref[i]
                                       : d <= TAV_TOL_SILU_ABS + TAV_TOL_SILU_REL * r;
        if (!good) {
            fprintf(stderr, "%s f32 m=%d n=%d k=%d: out[%zu] = %.9g, reference %.9g\n",
                    tav_simd_isa_name(cur), m, n, k, i, out[i], ref[i]);
            ok = 0;
        }
    }
    tav_free(ws);
    tav_gemm_free_weights(pw);
    tav_free(x);
    tav_free(w);
    tav_free(q);
    tav_free(xs);
    tav_free(wscale);
    tav_free(bias);
    tav_free(out);
    tav_free(ref);
    return ok;
}

static void test_gemm_f32_input(void)
{
    if (skip_if_unsupported())
        return;
    static const int ms[] = {1, 3, 4, 5, 7, 8, 11, 12, 13, 16, 25, 49};
    static const int ks[] = {1, 2, 3, 4, 5, 15, 16, 17, 31, 33, 63, 64, 65, 130, 576};
    int fails = 0;
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
        for (size_t t = 0; t < sizeof ks / sizeof *ks; t++)
            fails += !check_f32_shape(ms[i], 1 + (int)(i * 7 + t * 5) % 40, ks[t], TAV_ACT_NONE,
                                      NULL);
    fails += !check_f32_shape(101, 70, 300, TAV_ACT_SILU, NULL);
    tav_pool *pool = NULL;
    CHECK_EQ_INT(tav_pool_init(3, &pool), TAV_OK);
    fails += !check_f32_shape(150, 33, 577, TAV_ACT_NONE, pool);
    tav_pool_free(pool);
    CHECK_EQ_INT(fails, 0);
}

static void test_gemm_errors(void)
{
    int8_t w[4] = {1, 2, 3, 4};
    float s[4] = {1, 1, 1, 1};
    tav_gemm_weights *pw = (tav_gemm_weights *)&pw;
    CHECK_EQ_INT(tav_gemm_pack_weights(w, s, NULL, 0, 4, TAV_ISA_SCALAR, &pw), TAV_ERR_INVALID_ARG);
    CHECK(pw == NULL);
    CHECK_EQ_INT(tav_gemm_pack_weights(w, s, NULL, 1, TAV_GEMM_MAX_K + 1, TAV_ISA_SCALAR, &pw),
                 TAV_ERR_INVALID_ARG);
    for (int i = 0; i < TAV_ISA_COUNT; i++)
        if (!tav_simd_isa_supported((tav_isa)i)) {
            CHECK_EQ_INT(tav_gemm_pack_weights(w, s, NULL, 1, 4, (tav_isa)i, &pw),
                         TAV_ERR_UNSUPPORTED);
            CHECK_STR_CONTAINS(tav_last_error(), tav_simd_isa_name((tav_isa)i));
        }
    /* every allocation of pack and run may fail cleanly (ASan sees leaks) */
    for (long nth = 1; nth <= 5; nth++) {
        tav_fault_alloc_fail_at(nth);
        tav_status st = tav_gemm_pack_weights(w, s, s, 1, 4, TAV_ISA_SCALAR, &pw);
        tav_fault_alloc_fail_at(0);
        CHECK(st == TAV_OK || st == TAV_ERR_NOMEM);
        if (st == TAV_OK) {
            int8_t a[4] = {1, 1, 1, 1};
            float out[1];
            tav_fault_alloc_fail_at(1);
            CHECK_EQ_INT(tav_gemm_s8(pw, a, s, 1, out, TAV_ACT_NONE, NULL, NULL), TAV_ERR_NOMEM);
            tav_fault_alloc_fail_at(0);
            CHECK_EQ_INT(tav_gemm_s8(pw, a, s, 1, out, TAV_ACT_NONE, NULL, NULL), TAV_OK);
            CHECK(out[0] == 10.0f + 1.0f);
            tav_gemm_free_weights(pw);
        }
    }
    CHECK_EQ_INT(tav_gemm_s8(NULL, NULL, NULL, 1, NULL, TAV_ACT_NONE, NULL, NULL),
                 TAV_ERR_INVALID_ARG);
}

static void test_pool_tiles(void);
static void test_pool_many_tiles(void);

int main(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } per_isa[] = {
        {"gemm_shapes", test_gemm_shapes},
        {"gemm_deep_and_tiled", test_gemm_deep_and_tiled},
        {"gemm_extremes", test_gemm_extremes},
        {"gemm_fused_activations", test_gemm_fused_activations},
        {"gemm_thread_invariance", test_gemm_thread_invariance},
        {"gemm_f32_input", test_gemm_f32_input},
    };
    for (int i = 0; i < TAV_ISA_COUNT; i++) {
        cur = (tav_isa)i;
        if (!tav_simd_isa_built(cur))
            continue; /* another architecture's path: not in this binary */
        for (size_t c = 0; c < sizeof per_isa / sizeof *per_isa; c++) {
            char name[96];
            snprintf(name, sizeof name, "%s_%s", per_isa[c].name, tav_simd_isa_name(cur));
            check_run(name, per_isa[c].fn);
        }
    }
    RUN(test_gemm_errors);
    RUN(test_pool_tiles);
    RUN(test_pool_many_tiles);
    return check_summary();
}

/* ---------------------------------------------------------------- pool */

typedef struct {
    int hits[1000];
    int bad_worker;
    int size;
} pool_ctx;

static void count_tile(void *ctx, int tile, int worker)
{
    pool_ctx *c = ctx;
    __atomic_fetch_add(&c->hits[tile], 1, __ATOMIC_RELAXED);
    if (worker < 0 || worker >= c->size)
        __atomic_store_n(&c->bad_worker, 1, __ATOMIC_RELAXED);
}

static void sleep_tile(void *ctx, int tile, int worker)
{
    struct timespec d = {0, 100 * 1000 * 1000};
    nanosleep(&d, NULL);
}

static tav_pool *nested_pool;
static int nested_hits;
static void inner_tile(void *ctx, int tile, int worker)
{
    __atomic_fetch_add(&nested_hits, 1, __ATOMIC_RELAXED);
}
static void nested_tile(void *ctx, int tile, int worker)
{
    count_tile(ctx, tile, worker);
    tav_pool_run_tiles(nested_pool, 7, inner_tile, NULL);
}

/* Every tile exactly once, for several pool sizes and repeated jobs. */
static void test_pool_tiles(void)
{
    static const int sizes[] = {1, 2, 3, 7};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        tav_pool *pool = NULL;
        CHECK_EQ_INT(tav_pool_init(sizes[s], &pool), TAV_OK);
        CHECK_EQ_INT(tav_pool_size(pool), sizes[s]);
        for (int rep = 0; rep < 20; rep++) {
            static pool_ctx c;
            memset(&c, 0, sizeof c);
            c.size = sizes[s];
            int n = 1 + rep * 49;
            tav_pool_run_tiles(pool, n, count_tile, &c);
            for (int t = 0; t < 1000; t++)
                CHECK_EQ_INT(c.hits[t], t < n ? 1 : 0);
            CHECK_EQ_INT(c.bad_worker, 0);
        }
        tav_pool_free(pool);
    }
    tav_pool *pool = NULL;
    CHECK_EQ_INT(tav_pool_init(0, &pool), TAV_ERR_INVALID_ARG);
    CHECK(pool == NULL);
    /* the workers really run at the same time: 4 tiles that each sleep
     * 100 ms take ~100 ms on a 4-thread pool, not 400 (sleep needs no CPU,
     * so this holds on a loaded machine) */
    CHECK_EQ_INT(tav_pool_init(4, &pool), TAV_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tav_pool_run_tiles(pool, 4, sleep_tile, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK(dt >= 0.099 && dt < 0.3);
    tav_pool_free(pool);
    pool = NULL;
    /* a tile function may start nested parallel work: it runs serially */
    CHECK_EQ_INT(tav_pool_init(3, &pool), TAV_OK);
    static pool_ctx outer;
    memset(&outer, 0, sizeof outer);
    outer.size = 3;
    nested_pool = pool;
    tav_pool_run_tiles(pool, 5, nested_tile, &outer);
    for (int t = 0; t < 5; t++)
        CHECK_EQ_INT(outer.hits[t], 1);
    CHECK_EQ_INT(outer.hits[5], 0);
    CHECK_EQ_INT(nested_hits, 5 * 7);
    tav_pool_free(pool);
    pool = NULL;
    CHECK(pool == NULL);
    CHECK_EQ_INT(tav_pool_size(NULL), 1);
}

/* More tiles than one job's claim counter holds (2^20 - 1: the pool runs
 * them as several jobs), and many short jobs in a row (workers polling
 * between jobs, caller from the front, workers from the back): every tile
 * exactly once. */
typedef struct {
    unsigned char *hits;
    int size, bad_worker;
} many_ctx;

static void many_tile(void *ctx, int tile, int worker)
{
    many_ctx *c = ctx;
    __atomic_fetch_add(&c->hits[tile], 1, __ATOMIC_RELAXED);
    if (worker < 0 || worker >= c->size)
        __atomic_store_n(&c->bad_worker, 1, __ATOMIC_RELAXED);
}

static void test_pool_many_tiles(void)
{
    const int n = (1 << 20) + 1000;
    many_ctx c = {.hits = tav_calloc((size_t)n, 1), .size = 2};
    CHECK(c.hits != NULL);
    tav_pool *pool = NULL;
    CHECK_EQ_INT(tav_pool_init(2, &pool), TAV_OK);
    tav_pool_run_tiles(pool, n, many_tile, &c);
    int wrong = 0;
    for (int t = 0; t < n; t++)
        wrong += c.hits[t] != 1;
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(c.bad_worker, 0);
    for (int rep = 0; rep < 2000; rep++) { /* back-to-back small jobs */
        int m = 2 + rep % 9;
        memset(c.hits, 0, (size_t)m);
        tav_pool_run_tiles(pool, m, many_tile, &c);
        for (int t = 0; t < m; t++)
            wrong += c.hits[t] != 1;
    }
    CHECK_EQ_INT(wrong, 0);
    tav_pool_free(pool);
    tav_free(c.hits);
}
