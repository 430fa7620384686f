/* kern_scalar.c — the portable path: a plain-C GEMM micro-kernel that uses
 * the same packed layouts and driver as the SIMD paths (so the driver is
 * exercised on every machine), and the reference fp32 ops. */
#include "simd/kern.h"

#define S_MR 4
#define S_NR 8
#define S_KU 4

/* c[4 x 8] (+)= A panel [kc/4][4][4] x W panel [kc/4][8][4] */
static void ukr_scalar(int kc, const void *ap, const int8_t *w, int32_t *c, int ldc,
                       int accumulate)
{
    const int8_t *a = ap;
    int32_t acc[S_MR][S_NR];
    for (int i = 0; i < S_MR; i++)
        for (int j = 0; j < S_NR; j++)
            acc[i][j] = accumulate ? c[i * ldc + j] : 0;
    for (int g = 0; g < kc / S_KU; g++) {
        const int8_t *ag = a + (size_t)g * S_MR * S_KU;
        const int8_t *wg = w + (size_t)g * S_NR * S_KU;
        for (int i = 0; i < S_MR; i++)
            for (int j = 0; j < S_NR; j++) {
                int32_t s = 0;
                for (int u = 0; u < S_KU; u++)
                    s += (int32_t)ag[i * S_KU + u] * (int32_t)wg[j * S_KU + u];
                acc[i][j] += s;
            }
    }
    for (int i = 0; i < S_MR; i++)
        for (int j = 0; j < S_NR; j++)
            c[i * ldc + j] = acc[i][j];
}

void tav_scalar_epilogue(float *o, const int32_t *c, const int32_t *comp, const float *wscale,
                         const float *bias, float ascale, int n)
{
    for (int q = 0; q < n; q++) {
        int32_t s = comp ? c[q] - comp[q] : c[q];
        /* the reference's order, one rounding per statement */
        float sc = wscale[q] * ascale;
        float v = (float)s * sc;
        if (bias)
            v = v + bias[q];
        o[q] = v;
    }
}

const tav_kern tav_kern_scalar = {
    .isa = TAV_ISA_SCALAR,
    .mr = S_MR, .nr = S_NR, .ku = S_KU,
    .afmt = TAV_AFMT_S8,
    .mc = 32, .nc = 64, .kc = 512,
    .ukr = ukr_scalar,
    .epilogue = tav_scalar_epilogue,
    .quant_rows = tav_ref_quant_rows,
    .layernorm = tav_ref_layernorm,
    .rmsnorm = tav_ref_rmsnorm,
    .softmax = tav_ref_softmax,
    .gelu = tav_ref_gelu,
    .silu = tav_ref_silu,
    .add = tav_ref_add,
    .mul = tav_ref_mul,
    .peak = NULL,
};
