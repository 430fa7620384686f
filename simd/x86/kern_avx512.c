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

/* X(name suffix, row index) for the 12 rows of a micro-tile */
#define EACH_ROW(X)                                                         \
    X(0, 0) X(1, 1) X(2, 2) X(3, 3) X(4, 4) X(5, 5) X(6, 6) X(7, 7) X(8, 8) \
    X(9, 9) X(A, 10) X(B, 11)

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
        EACH_ROW(ROW)
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
    EACH_ROW(STORE)
#undef STORE
}

/* c[12 x 16] (+)= the first 16 channels of the W panel (16-channel layers) */
static void ukr_half_avx512vnni(int kc, const void *ap, const int8_t *w, int32_t *c, int ldc,
                                int accumulate)
{
    const uint8_t *a = ap;
    __m512i z = _mm512_setzero_si512();
    __m512i c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, c6 = z, c7 = z, c8 = z, c9 = z;
    __m512i cA = z, cB = z;
    for (int g = 0; g < kc / KU; g++, a += MR * KU, w += NR * KU) {
        __m512i w0 = _mm512_loadu_si512((const void *)w);
#define ROW(r, i) c##r = _mm512_dpbusd_epi32(c##r, _mm512_set1_epi32(load32(a + (i) * KU)), w0);
        EACH_ROW(ROW)
#undef ROW
    }
#define STORE(r, i)                                                          \
    {                                                                        \
        int32_t *p = c + (size_t)(i) * ldc;                                  \
        if (accumulate)                                                      \
            c##r = _mm512_add_epi32(c##r, _mm512_loadu_si512(p));            \
        _mm512_storeu_si512(p, c##r);                                        \
    }
    EACH_ROW(STORE)
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
/* max |x[0..k)| as the reference computes it (fmaxf over the row) */
static float row_amax512(const float *xr, int k)
{
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 vmax = _mm512_setzero_ps();
    for (int i = 0; i < k; i += 16) {
        __mmask16 m = k - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(k - i));
        vmax = _mm512_max_ps(vmax, _mm512_and_ps(_mm512_maskz_loadu_ps(m, xr + i), absmask));
    }
    return _mm512_reduce_max_ps(vmax);
}

/* 16 values (lanes under m) of one row -> 16 int8, round half to even, clamped */
static inline __m128i quant16(const float *xr, __mmask16 m, __m512 vinv)
{
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr), vinv));
    return _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi));
}

static void quant_rows_avx512(int8_t *q, float *scale, const float *x, int rows, int k)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * k;
        int8_t *qr = q + (size_t)r * k;
        float amax = row_amax512(xr, k);
        if (amax < TAV_QUANT_MIN_AMAX) {
            scale[r] = 0.0f;
            memset(qr, 0, (size_t)k);
            continue;
        }
        scale[r] = amax / 127.0f;
        const __m512 vinv = _mm512_set1_ps(127.0f / amax);
        for (int i = 0; i < k; i += 16) {
            __mmask16 m = k - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(k - i));
            _mm_mask_storeu_epi8(qr + i, m, quant16(xr + i, m, vinv));
        }
    }
}

/* quant_rows fused with the VNNI A packing ([kp/4][12][4] of a + 128).
 * Four rows at a time: their max |x| in four independent chains (each row's
 * own order is row_amax512's, so the scales are its bits), then per 16
 * columns two saturating packs (32 -> 16 -> 8 bits) leave, in 128-bit lane L,
 * columns 4L..4L+3 of rows r..r+3: exactly the panel's 16-byte run for
 * k-group i/4 + L, so no transpose is needed. Saturation then max(-127)
 * equals quant_rows' clamp to [-127, 127] for every int32 (INT_MIN from NaN
 * included). Padding (rows >= rows, columns >= k) is 0, as pack_a_bytes
 * writes it; an all-small row quantises as zeros (0x80 packed), scale 0. */
static void amax4_512(const float *x0, const float *x1, const float *x2, const float *x3, int k,
                      float *amax)
{
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 v0 = _mm512_setzero_ps(), v1 = v0, v2 = v0, v3 = v0;
    for (int i = 0; i < k; i += 16) {
        __mmask16 m = k - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(k - i));
        v0 = _mm512_max_ps(v0, _mm512_and_ps(_mm512_maskz_loadu_ps(m, x0 + i), absmask));
        v1 = _mm512_max_ps(v1, _mm512_and_ps(_mm512_maskz_loadu_ps(m, x1 + i), absmask));
        v2 = _mm512_max_ps(v2, _mm512_and_ps(_mm512_maskz_loadu_ps(m, x2 + i), absmask));
        v3 = _mm512_max_ps(v3, _mm512_and_ps(_mm512_maskz_loadu_ps(m, x3 + i), absmask));
    }
    amax[0] = _mm512_reduce_max_ps(v0);
    amax[1] = _mm512_reduce_max_ps(v1);
    amax[2] = _mm512_reduce_max_ps(v2);
    amax[3] = _mm512_reduce_max_ps(v3);
}

/* byte b of a quad's 64-byte block is row b/4 % 4, column i + 4 (b / 16) + b % 4 */
static __mmask64 quad_mask(int i, int k, int live_rows)
{
    __mmask64 m = 0;
    for (int b = 0; b < 64; b++)
        if ((b / 4) % 4 < live_rows && i + 4 * (b / 16) + b % 4 < k)
            m |= (__mmask64)1 << b;
    return m;
}

static int quant_pack_a_avx512(void *dst, float *scale, const float *x, int k, int kp, int rows)
{
    uint8_t *d = dst;
    const __m512i flip = _mm512_set1_epi8((char)0x80), lo8 = _mm512_set1_epi8(-127);
    for (int r0 = 0; r0 < MR; r0 += 4) {
        int n = rows - r0 < 4 ? (rows - r0 > 0 ? rows - r0 : 0) : 4;
        /* padding rows read row 0 of the quad (or x) under an empty mask */
        const float *xr[4];
        for (int t = 0; t < 4; t++)
            xr[t] = x + (size_t)(t < n ? r0 + t : 0) * k;
        float amax[4], inv[4];
        __mmask16 load[4];
        amax4_512(xr[0], xr[1], xr[2], xr[3], k, amax);
        for (int t = 0; t < 4; t++) {
            int live = t < n && !(amax[t] < TAV_QUANT_MIN_AMAX);
            if (t < n)
                scale[r0 + t] = live ? amax[t] / 127.0f : 0.0f;
            inv[t] = live ? 127.0f / amax[t] : 0.0f;
            load[t] = live ? 0xffff : 0; /* zero and padding rows read as 0 */
        }
        const __m512 v0 = _mm512_set1_ps(inv[0]), v1 = _mm512_set1_ps(inv[1]);
        const __m512 v2 = _mm512_set1_ps(inv[2]), v3 = _mm512_set1_ps(inv[3]);
        for (int i = 0; i < kp; i += 16) {
            __mmask16 cm = k - i >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(k - i));
#define Q(t, v) _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(cm & load[t], xr[t] + i), v))
            __m512i b = _mm512_packs_epi16(_mm512_packs_epi32(Q(0, v0), Q(1, v1)),
                                           _mm512_packs_epi32(Q(2, v2), Q(3, v3)));
#undef Q
            b = _mm512_xor_si512(_mm512_max_epi8(b, lo8), flip);
            if (cm != 0xffff || n < 4)
                b = _mm512_maskz_mov_epi8(quad_mask(i, k, n), b);
            uint8_t *dg = d + ((size_t)(i / KU) * MR + r0) * KU;
            int groups = (kp - i) / KU < 4 ? (kp - i) / KU : 4;
            _mm_storeu_si128((__m128i *)dg, _mm512_castsi512_si128(b));
            if (groups > 1)
                _mm_storeu_si128((__m128i *)(dg + MR * KU), _mm512_extracti32x4_epi32(b, 1));
            if (groups > 2)
                _mm_storeu_si128((__m128i *)(dg + 2 * MR * KU), _mm512_extracti32x4_epi32(b, 2));
            if (groups > 3)
                _mm_storeu_si128((__m128i *)(dg + 3 * MR * KU), _mm512_extracti32x4_epi32(b, 3));
        }
    }
    return 1;
}

/* quant_pack_a_avx512 for rows made of runs (tav_gemm_s8_segs): the same
 * arithmetic, each 16-column block read from the run it lies in (seg is a
 * multiple of 16, so no block straddles two runs); a row's max |x| is taken
 * over its runs (the same values as the assembled row, so the same max for
 * finite x). NULL runs read a block of zeros. */
static const float zeros512[TAV_GEMM_SEGS_MAX_K];

static int quant_pack_segs_avx512(void *dst, float *scale, const float *const *ptrs, int n_seg,
                                  int seg, int kp, int rows)
{
    if (seg % 16)
        return 0;
    uint8_t *d = dst;
    const __m512i flip = _mm512_set1_epi8((char)0x80), lo8 = _mm512_set1_epi8(-127);
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int r0 = 0; r0 < MR; r0 += 4) {
        int n = rows - r0 < 4 ? (rows - r0 > 0 ? rows - r0 : 0) : 4;
        const float *p[4][TAV_GEMM_MAX_SEGS];
        for (int t = 0; t < 4; t++)
            for (int sg = 0; sg < n_seg; sg++) {
                const float *q = t < n ? ptrs[(r0 + t) * n_seg + sg] : NULL;
                p[t][sg] = q ? q : zeros512;
            }
        __m512 m0 = _mm512_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
        for (int sg = 0; sg < n_seg; sg++)
            for (int i = 0; i < seg; i += 16) {
                m0 = _mm512_max_ps(m0, _mm512_and_ps(_mm512_loadu_ps(p[0][sg] + i), absmask));
                m1 = _mm512_max_ps(m1, _mm512_and_ps(_mm512_loadu_ps(p[1][sg] + i), absmask));
                m2 = _mm512_max_ps(m2, _mm512_and_ps(_mm512_loadu_ps(p[2][sg] + i), absmask));
                m3 = _mm512_max_ps(m3, _mm512_and_ps(_mm512_loadu_ps(p[3][sg] + i), absmask));
            }
        float amax[4] = {_mm512_reduce_max_ps(m0), _mm512_reduce_max_ps(m1),
                         _mm512_reduce_max_ps(m2), _mm512_reduce_max_ps(m3)};
        float inv[4];
        __mmask16 load[4];
        for (int t = 0; t < 4; t++) {
            int live = t < n && !(amax[t] < TAV_QUANT_MIN_AMAX);
            if (t < n)
                scale[r0 + t] = live ? amax[t] / 127.0f : 0.0f;
            inv[t] = live ? 127.0f / amax[t] : 0.0f;
            load[t] = live ? 0xffff : 0;
        }
        const __m512 v0 = _mm512_set1_ps(inv[0]), v1 = _mm512_set1_ps(inv[1]);
        const __m512 v2 = _mm512_set1_ps(inv[2]), v3 = _mm512_set1_ps(inv[3]);
        const __mmask64 keep = n < 4 ? quad_mask(0, 16, n) : ~(__mmask64)0;
        for (int i = 0; i < kp; i += 16) {
            int sg = i / seg, ci = i % seg;
#define Q(t, v) _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(load[t], p[t][sg] + ci), v))
            __m512i b = _mm512_packs_epi16(_mm512_packs_epi32(Q(0, v0), Q(1, v1)),
                                           _mm512_packs_epi32(Q(2, v2), Q(3, v3)));
#undef Q
            b = _mm512_maskz_mov_epi8(keep, _mm512_xor_si512(_mm512_max_epi8(b, lo8), flip));
            uint8_t *dg = d + ((size_t)(i / KU) * MR + r0) * KU;
            _mm_storeu_si128((__m128i *)dg, _mm512_castsi512_si128(b));
            _mm_storeu_si128((__m128i *)(dg + MR * KU), _mm512_extracti32x4_epi32(b, 1));
            _mm_storeu_si128((__m128i *)(dg + 2 * MR * KU), _mm512_extracti32x4_epi32(b, 2));
            _mm_storeu_si128((__m128i *)(dg + 3 * MR * KU), _mm512_extracti32x4_epi32(b, 3));
        }
    }
    return 1;
}

/* Small fp32 products, four rows of c at a time (four independent FMA
 * chains hide the FMA latency). nt: 16 columns of c at a time from a k x 16
 * copy of those rows of b (transposed on the stack); nn: rows of b are
 * already contiguous in j. Each sum in p order with fused multiply-add
 * (TAV_TOL_MATMUL_REL). Rows past m in a block of four read row 0 and are
 * not stored. */
#define MATMUL_MAX_K 512
static void matmul_nt_avx512(int m, int n, int k, float alpha, const float *a, int lda,
                             const float *b, int ldb, float *c, int ldc)
{
    if (k > MATMUL_MAX_K) {
        tav_ref_matmul_nt(m, n, k, alpha, a, lda, b, ldb, c, ldc);
        return;
    }
    _Alignas(64) float bt[MATMUL_MAX_K * 16];
    const __m512 va = _mm512_set1_ps(alpha);
    for (int j0 = 0; j0 < n; j0 += 16) {
        int nj = n - j0 < 16 ? n - j0 : 16;
        __mmask16 mj = tail_mask((size_t)nj); /* nj = 16: all 16 bits */
        for (int j = 0; j < 16; j++)
            for (int p = 0; p < k; p++)
                bt[p * 16 + j] = j < nj ? b[(size_t)(j0 + j) * ldb + p] : 0.0f;
        for (int i = 0; i < m; i += 4) {
            const float *a0 = a + (size_t)i * lda;
            const float *a1 = i + 1 < m ? a0 + lda : a0, *a2 = i + 2 < m ? a0 + 2 * (size_t)lda : a0;
            const float *a3 = i + 3 < m ? a0 + 3 * (size_t)lda : a0;
            __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (int p = 0; p < k; p++) {
                __m512 bv = _mm512_load_ps(bt + p * 16);
                c0 = _mm512_fmadd_ps(_mm512_set1_ps(a0[p]), bv, c0);
                c1 = _mm512_fmadd_ps(_mm512_set1_ps(a1[p]), bv, c1);
                c2 = _mm512_fmadd_ps(_mm512_set1_ps(a2[p]), bv, c2);
                c3 = _mm512_fmadd_ps(_mm512_set1_ps(a3[p]), bv, c3);
            }
            float *ci = c + (size_t)i * ldc + j0;
            _mm512_mask_storeu_ps(ci, mj, _mm512_mul_ps(va, c0));
            if (i + 1 < m)
                _mm512_mask_storeu_ps(ci + ldc, mj, _mm512_mul_ps(va, c1));
            if (i + 2 < m)
                _mm512_mask_storeu_ps(ci + 2 * (size_t)ldc, mj, _mm512_mul_ps(va, c2));
            if (i + 3 < m)
                _mm512_mask_storeu_ps(ci + 3 * (size_t)ldc, mj, _mm512_mul_ps(va, c3));
        }
    }
}

static void matmul_nn_avx512(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                             float *c, int ldc)
{
    for (int j0 = 0; j0 < n; j0 += 16) {
        __mmask16 mj = n - j0 >= 16 ? (__mmask16)0xffff : tail_mask((size_t)(n - j0));
        for (int i = 0; i < m; i += 4) {
            const float *a0 = a + (size_t)i * lda;
            const float *a1 = i + 1 < m ? a0 + lda : a0, *a2 = i + 2 < m ? a0 + 2 * (size_t)lda : a0;
            const float *a3 = i + 3 < m ? a0 + 3 * (size_t)lda : a0;
            __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            const float *bp = b + j0;
            for (int p = 0; p < k; p++, bp += ldb) {
                __m512 bv = _mm512_maskz_loadu_ps(mj, bp);
                c0 = _mm512_fmadd_ps(_mm512_set1_ps(a0[p]), bv, c0);
                c1 = _mm512_fmadd_ps(_mm512_set1_ps(a1[p]), bv, c1);
                c2 = _mm512_fmadd_ps(_mm512_set1_ps(a2[p]), bv, c2);
                c3 = _mm512_fmadd_ps(_mm512_set1_ps(a3[p]), bv, c3);
            }
            float *ci = c + (size_t)i * ldc + j0;
            _mm512_mask_storeu_ps(ci, mj, c0);
            if (i + 1 < m)
                _mm512_mask_storeu_ps(ci + ldc, mj, c1);
            if (i + 2 < m)
                _mm512_mask_storeu_ps(ci + 2 * (size_t)ldc, mj, c2);
            if (i + 3 < m)
                _mm512_mask_storeu_ps(ci + 3 * (size_t)ldc, mj, c3);
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
    .ukr_half = ukr_half_avx512vnni,
    .epilogue = epilogue_avx512,
    .quant_rows = quant_rows_avx512,
    .quant_pack_a = quant_pack_a_avx512,
    .quant_pack_segs = quant_pack_segs_avx512,
    .layernorm = layernorm_avx512,
    .rmsnorm = rmsnorm_avx512,
    .softmax = softmax_avx512,
    .gelu = gelu_avx512,
    .silu = silu_avx512,
    .add = add_avx512,
    .mul = mul_avx512,
    .matmul_nt = matmul_nt_avx512,
    .matmul_nn = matmul_nn_avx512,
    .peak = peak_avx512vnni,
};
