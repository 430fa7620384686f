/* gemm.c — the int8 GEMM driver: packing, cache blocking, tiles, epilogue.
 *
 *   out [m x n] = act((acc - comp[n]) * (wscale[n] * ascale[m]) + bias[n])
 *
 * Weights are packed once into panels of nr channels ([kp/ku][nr][ku]);
 * activations are re-packed per call into panels of mr rows ([kp/ku][mr][ku],
 * in the path's element format). The output is cut into tiles of mc x nc
 * that pool threads take dynamically; inside a tile the depth is walked in
 * chunks of kc so that one W micro-panel (nr x kc) stays in L1 while the
 * tile's A block (mc x kc) stays in L2. Integer accumulation is exact, so
 * the result does not depend on blocking or on which thread ran a tile.
 */
#include "simd/kern.h"

#include "core/mem.h"

#include <string.h>

struct tav_gemm_weights {
    const tav_kern *kern;
    int n, k;      /* logical shape */
    int np, kp;    /* padded to nr and ku */
    int8_t *w;     /* np/nr panels of [kp/ku][nr][ku], 64-byte aligned */
    float *wscale; /* [n] */
    float *bias;   /* [n] or NULL */
    int32_t *comp; /* [np] zero-point compensation (TAV_AFMT_U8) or NULL */
    void *raw;     /* the one allocation behind w */
};

/* Largest tile (int32 accumulators on the tile function's stack). */
#define TILE_MAX_ELEMS (64 * 256)

static int round_up(int x, int to) { return (x + to - 1) / to * to; }

static int afmt_bytes(tav_afmt f) { return f == TAV_AFMT_S16 ? 2 : 1; }

static void *align64(void *p) { return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

/* ---------------------------------------------------------------- weights */

tav_status tav_gemm_pack_weights(const int8_t *w, const float *wscale, const float *bias,
                                 int n_out, int k, tav_isa isa, tav_gemm_weights **out)
{
    *out = NULL;
    if (!w || !wscale || n_out < 1 || k < 1 || k > TAV_GEMM_MAX_K)
        return tav_fail(TAV_ERR_INVALID_ARG, "gemm weights: bad shape %d x %d (k must be 1..%d)",
                        n_out, k, TAV_GEMM_MAX_K);
    if (!tav_simd_isa_supported(isa))
        return tav_fail(TAV_ERR_UNSUPPORTED, "gemm weights: kernel path '%s' is not available here",
                        tav_simd_isa_name(isa));
    const tav_kern *kk = tav_kern_get(isa);
    tav_gemm_weights *pw = tav_calloc(1, sizeof *pw);
    if (!pw)
        return tav_fail(TAV_ERR_NOMEM, "no memory for packed weights");
    pw->kern = kk;
    pw->n = n_out;
    pw->k = k;
    pw->np = round_up(n_out, kk->nr);
    pw->kp = round_up(k, kk->ku);
    size_t wbytes = (size_t)pw->np * (size_t)pw->kp;
    pw->raw = tav_malloc(wbytes + 64);
    pw->wscale = tav_malloc_array((size_t)n_out, sizeof(float));
    pw->bias = bias ? tav_malloc_array((size_t)n_out, sizeof(float)) : NULL;
    pw->comp = kk->afmt == TAV_AFMT_U8 ? tav_calloc((size_t)pw->np, sizeof(int32_t)) : NULL;
    if (!pw->raw || !pw->wscale || (bias && !pw->bias) || (kk->afmt == TAV_AFMT_U8 && !pw->comp)) {
        tav_gemm_free_weights(pw);
        return tav_fail(TAV_ERR_NOMEM, "no memory for packed weights (%zu bytes)", wbytes);
    }
    pw->w = align64(pw->raw);
    memset(pw->w, 0, wbytes);
    memcpy(pw->wscale, wscale, (size_t)n_out * sizeof(float));
    if (bias)
        memcpy(pw->bias, bias, (size_t)n_out * sizeof(float));

    /* panel p, k-group g, channel j, lane u  <-  w[p*nr + j][g*ku + u] */
    const int nr = kk->nr, ku = kk->ku;
    for (int c = 0; c < n_out; c++) {
        int8_t *panel = pw->w + (size_t)(c / nr) * pw->kp * nr;
        int j = c % nr;
        int32_t sum = 0;
        for (int p = 0; p < k; p++) {
            int8_t v = w[(size_t)c * k + p];
            panel[((size_t)(p / ku) * nr + j) * ku + p % ku] = v;
            sum += v;
        }
        if (pw->comp)
            pw->comp[c] = 128 * sum; /* |sum| <= 128 * TAV_GEMM_MAX_K: fits */
    }
    *out = pw;
    return TAV_OK;
}

void tav_gemm_free_weights(tav_gemm_weights *pw)
{
    if (!pw)
        return;
    tav_free(pw->raw);
    tav_free(pw->wscale);
    tav_free(pw->bias);
    tav_free(pw->comp);
    tav_free(pw);
}

int tav_gemm_weights_n(const tav_gemm_weights *pw) { return pw->n; }
int tav_gemm_weights_k(const tav_gemm_weights *pw) { return pw->k; }
tav_isa tav_gemm_weights_isa(const tav_gemm_weights *pw) { return pw->kern->isa; }

size_t tav_gemm_workspace_size(const tav_gemm_weights *pw, int m)
{
    if (!pw || m < 1)
        return 0;
    size_t bytes;
    size_t mp = (size_t)round_up(m, pw->kern->mr);
    if (tav_mul_size(mp, (size_t)pw->kp * afmt_bytes(pw->kern->afmt), &bytes) ||
        tav_add_size(bytes, 64, &bytes))
        return 0;
    return bytes;
}

/* ---------------------------------------------------------------- activations */

/* The generic packing of one A micro-panel: `rows` rows of a (row stride k)
 * into [kp/ku][mr][ku], every element written once, padding (row >= rows,
 * k index >= k) zero. It is a transpose of ku-element words; paths with a
 * faster one set tav_kern.pack_a. */

/* int16 elements (AVX2's pairs when its own packing declines the panel) */
static void pack_a_s16(const tav_kern *kk, int16_t *d, const int8_t *a, int k, int kp, int rows)
{
    const int mr = kk->mr, ku = kk->ku, full = k / ku, groups = kp / ku;
    for (int g = 0; g < groups; g++)
        for (int r = 0; r < mr; r++, d += ku) {
            if (r >= rows) {
                memset(d, 0, (size_t)ku * sizeof *d);
                continue;
            }
            const int8_t *src = a + (size_t)r * k + (size_t)g * ku;
            for (int u = 0; u < ku; u++)
                d[u] = g < full || g * ku + u < k ? src[u] : 0;
        }
}

/* int8 as is, or uint8 = a + 128 = a ^ 0x80, 4 bytes at a time (every
 * byte-format path has ku % 4 == 0) */
static void pack_a_bytes(const tav_kern *kk, uint8_t *d, const int8_t *a, int k, int kp, int rows)
{
    const int mr = kk->mr, ku = kk->ku, full = k / ku, groups = kp / ku;
    const uint32_t flip = kk->afmt == TAV_AFMT_U8 ? 0x80808080u : 0u;
    if (rows == mr && full == groups) {
        /* the common case, no padding: row by row, a tight strided copy */
        for (int r = 0; r < mr; r++) {
            const uint8_t *src = (const uint8_t *)a + (size_t)r * k;
            uint8_t *dr = d + (size_t)r * ku;
            for (int g = 0; g < groups; g++, src += ku, dr += (size_t)mr * ku)
                for (int u = 0; u < ku; u += 4) {
                    uint32_t w;
                    memcpy(&w, src + u, 4);
                    w ^= flip;
                    memcpy(dr + u, &w, 4);
                }
        }
        return;
    }
    for (int g = 0; g < groups; g++)
        for (int r = 0; r < mr; r++, d += ku) {
            if (r >= rows) {
                memset(d, 0, (size_t)ku);
                continue;
            }
            const uint8_t *src = (const uint8_t *)a + (size_t)r * k + (size_t)g * ku;
            for (int u = 0; u < ku; u++) /* the partial last group is zero-padded */
                d[u] = g < full || g * ku + u < k ? (uint8_t)(src[u] ^ (uint8_t)flip) : 0;
        }
}

static void pack_a_panel(const tav_kern *kk, void *dst, const int8_t *a, int k, int kp, int rows)
{
    if (kk->pack_a && kk->pack_a(dst, a, k, kp, rows))
        return;
    if (kk->afmt == TAV_AFMT_S16)
        pack_a_s16(kk, dst, a, k, kp, rows);
    else
        pack_a_bytes(kk, dst, a, k, kp, rows);
}

/* ---------------------------------------------------------------- tiles */

typedef struct gemm_job {
    const tav_gemm_weights *pw;
    const tav_kern *kk;
    const int8_t *a;
    const float *ascale;
    const float *x;  /* fp32 input (tav_gemm_s8_f32): quantised into a/ascale */
    tav_gemm_seg_fn seg_fn; /* or rows made of runs (tav_gemm_s8_segs) */
    void *seg_ctx;
    int n_seg;
    int8_t *qrows;   /* [m x k] row buffer for paths without quant_pack_a */
    float *xscale;   /* [m] the scales computed from x (== ascale then) */
    int m, mp;
    uint8_t *apack; /* mp/mr panels of mr * kp elements */
    size_t apanel_bytes;
    float *out;      /* fp32 output, or NULL */
    int32_t *acc;    /* raw int32 output, or NULL */
    tav_act act;
    int tiles_n;     /* tile columns */
} gemm_job;

/* Rows r0.. of a tav_gemm_s8_segs call: straight into the panel (1), or
 * assembled into rbuf for the generic quantise-and-pack (0). */
static int segs_to_panel(const gemm_job *j, int r0, int rows, void *dst, float *rbuf)
{
    const int n_seg = j->n_seg, seg = j->pw->k / n_seg;
    const float *ptrs[16 * TAV_GEMM_MAX_SEGS];
    j->seg_fn(j->seg_ctx, r0, rows, ptrs);
    if (j->kk->quant_pack_segs &&
        j->kk->quant_pack_segs(dst, j->xscale + r0, ptrs, n_seg, seg, j->pw->kp, rows))
        return 1;
    for (int r = 0; r < rows * n_seg; r++) {
        float *d = rbuf + (size_t)r * seg;
        if (ptrs[r])
            memcpy(d, ptrs[r], (size_t)seg * sizeof(float));
        else
            memset(d, 0, (size_t)seg * sizeof(float));
    }
    return 0;
}

static void pack_a_task(void *ctx, int panel, int worker)
{
    gemm_job *j = ctx;
    const int k = j->pw->k, r0 = panel * j->kk->mr;
    int rows = j->m - r0 < j->kk->mr ? j->m - r0 : j->kk->mr;
    void *dst = j->apack + (size_t)panel * j->apanel_bytes;
    float rbuf[16 * TAV_GEMM_SEGS_MAX_K]; /* assembled rows (segs without a fused kernel) */
    if (j->x || j->seg_fn) { /* fp32 rows: quantise (fused with the packing where the path can) */
        const float *xr = j->x ? j->x + (size_t)r0 * k : rbuf;
        if (j->seg_fn && segs_to_panel(j, r0, rows, dst, rbuf))
            return;
        if (j->kk->quant_pack_a && j->kk->quant_pack_a(dst, j->xscale + r0, xr, k, j->pw->kp, rows))
            return;
        j->kk->quant_rows(j->qrows + (size_t)r0 * k, j->xscale + r0, xr, rows, k);
        pack_a_panel(j->kk, dst, j->qrows + (size_t)r0 * k, k, j->pw->kp, rows);
        return;
    }
    pack_a_panel(j->kk, dst, j->a + (size_t)r0 * k, k, j->pw->kp, rows);
}

/* Scales, bias and activation for rows [m0,m1) x channels [n0,n1) of a tile. */
static void epilogue(const gemm_job *j, const int32_t *c, int ldc, int m0, int m1, int n0, int n1)
{
    const tav_gemm_weights *pw = j->pw;
    for (int i = m0; i < m1; i++) {
        const int32_t *ci = c + (size_t)(i - m0) * ldc;
        if (j->acc) {
            int32_t *o = j->acc + (size_t)i * pw->n;
            for (int q = n0; q < n1; q++)
                o[q] = pw->comp ? ci[q - n0] - pw->comp[q] : ci[q - n0];
            continue;
        }
        float *o = j->out + (size_t)i * pw->n;
        j->kk->epilogue(o + n0, ci, pw->comp ? pw->comp + n0 : NULL, pw->wscale + n0,
                        pw->bias ? pw->bias + n0 : NULL, j->ascale[i], n1 - n0);
        if (j->act == TAV_ACT_GELU)
            j->kk->gelu(o + n0, o + n0, (size_t)(n1 - n0));
        else if (j->act == TAV_ACT_SILU)
            j->kk->silu(o + n0, o + n0, (size_t)(n1 - n0));
    }
}

static void gemm_tile(void *ctx, int t, int worker)
{
    const gemm_job *j = ctx;
    const tav_kern *kk = j->kk;
    const tav_gemm_weights *pw = j->pw;
    const int mr = kk->mr, nr = kk->nr, kp = pw->kp, ab = afmt_bytes(kk->afmt);
    const int m0 = (t / j->tiles_n) * kk->mc, n0 = (t % j->tiles_n) * kk->nc;
    const int m1 = m0 + kk->mc < j->mp ? m0 + kk->mc : j->mp;
    const int n1 = n0 + kk->nc < pw->np ? n0 + kk->nc : pw->np;
    const int ldc = n1 - n0;
    _Alignas(64) int32_t c[TILE_MAX_ELEMS];

    for (int k0 = 0; k0 < kp; k0 += kk->kc) {
        const int kl = kp - k0 < kk->kc ? kp - k0 : kk->kc;
        for (int q = n0; q < n1; q += nr) {
            const int8_t *wp = pw->w + (size_t)(q / nr) * kp * nr + (size_t)k0 * nr;
            /* the epilogue reads channels < n only */
            tav_ukr_fn ukr = kk->ukr_half && q + nr / 2 >= pw->n ? kk->ukr_half : kk->ukr;
            for (int i = m0; i < m1; i += mr) {
                const uint8_t *ap = j->apack + (size_t)(i / mr) * j->apanel_bytes +
                                    (size_t)k0 * mr * ab;
                ukr(kl, ap, wp, c + (size_t)(i - m0) * ldc + (q - n0), ldc, k0 > 0);
            }
        }
    }
    epilogue(j, c, ldc, m0, m1 < j->m ? m1 : j->m, n0, n1 < pw->n ? n1 : pw->n);
}

/* Workspace of the fp32-input call: packed A, then the scales, then (for
 * paths without a fused quantise-and-pack) the int8 rows. */
size_t tav_gemm_workspace_size_f32(const tav_gemm_weights *pw, int m)
{
    size_t a = tav_gemm_workspace_size(pw, m), s, q;
    if (!a || tav_mul_size((size_t)m, (size_t)pw->k, &q) ||
        tav_add_size(a, (size_t)m * sizeof(float) + 64, &s) || tav_add_size(s, q, &s))
        return 0;
    return s;
}

/* The fp32 sources of a call: x, or rows made of n_seg runs by fn (x NULL). */
typedef struct f32_src {
    const float *x;
    tav_gemm_seg_fn fn;
    void *ctx;
    int n_seg;
} f32_src;

static tav_status gemm_run(const tav_gemm_weights *pw, const int8_t *a, const f32_src *src,
                           const float *ascale, int m, float *out, int32_t *acc, tav_act act,
                           tav_pool *pool, void *ws)
{
    const float *x = src ? src->x : NULL;
    if (!pw || (!a == !src) || (src && !x == !src->fn) || m < 1 || (out && !ascale && !src) ||
        (unsigned)act > TAV_ACT_SILU)
        return tav_fail(TAV_ERR_INVALID_ARG, "gemm: bad arguments (m=%d)", m);
    if (src && src->fn && (src->n_seg < 1 || src->n_seg > TAV_GEMM_MAX_SEGS ||
                           pw->k % src->n_seg || pw->k > TAV_GEMM_SEGS_MAX_K || pw->kern->mr > 16))
        return tav_fail(TAV_ERR_INVALID_ARG, "gemm: %d runs do not fit k = %d (at most %d runs, "
                        "k <= %d)", src->n_seg, pw->k, TAV_GEMM_MAX_SEGS, TAV_GEMM_SEGS_MAX_K);
    const tav_kern *kk = pw->kern;
    if (kk->mc * kk->nc > TILE_MAX_ELEMS || kk->mc % kk->mr || kk->nc % kk->nr || kk->kc % kk->ku)
        return tav_fail(TAV_ERR_INTERNAL, "gemm: bad blocking in the %s kernel table",
                        tav_simd_isa_name(kk->isa));
    size_t ws_bytes = src ? tav_gemm_workspace_size_f32(pw, m) : tav_gemm_workspace_size(pw, m);
    if (!ws_bytes)
        return tav_fail(TAV_ERR_INVALID_ARG, "gemm: workspace size overflows (m=%d)", m);
    void *own = NULL;
    if (!ws) {
        ws = own = tav_malloc(ws_bytes);
        if (!ws)
            return tav_fail(TAV_ERR_NOMEM, "gemm: no memory for %zu bytes of workspace", ws_bytes);
    }
    gemm_job j = {
        .pw = pw, .kk = kk, .a = a, .ascale = ascale, .m = m,
        .mp = round_up(m, kk->mr), .apack = align64(ws),
        .apanel_bytes = (size_t)kk->mr * pw->kp * afmt_bytes(kk->afmt),
        .out = out, .acc = acc, .act = act,
        .tiles_n = (pw->np + kk->nc - 1) / kk->nc,
    };
    if (src) { /* after the packed A: the scales, then the int8 row buffer */
        char *p = (char *)ws + tav_gemm_workspace_size(pw, m);
        j.xscale = align64(p);
        j.ascale = j.xscale;
        j.qrows = (int8_t *)(j.xscale + m);
        j.x = x;
        j.seg_fn = src->fn;
        j.seg_ctx = src->ctx;
        j.n_seg = src->n_seg;
    }
    int tiles_m = (j.mp + kk->mc - 1) / kk->mc;
    if ((double)j.mp * pw->np * pw->kp < TAV_POOL_MIN_PARALLEL_MACS)
        pool = NULL; /* small: not worth a hand-off (core/threadpool.h) */
    tav_pool_run_tiles(pool, j.mp / kk->mr, pack_a_task, &j);
    tav_pool_run_tiles(pool, tiles_m * j.tiles_n, gemm_tile, &j);
    tav_free(own);
    return TAV_OK;
}

tav_status tav_gemm_s8(const tav_gemm_weights *pw, const int8_t *a, const float *ascale, int m,
                       float *out, tav_act act, tav_pool *pool, void *workspace)
{
    if (!out)
        return tav_fail(TAV_ERR_INVALID_ARG, "gemm: no output buffer");
    return gemm_run(pw, a, NULL, ascale, m, out, NULL, act, pool, workspace);
}

tav_status tav_gemm_s8_f32(const tav_gemm_weights *pw, const float *x, int m, float *out,
                           tav_act act, tav_pool *pool, void *workspace)
{
    if (!out)
        return tav_fail(TAV_ERR_INVALID_ARG, "gemm: no output buffer");
    f32_src src = {x, NULL, NULL, 0};
    return gemm_run(pw, NULL, x ? &src : NULL, NULL, m, out, NULL, act, pool, workspace);
}

tav_status tav_gemm_s8_segs(const tav_gemm_weights *pw, int n_seg, tav_gemm_seg_fn seg, void *ctx,
                            int m, float *out, tav_act act, tav_pool *pool, void *workspace)
{
    if (!out)
        return tav_fail(TAV_ERR_INVALID_ARG, "gemm: no output buffer");
    f32_src src = {NULL, seg, ctx, n_seg};
    return gemm_run(pw, NULL, seg ? &src : NULL, NULL, m, out, NULL, act, pool, workspace);
}

tav_status tav_gemm_s8_acc(const tav_gemm_weights *pw, const int8_t *a, int m, int32_t *acc,
                           tav_pool *pool, void *workspace)
{
    if (!acc)
        return tav_fail(TAV_ERR_INVALID_ARG, "gemm: no output buffer");
    return gemm_run(pw, a, NULL, NULL, m, NULL, acc, TAV_ACT_NONE, pool, workspace);
}

/* ---------------------------------------------------------------- fp32 ops */

void tav_simd_quant_rows(int8_t *q, float *scale, const float *x, int rows, int k)
{
    tav_kern_active()->quant_rows(q, scale, x, rows, k);
}
void tav_simd_layernorm(float *y, const float *x, int rows, int n, const float *gamma,
                        const float *beta, float eps)
{
    tav_kern_active()->layernorm(y, x, rows, n, gamma, beta, eps);
}
void tav_simd_rmsnorm(float *y, const float *x, int rows, int n, const float *gamma, float eps)
{
    tav_kern_active()->rmsnorm(y, x, rows, n, gamma, eps);
}
void tav_simd_softmax(float *y, const float *x, int rows, int n)
{
    tav_kern_active()->softmax(y, x, rows, n);
}
void tav_simd_gelu(float *y, const float *x, size_t n) { tav_kern_active()->gelu(y, x, n); }
void tav_simd_silu(float *y, const float *x, size_t n) { tav_kern_active()->silu(y, x, n); }
void tav_simd_add(float *y, const float *a, const float *b, size_t n)
{
    tav_kern_active()->add(y, a, b, n);
}
void tav_simd_mul(float *y, const float *a, const float *b, size_t n)
{
    tav_kern_active()->mul(y, a, b, n);
}
void tav_simd_matmul_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                        int ldb, float *c, int ldc)
{
    const tav_kern *kk = tav_kern_active();
    (kk->matmul_nt ? kk->matmul_nt : tav_ref_matmul_nt)(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}
void tav_simd_matmul_nn(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                        float *c, int ldc)
{
    const tav_kern *kk = tav_kern_active();
    (kk->matmul_nn ? kk->matmul_nn : tav_ref_matmul_nn)(m, n, k, a, lda, b, ldb, c, ldc);
}
