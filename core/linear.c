/* linear.c — fp32 (OpenBLAS, fixed row tiles) and int8 (simd/) linear layers. */
#include "core/linear.h"

#include "core/mem.h"

#include "core/blas.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- hook */

static tav_linear_hook_fn hook_fn;
static void *hook_user;
static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;

void tav_engine_set_linear_hook(tav_linear_hook_fn fn, void *user)
{
    pthread_mutex_lock(&hook_mu);
    hook_fn = fn;
    hook_user = user;
    pthread_mutex_unlock(&hook_mu);
}

void tav_linear_blas_single_thread(void)
{
    openblas_set_num_threads(1);
}

/* ---------------------------------------------------------------- init */

static tav_status load_bias(const tav_model *m, const char *prefix, int n_out, const float **out)
{
    char name[TAV_MODEL_MAX_NAME + 8];
    snprintf(name, sizeof name, "%s.bias", prefix);
    const tav_tensor_view *b = tav_model_tensor_find(m, name);
    if (!b)
        return tav_fail(TAV_ERR_FORMAT, "model file lacks tensor '%s'", name);
    if (b->dtype != TAV_DTYPE_F32 || b->n_elems != (size_t)n_out)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' is %s with %zu elements; expected f32 [%d]",
                        name, tav_dtype_name(b->dtype), b->n_elems, n_out);
    *out = b->data;
    return TAV_OK;
}

static tav_status linear_init(tav_linear *l, const tav_model *m, const char *prefix, int need_bias,
                              int conv3x3);

tav_status tav_linear_init(tav_linear *l, const tav_model *m, const char *prefix, int need_bias)
{
    return linear_init(l, m, prefix, need_bias, 0);
}

tav_status tav_linear_init_conv3x3(tav_linear *l, const tav_model *m, const char *prefix)
{
    return linear_init(l, m, prefix, 1, 1);
}

/* (ci, tap) -> (tap, ci) for one row of k = 9 * cin elements of `size` bytes */
static void to_tap_major(void *dst, const void *src, int cin, size_t size)
{
    for (int ci = 0; ci < cin; ci++)
        for (int t = 0; t < 9; t++)
            memcpy((char *)dst + ((size_t)t * cin + ci) * size,
                   (const char *)src + ((size_t)ci * 9 + t) * size, size);
}

static tav_status linear_init(tav_linear *l, const tav_model *m, const char *prefix, int need_bias,
                              int conv3x3)
{
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", prefix);
    char name[TAV_MODEL_MAX_NAME + 8];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const tav_tensor_view *w = tav_model_tensor_find(m, name);
    if (!w)
        return tav_fail(TAV_ERR_FORMAT, "model file lacks tensor '%s'", name);
    if (w->ndim < 2 || w->shape[0] > TAV_MODEL_MAX_DIM ||
        w->n_elems / (size_t)w->shape[0] > (size_t)TAV_GEMM_MAX_K)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' has an unusable shape for a linear layer",
                        name);
    l->n_out = (int)w->shape[0];
    l->k = (int)(w->n_elems / (size_t)w->shape[0]);
    if (conv3x3 && (w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3))
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' is not a 3x3 convolution weight", name);
    l->tap_major = conv3x3;
    int cin = l->k / 9;
    const float *bias = NULL;
    if (need_bias) {
        tav_status st = load_bias(m, prefix, l->n_out, &bias);
        if (st != TAV_OK)
            return st;
    }
    switch (w->dtype) {
    case TAV_DTYPE_F32:
        l->w = w->data;
        l->bias = bias;
        if (conv3x3) {
            l->w_owned = tav_malloc_array(w->n_elems, sizeof(float));
            if (!l->w_owned)
                return tav_fail(TAV_ERR_NOMEM, "out of memory reordering '%s'", name);
            for (int r = 0; r < l->n_out; r++)
                to_tap_major(l->w_owned + (size_t)r * l->k, (const float *)w->data + (size_t)r * l->k,
                             cin, sizeof(float));
            l->w = l->w_owned;
        }
        return TAV_OK;
    case TAV_DTYPE_S8: {
        int8_t *tmp = NULL;
        if (conv3x3) {
            tmp = tav_malloc(w->n_elems);
            if (!tmp)
                return tav_fail(TAV_ERR_NOMEM, "out of memory reordering '%s'", name);
            for (int r = 0; r < l->n_out; r++)
                to_tap_major(tmp + (size_t)r * l->k, (const int8_t *)w->data + (size_t)r * l->k, cin, 1);
        }
        tav_status st = tav_gemm_pack_weights(tmp ? tmp : w->data, w->scales, bias, l->n_out, l->k,
                                              tav_simd_isa(), &l->pw);
        tav_free(tmp);
        if (st != TAV_OK)
            return tav_fail(st, "packing int8 weights '%s': %s", name, tav_last_error());
        l->bias = bias;
        return TAV_OK;
    }
    default:
        return tav_fail(TAV_ERR_FORMAT,
                        "tensor '%s' is %s; the engine runs linear layers in f32 or s8", name,
                        tav_dtype_name(w->dtype));
    }
}

tav_status tav_linear_expect(const tav_linear *l, int n_out, int k)
{
    if (l->n_out != n_out || l->k != k)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s.weight' is [%d, %d]; the configuration needs [%d, %d]",
                        l->name, l->n_out, l->k, n_out, k);
    return TAV_OK;
}

void tav_linear_free(tav_linear *l)
{
    if (!l)
        return;
    tav_gemm_free_weights(l->pw);
    l->pw = NULL;
    tav_free(l->w_owned);
    l->w_owned = NULL;
    l->w = NULL; /* may have pointed at w_owned; a freed layer is unloaded */
    l->bias = NULL;
}

/* ---------------------------------------------------------------- forward */


size_t tav_linear_scratch_bytes(const tav_linear *l, int m)
{
    if (!l->pw || m < 1)
        return 0;
    return tav_gemm_workspace_size_f32(l->pw, m);
}

static void apply_act(float *y, size_t n, tav_act act)
{
    if (act == TAV_ACT_GELU)
        tav_simd_gelu(y, y, n);
    else if (act == TAV_ACT_SILU)
        tav_simd_silu(y, y, n);
}

typedef struct f32_job {
    const tav_linear *l;
    const float *x;
    float *y;
    int m, tile_rows;
    tav_act act; /* TAV_ACT_NONE when a hook must see the pre-activation output */
} f32_job;

/* One tile: rows [r0, r0 + tile_rows) by one sgemm call. */
static void f32_tile(void *ctx, int tile, int worker)
{
    (void)worker;
    const f32_job *j = ctx;
    const tav_linear *l = j->l;
    int r0 = tile * j->tile_rows;
    int rows = j->m - r0 < j->tile_rows ? j->m - r0 : j->tile_rows;
    float *y = j->y + (size_t)r0 * l->n_out;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, l->n_out, l->k, 1.0f,
                j->x + (size_t)r0 * l->k, l->k, l->w, l->k, 0.0f, y, l->n_out);
    if (l->bias)
        for (int r = 0; r < rows; r++)
            tav_simd_add(y + (size_t)r * l->n_out, y + (size_t)r * l->n_out, l->bias,
                         (size_t)l->n_out);
    apply_act(y, (size_t)rows * l->n_out, j->act);
}

/* A layer with neither an fp32 view nor packed int8 weights was never
 * loaded (a zeroed struct) or has been freed: running it would leave y
 * unwritten and report success, so it is an error instead. */
static tav_status check_loaded(const tav_linear *l)
{
    if (l->w || l->pw)
        return TAV_OK;
    return tav_fail(TAV_ERR_INTERNAL,
                    "linear '%s' has no weights: it was never loaded with tav_linear_init",
                    l->name[0] ? l->name : "(unnamed)");
}

tav_status tav_linear_forward(const tav_linear *l, const float *x, int m, float *y, tav_act act,
                              tav_pool *pool, const tav_linear_scratch *s)
{
    if (m < 1)
        return TAV_OK;
    tav_status st = check_loaded(l);
    if (st != TAV_OK)
        return st;
    if (l->pw) {
        size_t need = tav_linear_scratch_bytes(l, m);
        if (!s || s->bytes < need)
            return tav_fail(TAV_ERR_INTERNAL, "linear '%s': %zu scratch bytes given, %zu needed",
                            l->name, s ? s->bytes : 0, need);
        /* quantised per row and packed in one pass (simd/gemm.c) */
        return tav_gemm_s8_f32(l->pw, x, m, y, act, pool, s->buf);
    }
    tav_linear_hook_fn fn = hook_fn;
    /* without a pool (callers that are themselves one task of a parallel
     * loop, e.g. the decoder's frames) one sgemm call for all rows: per-call
     * overhead dominates these small-n products */
    f32_job j = {l, x, y, m, pool ? TAV_LINEAR_ROW_TILE : m, fn ? TAV_ACT_NONE : act};
    /* the row split above follows the caller (sgemm's bytes can depend on
     * it); whether the tiles are shared out depends on the work only */
    if ((double)m * l->n_out * l->k < TAV_POOL_MIN_PARALLEL_MACS)
        pool = NULL; /* small: not worth a hand-off (core/threadpool.h) */
    tav_pool_run_tiles(pool, (m + j.tile_rows - 1) / j.tile_rows, f32_tile, &j);
    if (fn) {
        pthread_mutex_lock(&hook_mu);
        if (hook_fn && !l->tap_major) {
            hook_fn(hook_user, l->name, x, m, l->k, y, l->n_out);
        } else if (hook_fn) {
            /* calibration only: hand x over in the file's (ci, ky, kx) order */
            float *xf = tav_malloc_array((size_t)m * l->k, sizeof(float));
            if (!xf) {
                pthread_mutex_unlock(&hook_mu);
                return tav_fail(TAV_ERR_NOMEM, "out of memory for the linear hook");
            }
            int cin = l->k / 9;
            for (int r = 0; r < m; r++)
                for (int t = 0; t < 9; t++)
                    for (int ci = 0; ci < cin; ci++)
                        xf[(size_t)r * l->k + ci * 9 + t] = x[(size_t)r * l->k + t * cin + ci];
            hook_fn(hook_user, l->name, xf, m, l->k, y, l->n_out);
            tav_free(xf);
        }
        pthread_mutex_unlock(&hook_mu);
        apply_act(y, (size_t)m * l->n_out, act);
    }
    return TAV_OK;
}

/* ---------------------------------------------------------------- 3x3 convolution */

typedef struct conv_src {
    const float *in;
    int Hs, Ws, up, cin, p0;
} conv_src;

/* the 9 taps of band rows r0 .. r0+n-1 (pixels p0 + r), tap-major: NULL
 * outside the map. Called once per GEMM panel (16 rows), so it is on the
 * hot path of every int8 convolution: the three source rows are found once
 * per output row, and pixels away from the left/right edge of a row with
 * both neighbour rows inside the map store their 9 taps without a test. */
static void conv_taps(void *ctx, int r0, int n, const float **taps)
{
    const conv_src *c = ctx;
    const int up = c->up, H = c->Hs << up, W = c->Ws << up, p = c->p0 + r0;
    const size_t cin = (size_t)c->cin;
    int y = p / W, x = p - y * W;
    while (n > 0) {
        const float *row[3];
        for (int d = 0; d < 3; d++) {
            int yy = y + d - 1;
            row[d] = yy >= 0 && yy < H ? c->in + (size_t)(yy >> up) * c->Ws * cin : NULL;
        }
        const int x1 = W - x < n ? W : x + n, full = row[0] && row[2];
        n -= x1 - x;
        for (; x < x1; x++, taps += 9) {
            const int lo = x > 0, hi = x + 1 < W;
            const size_t o0 = lo ? (size_t)((x - 1) >> up) * cin : 0, o1 = (size_t)(x >> up) * cin;
            const size_t o2 = hi ? (size_t)((x + 1) >> up) * cin : 0;
            if (full && lo && hi) {
                taps[0] = row[0] + o0, taps[1] = row[0] + o1, taps[2] = row[0] + o2;
                taps[3] = row[1] + o0, taps[4] = row[1] + o1, taps[5] = row[1] + o2;
                taps[6] = row[2] + o0, taps[7] = row[2] + o1, taps[8] = row[2] + o2;
                continue;
            }
            for (int d = 0; d < 3; d++) {
                const float *r = row[d];
                taps[3 * d] = r && lo ? r + o0 : NULL;
                taps[3 * d + 1] = r ? r + o1 : NULL;
                taps[3 * d + 2] = r && hi ? r + o2 : NULL;
            }
        }
        x = 0;
        y++;
    }
}

/* fp32 layers with a few output channels (the decoder's conv_out, n_out = 3):
 * through sgemm each band is first copied out 9 times (im2col) and packed
 * again by OpenBLAS to make 3 outputs per row; at 128x128 that was ~40 % of
 * the engine's samples. Here, per output channel, CONV_LANES partial sums
 * over ci mod CONV_LANES take the taps in order 0..8 (each product rounded,
 * then added: no fused multiply-add; a tap outside the map adds nothing),
 * then the lanes are folded in halves (lane j += lane j + w for w = 8, 4, 2,
 * 1), then the bias. That order is fixed by this code alone (ISO C: no
 * contraction), so the bytes do not depend on the ISA or the thread count;
 * against sgemm they differ by rounding only (tests/test_linear_conv.c,
 * TAV_TOL_CONV_FEW_REL). All outputs of a pixel are summed side by side:
 * independent chains. */
#define CONV_FEW_OUT 4
#define CONV_LANES 16

#define CONV_FEW_MAX_K (9 * 64)
_Static_assert(CONV_FEW_OUT == 4 && CONV_LANES == 16, "conv_few_out keeps 4 x (8 + 8) lane sums");

static int conv_few_out_applies(const tav_linear *l)
{
    return !l->pw && l->n_out <= CONV_FEW_OUT && (l->k / 9) % CONV_LANES == 0 &&
           l->k <= CONV_FEW_MAX_K && !hook_fn;
}

/* 8 floats as one value (GCC/Clang vector extension: one AVX register, two
 * SSE or NEON ones; element-wise, so the order above holds on every target);
 * the CONV_LANES = 16 lanes of a sum are two of them, lo (ci mod 16 < 8) and hi */
typedef float conv_v8 __attribute__((vector_size(8 * sizeof(float))));

/* x86-64: also built for AVX2 and picked at load by the CPU (GCC ifunc); the
 * same operations in the same order either way. The weights are copied to
 * CONV_FEW_OUT rows (zero past n_out): constant loop bounds, sums in registers. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void conv_few_out(const tav_linear *l, const conv_src *c, int m, float *out)
{
    const int cin = c->cin, n = l->n_out, k = l->k;
    conv_v8 wt[CONV_FEW_MAX_K / 8][CONV_FEW_OUT]; /* [(t*cin + c0) / 8][q] */
    for (int i = 0; i < k; i += 8)
        for (int q = 0; q < CONV_FEW_OUT; q++)
            for (int j = 0; j < 8; j++)
                wt[i / 8][q][j] = q < n ? l->w[(size_t)q * k + i + j] : 0.0f;
    const float *taps[16 * 9];
    for (int r = 0; r < m; r += 16) {
        const int rows = m - r < 16 ? m - r : 16;
        conv_taps((void *)c, r, rows, taps);
        for (int i = 0; i < rows; i++) {
            const float *const *tp = taps + 9 * i;
            conv_v8 l0 = {0}, l1 = {0}, l2 = {0}, l3 = {0}, h0 = {0}, h1 = {0}, h2 = {0}, h3 = {0};
            for (int t = 0; t < 9; t++) {
                if (!tp[t])
                    continue;
                for (int c0 = 0; c0 < cin; c0 += CONV_LANES) {
                    conv_v8 xl, xh;
                    memcpy(&xl, tp[t] + c0, sizeof xl);
                    memcpy(&xh, tp[t] + c0 + 8, sizeof xh);
                    const conv_v8 *wl = wt[(t * cin + c0) / 8], *wh = wl + CONV_FEW_OUT;
                    l0 += wl[0] * xl, l1 += wl[1] * xl, l2 += wl[2] * xl, l3 += wl[3] * xl;
                    h0 += wh[0] * xh, h1 += wh[1] * xh, h2 += wh[2] * xh, h3 += wh[3] * xh;
                }
            }
            /* the first fold: lane j += lane j + 8 */
            const conv_v8 v[CONV_FEW_OUT] = {l0 + h0, l1 + h1, l2 + h2, l3 + h3};
            float *o = out + (size_t)(r + i) * n;
            for (int q = 0; q < n; q++) {
                float a[8];
                memcpy(a, &v[q], sizeof a);
                a[0] += a[4], a[1] += a[5], a[2] += a[6], a[3] += a[7];
                a[0] += a[2], a[1] += a[3];
                a[0] += a[1];
                o[q] = l->bias ? a[0] + l->bias[q] : a[0];
            }
        }
    }
}

tav_status tav_linear_conv3x3(const tav_linear *l, const float *in, int Hs, int Ws, int up, int p0,
                              int m, float *out, tav_act act, float *col, tav_pool *pool,
                              const tav_linear_scratch *s)
{
    if (m < 1)
        return TAV_OK;
    if (!l->tap_major)
        return tav_fail(TAV_ERR_INTERNAL, "'%s' is not a 3x3 convolution layer", l->name);
    tav_status st = check_loaded(l);
    if (st != TAV_OK)
        return st; /* before conv_few_out, which would read l->w */
    conv_src c = {in, Hs, Ws, up, l->k / 9, p0};
    if (l->pw && l->k <= TAV_GEMM_SEGS_MAX_K) {
        size_t need = tav_linear_scratch_bytes(l, m);
        if (!s || s->bytes < need)
            return tav_fail(TAV_ERR_INTERNAL, "linear '%s': %zu scratch bytes given, %zu needed",
                            l->name, s ? s->bytes : 0, need);
        return tav_gemm_s8_segs(l->pw, 9, conv_taps, &c, m, out, act, pool, s->buf);
    }
    if (conv_few_out_applies(l)) {
        conv_few_out(l, &c, m, out);
        apply_act(out, (size_t)m * l->n_out, act);
        return TAV_OK;
    }
    /* fp32 (or very deep) layers: the im2col rows first, taps found 16 rows
     * at a time; cin a multiple of 16 (the 16-channel 128x128 layers) copies
     * in fixed 64-byte blocks the compiler inlines instead of a libc call
     * per 64 bytes */
    const float *taps[16 * 9];
    const size_t cin = (size_t)c.cin;
    for (int r0 = 0; r0 < m; r0 += 16) {
        const int rows = m - r0 < 16 ? m - r0 : 16;
        conv_taps(&c, r0, rows, taps);
        for (int i = 0; i < rows * 9; i++) {
            float *d = col + ((size_t)r0 * 9 + (size_t)i) * cin;
            const float *t = taps[i];
            if (!t)
                memset(d, 0, cin * sizeof(float));
            else if (cin % 16 == 0)
                for (size_t b = 0; b < cin; b += 16)
                    memcpy(d + b, t + b, 16 * sizeof(float));
            else
                memcpy(d, t, cin * sizeof(float));
        }
    }
    return tav_linear_forward(l, col, m, out, act, pool, s);
}
