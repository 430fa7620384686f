/* kern_avx2.c — the AVX2 path: exact int8 GEMM micro-kernel and fp32 ops.
 *
 * int8 GEMM, 6 x 16 micro-tile, activations packed as int16 pairs:
 *   for each pair of k:  w (16 ch x 2 k, int8) --vpmovsxbw--> 2 ymm of int16
 *                        a (row r, 2 k, int16) --vpbroadcastd--> ymm
 *                        acc[r][h] += vpmaddwd(a, w_h)        (12 accumulators)
 * Why vpmaddwd on int16 and not vpmaddubsw on bytes: vpmaddubsw adds two
 * u8 x s8 products into a SATURATING int16, which is wrong for e.g.
 * 255*-128 + 255*-128; making it exact for the full int8 range needs a
 * second multiply per pair. A vpmaddubsw+vpmaddwd pair spends two
 * multiplier uops per 32 MACs, exactly what two vpmaddwd spend, so on
 * cores with two vector multipliers (Zen, Skylake and later) both reach
 * the same MAC/cycle peak; `tav bench gemm` measures both loops.
 */
#include "simd/kern.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define MR 6
#define NR 16
#define KU 2

static inline int32_t load32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---------------------------------------------------------------- GEMM */

/* c[6 x 16] (+)= A [kc/2][6][2] int16 x W [kc/2][16][2] int8 */
static void ukr_avx2(int kc, const void *ap, const int8_t *w, int32_t *c, int ldc, int accumulate)
{
    const int16_t *a = ap;
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int g = 0; g < kc / KU; g++, a += MR * KU, w += NR * KU) {
        __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w));
        __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 16)));
#define ROW(r)                                                                  \
    {                                                                           \
        __m256i av = _mm256_set1_epi32(load32(a + (r) * KU));                   \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(av, w0));         \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(av, w1));         \
    }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
#define STORE(r)                                                                       \
    {                                                                                  \
        __m256i *p0 = (__m256i *)(c + (r) * ldc), *p1 = (__m256i *)(c + (r) * ldc + 8); \
        if (accumulate) {                                                              \
            c##r##0 = _mm256_add_epi32(c##r##0, _mm256_loadu_si256(p0));               \
            c##r##1 = _mm256_add_epi32(c##r##1, _mm256_loadu_si256(p1));               \
        }                                                                              \
        _mm256_storeu_si256(p0, c##r##0);                                              \
        _mm256_storeu_si256(p1, c##r##1);                                              \
    }
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}

/* o = (float)(c - comp) * (wscale * ascale) (+ bias): mul, mul, add as
 * separate roundings, like the scalar formula (no FMA here on purpose). */
static void epilogue_avx2(float *o, const int32_t *c, const int32_t *comp, const float *wscale,
                          const float *bias, float ascale, int n)
{
    const __m256 as = _mm256_set1_ps(ascale);
    int q = 0;
    for (; q + 8 <= n; q += 8) {
        __m256i s = _mm256_loadu_si256((const __m256i *)(c + q));
        if (comp)
            s = _mm256_sub_epi32(s, _mm256_loadu_si256((const __m256i *)(comp + q)));
        __m256 sc = _mm256_mul_ps(_mm256_loadu_ps(wscale + q), as);
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(s), sc);
        if (bias)
            v = _mm256_add_ps(v, _mm256_loadu_ps(bias + q));
        _mm256_storeu_ps(o + q, v);
    }
    if (q < n)
        tav_scalar_epilogue(o + q, c + q, comp ? comp + q : NULL, wscale + q,
                            bias ? bias + q : NULL, ascale, n - q);
}

/* Packs a full 6-row A panel ([k/2][6][2] int16) when k is even: per 16 k,
 * six 16-byte rows are sign-extended to 8 int16 pairs each (one dword per
 * k-pair), an 8 x 8 dword transpose (rows 6, 7 are don't-care) turns them
 * into one vector per k-pair, and its first 6 dwords are stored (16 + 8
 * bytes, never past the pair). Bytes identical to the generic packing. */
static int pack_a_avx2(void *dst, const int8_t *a, int k, int kp, int rows)
{
    if (rows != MR || k % 2 || kp != k)
        return 0;
    int16_t *d = dst;
    int p = 0;
    for (; p + 16 <= k; p += 16, d += 8 * MR * KU) {
        __m256i r[8];
        for (int i = 0; i < MR; i++)
            r[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + (size_t)i * k + p)));
        r[6] = r[7] = _mm256_setzero_si256();
        /* 8 x 8 transpose of dwords: t = pairs of rows, u = quads, v = columns */
        __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
        __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
        __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
        __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
        __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
        __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
        __m256i v[8] = {
            _mm256_permute2x128_si256(u0, u4, 0x20), _mm256_permute2x128_si256(u1, u5, 0x20),
            _mm256_permute2x128_si256(u2, u6, 0x20), _mm256_permute2x128_si256(u3, u7, 0x20),
            _mm256_permute2x128_si256(u0, u4, 0x31), _mm256_permute2x128_si256(u1, u5, 0x31),
            _mm256_permute2x128_si256(u2, u6, 0x31), _mm256_permute2x128_si256(u3, u7, 0x31),
        };
        for (int g = 0; g < 8; g++) {
            int16_t *o = d + g * MR * KU; /* 6 dwords = 24 bytes */
            _mm_storeu_si128((__m128i *)o, _mm256_castsi256_si128(v[g]));
            _mm_storel_epi64((__m128i *)(o + 8), _mm256_extracti128_si256(v[g], 1));
        }
    }
    for (; p < k; p += 2, d += MR * KU)
        for (int i = 0; i < MR; i++) {
            d[i * KU] = a[(size_t)i * k + p];
            d[i * KU + 1] = a[(size_t)i * k + p + 1];
        }
    return 1;
}

/* ---------------------------------------------------------------- exp */

/* e^x for x in [-87.3, 88.3] (clamped outside): Cody-Waite reduction
 * x = n ln2 + r, |r| <= ln2/2, then a degree-6 Taylor polynomial of e^r
 * (error < 2 ulp) scaled by 2^n built in the exponent field. */
static inline __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365447f)), _mm256_set1_ps(88.3762626f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax256(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---------------------------------------------------------------- activations */

/* gelu_tanh(x) = 0.5 x (1 + tanh(u)) = x * sigmoid(2u) = x / (1 + e^(-2u)),
 * u = sqrt(2/pi) (x + 0.044715 x^3): same function, one exp, no cancellation. */
void tav_avx2_gelu(float *y, const float *x, size_t n)
{
    const __m256 c2 = _mm256_set1_ps(-2.0f * 0.7978845608028654f), k3 = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
        __m256 t = _mm256_mul_ps(c2, _mm256_fmadd_ps(k3, v3, v));
        _mm256_storeu_ps(y + i, _mm256_div_ps(v, _mm256_add_ps(one, exp256(t))));
    }
    if (i < n)
        tav_ref_gelu(y + i, x + i, n - i);
}

void tav_avx2_silu(float *y, const float *x, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 e = exp256(_mm256_xor_ps(v, neg));
        _mm256_storeu_ps(y + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
    }
    if (i < n)
        tav_ref_silu(y + i, x + i, n - i);
}

void tav_avx2_add(float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++)
        y[i] = a[i] + b[i];
}

void tav_avx2_mul(float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++)
        y[i] = a[i] * b[i];
}

/* ---------------------------------------------------------------- rows */

void tav_avx2_softmax(float *y, const float *x, int rows, int n)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        int i = 0;
        __m256 vm = _mm256_set1_ps(-INFINITY);
        for (; i + 8 <= n; i += 8)
            vm = _mm256_max_ps(vm, _mm256_loadu_ps(xr + i));
        float mx = hmax256(vm);
        for (; i < n; i++)
            mx = fmaxf(mx, xr[i]);
        __m256 vmx = _mm256_set1_ps(mx), vs = _mm256_setzero_ps();
        for (i = 0; i + 8 <= n; i += 8) {
            __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vmx));
            _mm256_storeu_ps(yr + i, e);
            vs = _mm256_add_ps(vs, e);
        }
        float sum = hsum256(vs);
        for (; i < n; i++) {
            yr[i] = expf(xr[i] - mx);
            sum += yr[i];
        }
        __m256 inv = _mm256_set1_ps(1.0f / sum);
        for (i = 0; i + 8 <= n; i += 8)
            _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_loadu_ps(yr + i), inv));
        for (; i < n; i++)
            yr[i] *= 1.0f / sum;
    }
}

static float row_sum(const float *x, int n, float sub, int square)
{
    __m256 s = _mm256_setzero_ps(), vsub = _mm256_set1_ps(sub);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vsub);
        s = square ? _mm256_fmadd_ps(d, d, s) : _mm256_add_ps(s, d);
    }
    float t = hsum256(s);
    for (; i < n; i++)
        t += square ? (x[i] - sub) * (x[i] - sub) : x[i] - sub;
    return t;
}

/* y = (x - mean) * rstd * gamma + beta over one row */
static void scale_row(float *y, const float *x, int n, float mean, float rstd, const float *gamma,
                      const float *beta)
{
    const __m256 vm = _mm256_set1_ps(mean), vr = _mm256_set1_ps(rstd);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vr);
        if (gamma)
            v = _mm256_mul_ps(v, _mm256_loadu_ps(gamma + i));
        if (beta)
            v = _mm256_add_ps(v, _mm256_loadu_ps(beta + i));
        _mm256_storeu_ps(y + i, v);
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

void tav_avx2_layernorm(float *y, const float *x, int rows, int n, const float *gamma,
                        const float *beta, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float mean = row_sum(xr, n, 0.0f, 0) / (float)n;
        float var = row_sum(xr, n, mean, 1) / (float)n;
        scale_row(y + (size_t)r * n, xr, n, mean, 1.0f / sqrtf(var + eps), gamma, beta);
    }
}

void tav_avx2_rmsnorm(float *y, const float *x, int rows, int n, const float *gamma, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float ms = row_sum(xr, n, 0.0f, 1) / (float)n;
        scale_row(y + (size_t)r * n, xr, n, 0.0f, 1.0f / sqrtf(ms + eps), gamma, NULL);
    }
}

/* ---------------------------------------------------------------- quantise */

void tav_avx2_quant_rows(int8_t *q, float *scale, const float *x, int rows, int k)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * k;
        int8_t *qr = q + (size_t)r * k;
        __m256 vmax = _mm256_setzero_ps();
        int i = 0;
        for (; i + 8 <= k; i += 8)
            vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(xr + i), absmask));
        float amax = hmax256(vmax);
        for (; i < k; i++)
            amax = fmaxf(amax, fabsf(xr[i]));
        if (amax < TAV_QUANT_MIN_AMAX) {
            scale[r] = 0.0f;
            memset(qr, 0, (size_t)k);
            continue;
        }
        scale[r] = amax / 127.0f;
        const float inv = 127.0f / amax;
        const __m256 vinv = _mm256_set1_ps(inv);
        const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
        for (i = 0; i + 8 <= k; i += 8) {
            /* cvtps rounds half to even under the default MXCSR, like nearbyintf */
            __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xr + i), vinv));
            v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
            __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            __m128i w8 = _mm_packs_epi16(w16, w16);
            _mm_storel_epi64((__m128i *)(qr + i), w8);
        }
        for (; i < k; i++) {
            float v = nearbyintf(xr[i] * inv);
            qr[i] = (int8_t)fminf(fmaxf(v, -127.0f), 127.0f);
        }
    }
}

/* ---------------------------------------------------------------- peak */

/* Register-only int8 MAC loops: 8 independent accumulators per iteration.
 * variant 0: vpmaddubsw + vpmaddwd(ones) + vpaddd: 8 x 32 MACs
 * variant 1: vpmaddwd + vpaddd:                     8 x 16 MACs
 * Inline asm so the compiler cannot hoist the loop-invariant products. */
static double peak_avx2(int variant, long iters)
{
    if (iters < 1)
        return 0.0;
    long n = iters;
#define MADDUBS(acc) "vpmaddubsw %%ymm1, %%ymm0, %%ymm2\n\t" \
                     "vpmaddwd %%ymm15, %%ymm2, %%ymm2\n\t"  \
                     "vpaddd %%ymm2, %%" acc ", %%" acc "\n\t"
#define MADDWD(acc) "vpmaddwd %%ymm1, %%ymm0, %%ymm2\n\t" \
                    "vpaddd %%ymm2, %%" acc ", %%" acc "\n\t"
    if (variant == 0) {
        __asm__ volatile("vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
                         "vpxor %%ymm1, %%ymm1, %%ymm1\n\t"
                         "vpxor %%ymm15, %%ymm15, %%ymm15\n\t"
                         "1:\n\t"
                         MADDUBS("ymm3") MADDUBS("ymm4") MADDUBS("ymm5") MADDUBS("ymm6")
                         MADDUBS("ymm7") MADDUBS("ymm8") MADDUBS("ymm9") MADDUBS("ymm10")
                         "dec %[n]\n\t"
                         "jnz 1b\n\t"
                         "vzeroupper\n\t"
                         : [n] "+r"(n)
                         :
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                           "xmm8", "xmm9", "xmm10", "xmm15", "cc");
        return (double)iters * 8 * 32 * 2;
    }
    if (variant == 1) {
        __asm__ volatile("vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
                         "vpxor %%ymm1, %%ymm1, %%ymm1\n\t"
                         "1:\n\t"
                         MADDWD("ymm3") MADDWD("ymm4") MADDWD("ymm5") MADDWD("ymm6")
                         MADDWD("ymm7") MADDWD("ymm8") MADDWD("ymm9") MADDWD("ymm10")
                         "dec %[n]\n\t"
                         "jnz 1b\n\t"
                         "vzeroupper\n\t"
                         : [n] "+r"(n)
                         :
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                           "xmm8", "xmm9", "xmm10", "cc");
        return (double)iters * 8 * 16 * 2;
    }
#undef MADDUBS
#undef MADDWD
    return 0.0;
}

/* ---------------------------------------------------------------- table */

const tav_kern tav_kern_avx2 = {
    .isa = TAV_ISA_AVX2,
    .mr = MR, .nr = NR, .ku = KU,
    .afmt = TAV_AFMT_S16,
    .mc = 48, .nc = 128, .kc = 1536,
    .ukr = ukr_avx2,
    .pack_a = pack_a_avx2,
    .epilogue = epilogue_avx2,
    .quant_rows = tav_avx2_quant_rows,
    .layernorm = tav_avx2_layernorm,
    .rmsnorm = tav_avx2_rmsnorm,
    .softmax = tav_avx2_softmax,
    .gelu = tav_avx2_gelu,
    .silu = tav_avx2_silu,
    .add = tav_avx2_add,
    .mul = tav_avx2_mul,
    .peak = peak_avx2,
};
