/* layers.c — norms, adaLN modulation, residuals, sinusoidal embeddings and
 * multi-head attention, shared by the text encoder and the DiT. */
#include "core/engine.h"

#include "simd/simd.h"

#include "core/blas.h"

#include <math.h>
#include <stdio.h>

/* ---------------------------------------------------------------- norms */

void tav_layer_norm(float *y, const float *x, int rows, int n, const float *gamma,
                    const float *beta, float eps)
{
    tav_simd_layernorm(y, x, rows, n, gamma, beta, eps);
}

void tav_layer_modulate(float *y, const float *x, int rows, int n, const float *shift,
                        const float *scale)
{
    /* [rows, n] -> [rows, n]: LN(x) * (1 + scale) + shift, like the reference's op order */
    tav_simd_layernorm(y, x, rows, n, NULL, NULL, 1e-6f);
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * n;
        for (int i = 0; i < n; i++)
            yr[i] = yr[i] * (1.0f + scale[i]) + shift[i];
    }
}

void tav_layer_residual(float *x, const float *y, int rows, int n, const float *gate)
{
    /* [rows, n] += gate[n] * [rows, n] */
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t)r * n;
        const float *yr = y + (size_t)r * n;
        if (gate)
            for (int i = 0; i < n; i++)
                xr[i] += gate[i] * yr[i];
        else
            for (int i = 0; i < n; i++)
                xr[i] += yr[i];
    }
}

void tav_layer_sincos(float *out, float v, int n)
{
    /* [n]: cos(v f_0..f_{h-1}), sin(v f_0..f_{h-1}); the reference computes
     * f in float32: exp(-ln(10000) * i / h) */
    int h = n / 2;
    const float neg_log = (float)-log(10000.0);
    for (int i = 0; i < h; i++) {
        float f = expf(neg_log * (float)i / (float)h);
        float a = v * f;
        out[i] = cosf(a);
        out[h + i] = sinf(a);
    }
}

/* ---------------------------------------------------------------- attention */

typedef struct attn_job {
    const tav_attn_shape *sh;
    int dim, heads, dh, n_chunks;
    float scale;
    const float *q, *k, *v;
    float *y, *scores;
} attn_job;

/* One (group, head, query chunk): scores = scale * Q K^T and y = softmax(scores) V
 * by two small strided products (simd: no BLAS call overhead at these sizes). Rows of a group are equally spaced (stride * D floats),
 * so Q, K, V and Y are plain strided matrices: no gathering. */
static void attn_tile(void *ctx, int tile, int worker)
{
    const attn_job *j = ctx;
    const tav_attn_shape *sh = j->sh;
    int chunk = tile % j->n_chunks;
    int gh = tile / j->n_chunks;
    int head = gh % j->heads, g = gh / j->heads;
    int dh = j->dh, D = j->dim, off = head * dh;
    int i0 = chunk * TAV_ATTN_Q_CHUNK;
    int nq = sh->n_q - i0 < TAV_ATTN_Q_CHUNK ? sh->n_q - i0 : TAV_ATTN_Q_CHUNK;
    float *s = j->scores + (size_t)worker * TAV_ATTN_Q_CHUNK * sh->n_k;
    size_t q0 = (size_t)g * sh->q_gstride + (size_t)i0 * sh->q_stride;
    size_t k0 = (size_t)g * sh->k_gstride;
    int ldq = sh->q_stride * D, ldk = sh->k_stride * D;
    tav_simd_matmul_nt(nq, sh->n_k, dh, j->scale, j->q + q0 * D + off, ldq, j->k + k0 * D + off,
                       ldk, s, sh->n_k);
    tav_simd_softmax(s, s, nq, sh->n_k);
    tav_simd_matmul_nn(nq, dh, sh->n_k, s, sh->n_k, j->v + k0 * D + off, ldk, j->y + q0 * D + off,
                       ldq);
}

void tav_layer_attention(const tav_engine_ctx *ec, const tav_attn_shape *sh, int dim, int heads,
                         const float *q, const float *k, const float *v, float *y, float *scores)
{
    attn_job j = {
        .sh = sh, .dim = dim, .heads = heads, .dh = dim / heads,
        .n_chunks = (sh->n_q + TAV_ATTN_Q_CHUNK - 1) / TAV_ATTN_Q_CHUNK,
        .scale = 1.0f / sqrtf((float)(dim / heads)),
        .q = q, .k = k, .v = v, .y = y, .scores = scores,
    };
    /* two products of n_q x n_k x dh per group and head */
    double macs = 2.0 * sh->groups * heads * sh->n_q * (double)sh->n_k * (dim / heads);
    tav_pool_run_tiles(macs < TAV_POOL_MIN_PARALLEL_MACS ? NULL : ec->pool,
                       sh->groups * heads * j.n_chunks, attn_tile, &j);
}

/* ---------------------------------------------------------------- attention weights */

tav_status tav_attn_load(tav_attn_weights *a, const tav_model *m, const char *prefix, int dim,
                         int ctx_dim)
{
    char name[TAV_MODEL_MAX_NAME + 1];
    struct { tav_linear *l; const char *s; int n, k; } parts[4] = {
        {&a->q, "q", dim, dim}, {&a->k, "k", dim, ctx_dim},
        {&a->v, "v", dim, ctx_dim}, {&a->o, "o", dim, dim},
    };
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, parts[i].s);
        tav_status st = tav_linear_init(parts[i].l, m, name, 1);
        if (st == TAV_OK)
            st = tav_linear_expect(parts[i].l, parts[i].n, parts[i].k);
        if (st != TAV_OK)
            return st;
    }
    return TAV_OK;
}

void tav_attn_free(tav_attn_weights *a)
{
    tav_linear_free(&a->q);
    tav_linear_free(&a->k);
    tav_linear_free(&a->v);
    tav_linear_free(&a->o);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

size_t tav_attn_scratch_bytes(const tav_attn_weights *a, int m_q, int m_kv)
{
    size_t s = tav_linear_scratch_bytes(&a->q, m_q);
    s = max_sz(s, tav_linear_scratch_bytes(&a->k, m_kv));
    s = max_sz(s, tav_linear_scratch_bytes(&a->v, m_kv));
    return max_sz(s, tav_linear_scratch_bytes(&a->o, m_q));
}
