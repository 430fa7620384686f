/* kern_avx512.c — the AVX-512 VNNI path: vpdpbusd int8 GEMM micro-kernel.
 *
 * 12 x 32 micro-tile (24 zmm accumulators), k in groups of 4:
 *   w (32 ch x 4 k, int8)  -> 2 zmm loads
 *   a (row r, 4 k, uint8)  -> dword broadcast (folded into vpdpbusd's memory operand)
 *   acc[r][h] = vpdpbusd(acc[r][h], a_r, w_h)   (u8 x s8, 4 products, no saturation)
 * vpdpbusd wants unsigned activations, so they are packed as u = a + 128;
 * sum u*w = sum a*w + 128 * sum w, and the driver subtracts the per-channel
 * 128 * sum w computed when the weights were packed: exact for all inputs.
 * The fp32 ops are the AVX2 ones (memory-bound at the model's row sizes).
 */
#include "simd/kern.h"

#include <immintrin.h>
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
    .quant_rows = tav_avx2_quant_rows,
    .layernorm = tav_avx2_layernorm,
    .rmsnorm = tav_avx2_rmsnorm,
    .softmax = tav_avx2_softmax,
    .gelu = tav_avx2_gelu,
    .silu = tav_avx2_silu,
    .add = tav_avx2_add,
    .mul = tav_avx2_mul,
    .peak = peak_avx512vnni,
};
