/* kern_neon.c — the AArch64 NEON path (ARMv8.0, no dot product).
 *
 * int8 GEMM, 4 x 4 micro-tile, k in groups of 16:
 *   a (row r, 16 k), w (channel c, 16 k): 16-byte loads
 *   p = vmull_s8(a.lo, w.lo), vmull_high_s8(a, w)   (8 exact int16 products each)
 *   acc[r][c] = vpadalq_s16(acc[r][c], p)          (pairwise add into 4 int32)
 * One product per int16 lane: adding two products in int16 (vmlal_s8) would
 * overflow for (-128)(-128) + (-128)(-128) = 32768, so each vmull is
 * widened at once. The 16 accumulators are reduced across lanes at the end.
 * The fp32 ops here are shared with the dotprod table.
 */
#include "simd/kern.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define MR 4
#define NR 4
#define KU 16

/* ---------------------------------------------------------------- GEMM */

static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t w)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(w)));
    return vpadalq_s16(acc, vmull_high_s8(a, w));
}

/* c[4 x 4] (+)= A [kc/16][4][16] int8 x W [kc/16][4][16] int8 */
static void ukr_neon(int kc, const void *ap, const int8_t *w, int32_t *c, int ldc, int accumulate)
{
    const int8_t *a = ap;
    int32x4_t acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            acc[i][j] = vdupq_n_s32(0);
    for (int g = 0; g < kc / KU; g++, a += MR * KU, w += NR * KU) {
        int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), w2 = vld1q_s8(w + 32),
                  w3 = vld1q_s8(w + 48);
        for (int i = 0; i < MR; i++) {
            int8x16_t ai = vld1q_s8(a + i * KU);
            acc[i][0] = dot16(acc[i][0], ai, w0);
            acc[i][1] = dot16(acc[i][1], ai, w1);
            acc[i][2] = dot16(acc[i][2], ai, w2);
            acc[i][3] = dot16(acc[i][3], ai, w3);
        }
    }
    for (int i = 0; i < MR; i++) {
        int32x4_t s = vpaddq_s32(vpaddq_s32(acc[i][0], acc[i][1]), vpaddq_s32(acc[i][2], acc[i][3]));
        if (accumulate)
            s = vaddq_s32(s, vld1q_s32(c + i * ldc));
        vst1q_s32(c + i * ldc, s);
    }
}

/* o = (float)(c - comp) * (wscale * ascale) (+ bias), 4 lanes; separate
 * roundings like the scalar formula (vmul then vadd, never vfma). */
void tav_neon_epilogue(float *o, const int32_t *c, const int32_t *comp, const float *wscale,
                       const float *bias, float ascale, int n)
{
    int q = 0;
    for (; q + 4 <= n; q += 4) {
        int32x4_t s = vld1q_s32(c + q);
        if (comp)
            s = vsubq_s32(s, vld1q_s32(comp + q));
        float32x4_t sc = vmulq_n_f32(vld1q_f32(wscale + q), ascale);
        float32x4_t v = vmulq_f32(vcvtq_f32_s32(s), sc);
        if (bias)
            v = vaddq_f32(v, vld1q_f32(bias + q));
        vst1q_f32(o + q, v);
    }
    if (q < n)
        tav_scalar_epilogue(o + q, c + q, comp ? comp + q : NULL, wscale + q,
                            bias ? bias + q : NULL, ascale, n - q);
}

/* ---------------------------------------------------------------- exp */

/* e^x, clamped to [-87.3, 88.3]: x = n ln2 + r, degree-6 polynomial of e^r
 * (< 2 ulp), times 2^n built in the exponent field (as the AVX2 path). */
static inline float32x4_t exp4(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.3365447f)), vdupq_n_f32(88.3762626f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.0f / 720);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

/* ---------------------------------------------------------------- activations */

/* gelu_tanh(x) = x * sigmoid(2u) = x / (1 + e^(-2u)), u = sqrt(2/pi)(x + 0.044715 x^3) */
void tav_neon_gelu(float *y, const float *x, size_t n)
{
    const float32x4_t c2 = vdupq_n_f32(-2.0f * 0.7978845608028654f), k3 = vdupq_n_f32(0.044715f);
    const float32x4_t one = vdupq_n_f32(1.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        float32x4_t v3 = vmulq_f32(vmulq_f32(v, v), v);
        float32x4_t t = vmulq_f32(c2, vfmaq_f32(v, k3, v3));
        vst1q_f32(y + i, vdivq_f32(v, vaddq_f32(one, exp4(t))));
    }
    if (i < n)
        tav_ref_gelu(y + i, x + i, n - i);
}

void tav_neon_silu(float *y, const float *x, size_t n)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        vst1q_f32(y + i, vdivq_f32(v, vaddq_f32(one, exp4(vnegq_f32(v)))));
    }
    if (i < n)
        tav_ref_silu(y + i, x + i, n - i);
}

void tav_neon_add(float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
    for (; i < n; i++)
        y[i] = a[i] + b[i];
}

void tav_neon_mul(float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
    for (; i < n; i++)
        y[i] = a[i] * b[i];
}

/* ---------------------------------------------------------------- rows */

void tav_neon_softmax(float *y, const float *x, int rows, int n)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        int i = 0;
        float32x4_t vm = vdupq_n_f32(-INFINITY);
        for (; i + 4 <= n; i += 4)
            vm = vmaxq_f32(vm, vld1q_f32(xr + i));
        float mx = vmaxvq_f32(vm);
        for (; i < n; i++)
            mx = fmaxf(mx, xr[i]);
        float32x4_t vmx = vdupq_n_f32(mx), vs = vdupq_n_f32(0.0f);
        for (i = 0; i + 4 <= n; i += 4) {
            float32x4_t e = exp4(vsubq_f32(vld1q_f32(xr + i), vmx));
            vst1q_f32(yr + i, e);
            vs = vaddq_f32(vs, e);
        }
        float sum = vaddvq_f32(vs);
        for (; i < n; i++) {
            yr[i] = expf(xr[i] - mx);
            sum += yr[i];
        }
        const float inv = 1.0f / sum;
        for (i = 0; i + 4 <= n; i += 4)
            vst1q_f32(yr + i, vmulq_n_f32(vld1q_f32(yr + i), inv));
        for (; i < n; i++)
            yr[i] *= inv;
    }
}

static float row_sum(const float *x, int n, float sub, int square)
{
    float32x4_t s = vdupq_n_f32(0.0f), vsub = vdupq_n_f32(sub);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(x + i), vsub);
        s = square ? vfmaq_f32(s, d, d) : vaddq_f32(s, d);
    }
    float t = vaddvq_f32(s);
    for (; i < n; i++)
        t += square ? (x[i] - sub) * (x[i] - sub) : x[i] - sub;
    return t;
}

static void scale_row(float *y, const float *x, int n, float mean, float rstd, const float *gamma,
                      const float *beta)
{
    const float32x4_t vm = vdupq_n_f32(mean);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_n_f32(vsubq_f32(vld1q_f32(x + i), vm), rstd);
        if (gamma)
            v = vmulq_f32(v, vld1q_f32(gamma + i));
        if (beta)
            v = vaddq_f32(v, vld1q_f32(beta + i));
        vst1q_f32(y + i, v);
    }
    for (; i < n; i++) {
        float v = (x[i] - mean) * rstd;
        if (gamma)
            v *= gamma[i];
        if (beta)
            v += beta[i];
        y[i] = v;
    }
}

void tav_neon_layernorm(float *y, const float *x, int rows, int n, const float *gamma,
                        const float *beta, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float mean = row_sum(xr, n, 0.0f, 0) / (float)n;
        float var = row_sum(xr, n, mean, 1) / (float)n;
        scale_row(y + (size_t)r * n, xr, n, mean, 1.0f / sqrtf(var + eps), gamma, beta);
    }
}

void tav_neon_rmsnorm(float *y, const float *x, int rows, int n, const float *gamma, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float ms = row_sum(xr, n, 0.0f, 1) / (float)n;
        scale_row(y + (size_t)r * n, xr, n, 0.0f, 1.0f / sqrtf(ms + eps), gamma, NULL);
    }
}

/* ---------------------------------------------------------------- quantise */

void tav_neon_quant_rows(int8_t *q, float *scale, const float *x, int rows, int k)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * k;
        int8_t *qr = q + (size_t)r * k;
        float32x4_t vmax = vdupq_n_f32(0.0f);
        int i = 0;
        for (; i + 4 <= k; i += 4)
            vmax = vmaxq_f32(vmax, vabsq_f32(vld1q_f32(xr + i)));
        float amax = vmaxvq_f32(vmax);
        for (; i < k; i++)
            amax = fmaxf(amax, fabsf(xr[i]));
        if (amax < TAV_QUANT_MIN_AMAX) {
            scale[r] = 0.0f;
            memset(qr, 0, (size_t)k);
            continue;
        }
        scale[r] = amax / 127.0f;
        const float inv = 127.0f / amax;
        const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127);
        for (i = 0; i + 8 <= k; i += 8) {
            /* vcvtnq: round to nearest, ties to even, like nearbyintf */
            int32x4_t v0 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(xr + i), inv));
            int32x4_t v1 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(xr + i + 4), inv));
            v0 = vminq_s32(vmaxq_s32(v0, lo), hi);
            v1 = vminq_s32(vmaxq_s32(v1, lo), hi);
            int16x8_t w16 = vcombine_s16(vqmovn_s32(v0), vqmovn_s32(v1));
            vst1_s8(qr + i, vqmovn_s16(w16));
        }
        for (; i < k; i++) {
            float v = nearbyintf(xr[i] * inv);
            qr[i] = (int8_t)fminf(fmaxf(v, -127.0f), 127.0f);
        }
    }
}

/* ---------------------------------------------------------------- peak */

/* Register-only smull/smull2 + sadalp loop: 4 independent accumulator pairs
 * per iteration, 16 MACs per pair (the micro-kernel's instruction mix). */
static double peak_neon(int variant, long iters)
{
    if (variant != 0 || iters < 1)
        return 0.0;
    long n = iters;
#define PAIR(a, b) "smull v2.8h, v0.8b, v1.8b\n\t"    \
                   "smull2 v3.8h, v0.16b, v1.16b\n\t" \
                   "sadalp " a ".4s, v2.8h\n\t"       \
                   "sadalp " b ".4s, v3.8h\n\t"
    __asm__ volatile("movi v0.16b, #0\n\t"
                     "movi v1.16b, #0\n\t"
                     "1:\n\t"
                     PAIR("v16", "v17") PAIR("v18", "v19") PAIR("v20", "v21") PAIR("v22", "v23")
                     "subs %x[n], %x[n], #1\n\t"
                     "b.ne 1b\n\t"
                     : [n] "+r"(n)
                     :
                     : "v0", "v1", "v2", "v3", "v16", "v17", "v18", "v19", "v20", "v21", "v22",
                       "v23", "cc");
#undef PAIR
    return (double)iters * 4 * 16 * 2;
}

/* ---------------------------------------------------------------- table */

const tav_kern tav_kern_neon = {
    .isa = TAV_ISA_NEON,
    .mr = MR, .nr = NR, .ku = KU,
    .afmt = TAV_AFMT_S8,
    .mc = 32, .nc = 128, .kc = 512,
    .ukr = ukr_neon,
    .epilogue = tav_neon_epilogue,
    .quant_rows = tav_neon_quant_rows,
    .layernorm = tav_neon_layernorm,
    .rmsnorm = tav_neon_rmsnorm,
    .softmax = tav_neon_softmax,
    .gelu = tav_neon_gelu,
    .silu = tav_neon_silu,
    .add = tav_neon_add,
    .mul = tav_neon_mul,
    .peak = peak_neon,
};
