/* ref.c — the scalar reference of every kernel: the specification.
 *
 * Written for clarity, not speed: each function is the formula in simd.h,
 * in the most obvious order, with libm's expf/tanhf/sqrtf. The ISA paths are
 * tested against these (exactly for the integer kernels, within the named
 * tolerances of simd.h for the fp32 ones).
 */
#include "simd/simd.h"

#include <math.h>

/* ---------------------------------------------------------------- int8 GEMM */

void tav_ref_gemm_s8_acc(const int8_t *a, const int8_t *w, int m, int n, int k, int32_t *acc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            int32_t s = 0;
            for (int p = 0; p < k; p++)
                s += (int32_t)a[(size_t)i * k + p] * (int32_t)w[(size_t)j * k + p];
            acc[(size_t)i * n + j] = s;
        }
}

static float ref_act(float v, tav_act act)
{
    switch (act) {
    case TAV_ACT_GELU: tav_ref_gelu(&v, &v, 1); break;
    case TAV_ACT_SILU: tav_ref_silu(&v, &v, 1); break;
    case TAV_ACT_NONE: break;
    }
    return v;
}

void tav_ref_gemm_s8(const int8_t *a, const float *ascale, const int8_t *w, const float *wscale,
                     const float *bias, int m, int n, int k, tav_act act, float *out)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            int32_t s = 0;
            for (int p = 0; p < k; p++)
                s += (int32_t)a[(size_t)i * k + p] * (int32_t)w[(size_t)j * k + p];
            /* the epilogue, one rounding per statement (no contraction) */
            float sc = wscale[j] * ascale[i];
            float v = (float)s * sc;
            if (bias)
                v = v + bias[j];
            out[(size_t)i * n + j] = ref_act(v, act);
        }
}

/* ---------------------------------------------------------------- quantise */

void tav_ref_quant_rows(int8_t *q, float *scale, const float *x, int rows, int k)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * k;
        int8_t *qr = q + (size_t)r * k;
        float amax = 0.0f;
        for (int i = 0; i < k; i++)
            amax = fmaxf(amax, fabsf(xr[i]));
        if (amax < TAV_QUANT_MIN_AMAX) {
            scale[r] = 0.0f;
            for (int i = 0; i < k; i++)
                qr[i] = 0;
            continue;
        }
        scale[r] = amax / 127.0f;
        float inv = 127.0f / amax;
        for (int i = 0; i < k; i++) {
            float v = nearbyintf(xr[i] * inv); /* round half to even */
            v = fminf(fmaxf(v, -127.0f), 127.0f);
            qr[i] = (int8_t)v;
        }
    }
}

/* ---------------------------------------------------------------- norms */

void tav_ref_layernorm(float *y, const float *x, int rows, int n, const float *gamma,
                       const float *beta, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < n; i++)
            sum += xr[i];
        float mean = (float)(sum / n);
        for (int i = 0; i < n; i++) {
            float d = xr[i] - mean;
            sq += (double)d * d;
        }
        float rstd = 1.0f / sqrtf((float)(sq / n) + eps);
        for (int i = 0; i < n; i++) {
            float v = (xr[i] - mean) * rstd;
            if (gamma)
                v *= gamma[i];
            if (beta)
                v += beta[i];
            yr[i] = v;
        }
    }
}

void tav_ref_rmsnorm(float *y, const float *x, int rows, int n, const float *gamma, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        double sq = 0.0;
        for (int i = 0; i < n; i++)
            sq += (double)xr[i] * xr[i];
        float rms = 1.0f / sqrtf((float)(sq / n) + eps);
        for (int i = 0; i < n; i++)
            yr[i] = gamma ? xr[i] * rms * gamma[i] : xr[i] * rms;
    }
}

/* ---------------------------------------------------------------- softmax */

void tav_ref_softmax(float *y, const float *x, int rows, int n)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        float mx = -INFINITY;
        for (int i = 0; i < n; i++)
            mx = fmaxf(mx, xr[i]);
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            yr[i] = expf(xr[i] - mx);
            sum += yr[i];
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < n; i++)
            yr[i] *= inv;
    }
}

/* ---------------------------------------------------------------- activations */

void tav_ref_gelu(float *y, const float *x, size_t n)
{
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void tav_ref_silu(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i]));
}

void tav_ref_add(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void tav_ref_mul(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}

/* ---------------------------------------------------------------- small matmuls */

void tav_ref_matmul_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                       int ldb, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++)
                acc += a[(size_t)i * lda + p] * b[(size_t)j * ldb + p];
            c[(size_t)i * ldc + j] = alpha * acc;
        }
}

void tav_ref_matmul_nn(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                       float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++)
                acc += a[(size_t)i * lda + p] * b[(size_t)p * ldb + j];
            c[(size_t)i * ldc + j] = acc;
        }
}
