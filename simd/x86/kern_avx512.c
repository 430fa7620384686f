/* kern_avx512.c — the AVX-512 VNNI path: vpdpbusd int8 GEMM micro-kernel.
 *
 * 12 x 32 micro-tile (24 zmm accumulators), k in groups of 4:
 *   w (32 ch x 4 k, int8)  -> 2 zmm loads
 *   a (row r, 4 k, uint8)  -> dword broadcast (folded into vpdpbusd's memory operand)
 *   acc[r][h] = vpdpbusd(acc[r][h], a_r, w_h)   (u8 x s8, 4 products, no saturation)
 * vpdpbusd wants unsigned activations, so they are packed as u = a + 128;
 * sum u*w = sum a*w + 128 * sum w, and the driver subtracts the per-channel
 * 128 * sum w computed when the weights were packed: exact for all inputs.
 * The fp32 ops are the AVX2 algorithms at 16 lanes with masked row tails.
 */
#include "simd/kern.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define MR 12
#define NR 32
#define KU 4

static inline int32_t load32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* c[12 x 32] (+)= A [kc/4][12][4] uint8 x W [kc/4][32][4] int8 */
static void ukr_avx512vnni(int kc, const void *ap, const int8_t *w, int32_t *c, int ldc,
                           int accumulate)
{
    const uint8_t *a = ap;
    __m512i z = _mm512_setzero_si512();
    __m512i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
    __m512i c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z;
    __m512i c80 = z, c81 = z, c90 = z, c91 = z, cA0 = z, cA1 = z, cB0 = z, cB1 = z;
    for (int g = 0; g < kc / KU; g++, a += MR * KU, w += NR * KU) {
        __m512i w0 = _mm512_loadu_si512((const void *)w);
        __m512i w1 = _mm512_loadu_si512((const void *)(w + 64));
#define ROW(r, i)                                                         \
    {                                                                     \
        __m512i av = _mm512_set1_epi32(load32(a + (i) * KU));             \
        c##r##0 = _mm512_dpbusd_epi32(c##r##0, av, w0);                   \
        c##r##1 = _mm512_dpbusd_epi32(c##r##1, av, w1);                   \
    }
        ROW(0, 0) ROW(1, 1) ROW(2, 2) ROW(3, 3) ROW(4, 4) ROW(5, 5)
        ROW(6, 6) ROW(7, 7) ROW(8, 8) ROW(9, 9) ROW(A, 10) ROW(B, 11)
#undef ROW
    }
#define STORE(r, i)                                                          \
    {                                                                        \
        int32_t *p = c + (size_t)(i) * ldc;                                  \
        if (accumulate) {                                                    \
            c##r##0 = _mm512_add_epi32(c##r##0, _mm512_loadu_si512(p));      \
            c##r##1 = _mm512_add_epi32(c##r##1, _mm512_loadu_si512(p + 16)); \
        }                                                                    \
        _mm512_storeu_si512(p, c##r##0);                                     \
        _mm512_storeu_si512(p + 16, c##r##1);                                \
    }
    STORE(0, 0) STORE(1, 1) STORE(2, 2) STORE(3, 3) STORE(4, 4) STORE(5, 5)
    STORE(6, 6) STORE(7, 7) STORE(8, 8) STORE(9, 9) STORE(A, 10) STORE(B, 11)
#undef STORE
}

/* o = (float)(c - comp) * (wscale * ascale) (+ bias), 16 lanes; separate
 * roundings like the scalar formula (no FMA on purpose). */
static void epilogue_avx512(float *o, const int32_t *c, const int32_t *comp, const float *wscale,
                            const float *bias, float ascale, int n)
{
    const __m512 as = _mm512_set1_ps(ascale);
    int q = 0;
    for (; q + 16 <= n; q += 16) {
        __m512i s = _mm512_loadu_si512(c + q);
        if (comp)
            s = _mm512_sub_epi32(s, _mm512_loadu_si512(comp + q));
        __m512 sc = _mm512_mul_ps(_mm512_loadu_ps(wscale + q), as);
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(s), sc);
        if (bias)
            v = _mm512_add_ps(v, _mm512_loadu_ps(bias + q));
        _mm512_storeu_ps(o + q, v);
    }
    if (q < n)
        tav_scalar_epilogue(o + q, c + q, comp ? comp + q : NULL, wscale + q,
                            bias ? bias + q : NULL, ascale, n - q);
}

/* ---------------------------------------------------------------- fp32 ops
 *
 * The AVX2 algorithms at 16 lanes; row tails use masked loads/stores, so
 * every element goes through the same vector formula. */

/* e^x as in kern_avx2.c: clamp, x = n ln2 + r, degree-6 polynomial, 2^n. */
static inline __m512 exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3365447f)), _mm512_set1_ps(88.3762626f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

static inline __mmask16 tail_mask(size_t left) { return (__mmask16)((1u << left) - 1u); }

/* gelu_tanh(x) = x * sigmoid(2u) = x / (1 + e^(-2u)) (see kern_avx2.c) */
static void gelu_avx512(float *y, const float *x, size_t n)
{
    const __m512 c2 = _mm512_set1_ps(-2.0f * 0.7978845608028654f), k3 = _mm512_set1_ps(0.044715f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
        __m512 t = _mm512_mul_ps(c2, _mm512_fmadd_ps(k3, v3, v));
        _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(v, _mm512_add_ps(one, exp512(t))));
    }
}

static void silu_avx512(float *y, const float *x, size_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f), neg = _mm512_set1_ps(-0.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 e = exp512(_mm512_xor_ps(v, neg));
        _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
}

static void add_avx512(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i),
                                                      _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static void mul_avx512(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i),
                                                      _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static void softmax_avx512(float *y, const float *x, int rows, int n)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        __m512 vm = _mm512_set1_ps(-INFINITY);
        for (int i = 0; i < n; i += 16) {
            __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(n - i));
            vm = _mm512_mask_max_ps(vm, m, vm, _mm512_maskz_loadu_ps(m, xr + i));
        }
        const __m512 vmx = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
        __m512 vs = _mm512_setzero_ps();
        for (int i = 0; i < n; i += 16) {
            __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(n - i));
            __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + i), vmx));
            e = _mm512_maskz_mov_ps(m, e);
            _mm512_mask_storeu_ps(yr + i, m, e);
            vs = _mm512_add_ps(vs, e);
        }
        const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vs));
        for (int i = 0; i < n; i += 16) {
            __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(n - i));
            _mm512_mask_storeu_ps(yr + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, yr + i), inv));
        }
    }
}

/* sum of (x - sub) or of (x - sub)^2 over one row */
static float row_sum512(const float *x, int n, float sub, int square)
{
    __m512 s = _mm512_setzero_ps();
    const __m512 vsub = _mm512_set1_ps(sub);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(n - i));
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), vsub);
        s = square ? _mm512_fmadd_ps(d, d, s) : _mm512_add_ps(s, d);
    }
    return _mm512_reduce_add_ps(s);
}

static void scale_row512(float *y, const float *x, int n, float mean, float rstd,
                         const float *gamma, const float *beta)
{
    const __m512 vm = _mm512_set1_ps(mean), vr = _mm512_set1_ps(rstd);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(n - i));
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm), vr);
        if (gamma)
            v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, gamma + i));
        if (beta)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, beta + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

static void layernorm_avx512(float *y, const float *x, int rows, int n, const float *gamma,
                             const float *beta, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float mean = row_sum512(xr, n, 0.0f, 0) / (float)n;
        float var = row_sum512(xr, n, mean, 1) / (float)n;
        scale_row512(y + (size_t)r * n, xr, n, mean, 1.0f / sqrtf(var + eps), gamma, beta);
    }
}

static void rmsnorm_avx512(float *y, const float *x, int rows, int n, const float *gamma, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float ms = row_sum512(xr, n, 0.0f, 1) / (float)n;
        scale_row512(y + (size_t)r * n, xr, n, 0.0f, 1.0f / sqrtf(ms + eps), gamma, NULL);
    }
}

/* exact like the reference: cvtps rounds half to even under the default MXCSR */
static void quant_rows_avx512(int8_t *q, float *scale, const float *x, int rows, int k)
{
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * k;
        int8_t *qr = q + (size_t)r * k;
        __m512 vmax = _mm512_setzero_ps();
        for (int i = 0; i < k; i += 16) {
            __mmask16 m = k - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(k - i));
            vmax = _mm512_max_ps(vmax, _mm512_and_ps(_mm512_maskz_loadu_ps(m, xr + i), absmask));
        }
        float amax = _mm512_reduce_max_ps(vmax);
        if (amax < TAV_QUANT_MIN_AMAX) {
            scale[r] = 0.0f;
            memset(qr, 0, (size_t)k);
            continue;
        }
        scale[r] = amax / 127.0f;
        const __m512 vinv = _mm512_set1_ps(127.0f / amax);
        const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
        for (int i = 0; i < k; i += 16) {
            __mmask16 m = k - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(k - i));
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), vinv));
            v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
            _mm_mask_storeu_epi8(qr + i, m, _mm512_cvtepi32_epi8(v));
        }
    }
}

/* Register-only vpdpbusd loop: 16 independent zmm accumulators per
 * iteration (enough to hide the 4-5 cycle latency at 2/cycle), 64 MACs each. */
static double peak_avx512vnni(int variant, long iters)
{
    if (variant != 0 || iters < 1)
        return 0.0;
    long n = iters;
#define DP(acc) "vpdpbusd %%zmm1, %%zmm0, %%" acc "\n\t"
    __asm__ volatile("vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
                     "vpxord %%zmm1, %%zmm1, %%zmm1\n\t"
                     "1:\n\t"
                     DP("zmm16") DP("zmm17") DP("zmm18") DP("zmm19")
                     DP("zmm20") DP("zmm21") DP("zmm22") DP("zmm23")
                     DP("zmm24") DP("zmm25") DP("zmm26") DP("zmm27")
                     DP("zmm28") DP("zmm29") DP("zmm30") DP("zmm31")
                     "dec %[n]\n\t"
                     "jnz 1b\n\t"
                     "vzeroupper\n\t"
                     : [n] "+r"(n)
                     :
                     : "xmm0", "xmm1", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
                       "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",
                       "xmm30", "xmm31", "cc");
#undef DP
    return (double)iters * 16 * 64 * 2;
}

const tav_kern tav_kern_avx512vnni = {
    .isa = TAV_ISA_AVX512VNNI,
    .mr = MR, .nr = NR, .ku = KU,
    .afmt = TAV_AFMT_U8,
    .mc = 96, .nc = 128, .kc = 2048,
    .ukr = ukr_avx512vnni,
    .epilogue = epilogue_avx512,
    .quant_rows = quant_rows_avx512,
    .layernorm = layernorm_avx512,
    .rmsnorm = rmsnorm_avx512,
    .softmax = softmax_avx512,
    .gelu = gelu_avx512,
    .silu = silu_avx512,
    .add = add_avx512,
    .mul = mul_avx512,
    .peak = peak_avx512vnni,
};
