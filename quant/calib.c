/* calib.c — output NMSE of int8 Linears, measured on real fp32 activations.
 *
 * For every registered layer the calibrator keeps the int8 weights packed for
 * simd's GEMM. Each observed fp32 call (x [m x k] -> y [m x n]) is recomputed
 * the way the int8 engine computes it — per-row int8 activations
 * (tav_simd_quant_rows), tav_gemm_s8, + bias — and the squared differences
 * against y are accumulated per layer in double.
 */
#include "quant/quant.h"

#include "core/mem.h"
#include "simd/simd.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- state */

typedef struct calib_layer {
    char *name;
    tav_gemm_weights *pw;
    int n_out, k;
    double err, pow; /* sum (y_q - y)^2, sum y^2 */
    long calls;
} calib_layer;

struct tav_quant_calib {
    calib_layer *layers;
    size_t n, cap;
    long unmatched;
    /* scratch, grown on demand: quantised rows, their scales, int8 output, GEMM workspace */
    int8_t *xq;
    float *xs, *yq;
    void *ws;
    size_t xq_cap, xs_cap, yq_cap, ws_cap;
};

tav_status tav_quant_calib_init(tav_quant_calib **out)
{
    if (!out)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_calib_init: out is NULL");
    *out = tav_calloc(1, sizeof **out);
    return *out ? TAV_OK : tav_fail(TAV_ERR_NOMEM, "out of memory (calibrator)");
}

void tav_quant_calib_free(tav_quant_calib *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        tav_free(c->layers[i].name);
        tav_gemm_free_weights(c->layers[i].pw);
    }
    tav_free(c->layers);
    tav_free(c->xq);
    tav_free(c->xs);
    tav_free(c->yq);
    tav_free(c->ws);
    tav_free(c);
}

static calib_layer *find_exact(const tav_quant_calib *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->layers[i].name, name) == 0)
            return &c->layers[i];
    return NULL;
}

/* name, or name + ".weight" (the engine may name a layer by its prefix). */
static calib_layer *find_layer(const tav_quant_calib *c, const char *name)
{
    calib_layer *L = find_exact(c, name);
    if (L)
        return L;
    char buf[TAV_MODEL_MAX_NAME + 8];
    int n = snprintf(buf, sizeof buf, "%s.weight", name);
    return n > 0 && (size_t)n < sizeof buf ? find_exact(c, buf) : NULL;
}

/* ---------------------------------------------------------------- layers */

tav_status tav_quant_calib_add_layer(tav_quant_calib *c, const char *name, const int8_t *w,
                                     const float *scale, const float *bias, int n_out, int k)
{
    if (!c || !name || !w || !scale || n_out < 1 || k < 1)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_calib_add_layer: bad arguments");
    if (find_exact(c, name))
        return tav_fail(TAV_ERR_INVALID_ARG, "calibration layer '%s' registered twice", name);
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 32;
        calib_layer *p = tav_realloc(c->layers, cap * sizeof *p);
        if (!p)
            return tav_fail(TAV_ERR_NOMEM, "out of memory (calibration layers)");
        c->layers = p;
        c->cap = cap;
    }
    calib_layer L = {.n_out = n_out, .k = k};
    size_t len = strlen(name);
    L.name = tav_malloc(len + 1);
    if (!L.name)
        return tav_fail(TAV_ERR_NOMEM, "out of memory (calibration layer name)");
    memcpy(L.name, name, len + 1);
    tav_status st = tav_gemm_pack_weights(w, scale, bias, n_out, k, tav_simd_isa(), &L.pw);
    if (st) {
        tav_free(L.name);
        return st;
    }
    c->layers[c->n++] = L;
    return TAV_OK;
}

/* Grows *p to hold n bytes. */
static int grow(void **p, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    void *q = tav_realloc(*p, n);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* ---------------------------------------------------------------- observe */

tav_status tav_quant_calib_observe(tav_quant_calib *c, const char *name, const float *x, int m,
                                   int k, const float *y, int n)
{
    if (!c || !name || !x || !y || m < 1)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_calib_observe: bad arguments");
    calib_layer *L = find_layer(c, name);
    if (!L) {
        c->unmatched++;
        return TAV_OK;
    }
    if (k != L->k || n != L->n_out)
        return tav_fail(TAV_ERR_INVALID_ARG,
                        "calibration layer '%s': call is [%d x %d] -> [%d x %d], weights are "
                        "[%d x %d]", name, m, k, m, n, L->n_out, L->k);
    size_t mk, mn;
    size_t wsz = tav_gemm_workspace_size(L->pw, m);
    if (tav_mul_size((size_t)m, (size_t)k, &mk) || tav_mul_size((size_t)m, (size_t)n, &mn) ||
        tav_mul_size(mn, sizeof(float), &mn) || wsz == 0)
        return tav_fail(TAV_ERR_INVALID_ARG, "calibration layer '%s': size overflow", name);
    if (grow((void **)&c->xq, &c->xq_cap, mk) ||
        grow((void **)&c->xs, &c->xs_cap, (size_t)m * sizeof(float)) ||
        grow((void **)&c->yq, &c->yq_cap, mn) || grow(&c->ws, &c->ws_cap, wsz))
        return tav_fail(TAV_ERR_NOMEM, "out of memory (calibration scratch)");

    tav_simd_quant_rows(c->xq, c->xs, x, m, k);
    tav_status st = tav_gemm_s8(L->pw, c->xq, c->xs, m, c->yq, TAV_ACT_NONE, NULL, c->ws);
    if (st)
        return st;
    size_t cnt = (size_t)m * (size_t)n;
    for (size_t i = 0; i < cnt; i++) {
        double d = (double)c->yq[i] - (double)y[i];
        L->err += d * d;
        L->pow += (double)y[i] * (double)y[i];
    }
    L->calls++;
    return TAV_OK;
}

tav_status tav_quant_calib_result(const tav_quant_calib *c, const char *name, double *nmse,
                                  long *calls)
{
    if (!c || !name)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_calib_result: bad arguments");
    const calib_layer *L = find_layer(c, name);
    if (!L)
        return tav_fail(TAV_ERR_NOT_FOUND, "calibration layer '%s' is not registered", name);
    if (nmse)
        *nmse = L->calls == 0 ? NAN : L->pow == 0.0 ? (L->err == 0.0 ? 0.0 : INFINITY)
                                                    : L->err / L->pow;
    if (calls)
        *calls = L->calls;
    return TAV_OK;
}

long tav_quant_calib_unmatched(const tav_quant_calib *c) { return c ? c->unmatched : 0; }
