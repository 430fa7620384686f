/* kern_neondot.c — the AArch64 dot-product path (ARMv8.2 sdot).
 *
 * int8 GEMM, 8 x 8 micro-tile (16 accumulators), k in groups of 4:
 *   w (8 ch x 4 k)   -> 2 q registers of 4 channels x 4 k
 *   a (8 rows x 4 k) -> 2 q registers of 4 rows x 4 k
 *   acc[r][h] = vdotq_laneq_s32(acc[r][h], w_h, a_(r/4), r%4)
 * sdot multiplies int8 by int8 and adds 4 products into an int32 lane:
 * exact for the whole range, no zero point needed. fp32 ops: the NEON ones.
 */
#include "simd/kern.h"

#include <arm_neon.h>

#define MR 8
#define NR 8
#define KU 4

/* c[8 x 8] (+)= A [kc/4][8][4] int8 x W [kc/4][8][4] int8 */
static void ukr_neondot(int kc, const void *ap, const int8_t *w, int32_t *c, int ldc,
                        int accumulate)
{
    const int8_t *a = ap;
    int32x4_t acc[MR][2];
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = vdupq_n_s32(0);
    for (int g = 0; g < kc / KU; g++, a += MR * KU, w += NR * KU) {
        int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16);
        int8x16_t a0 = vld1q_s8(a), a1 = vld1q_s8(a + 16);
#define ROWS(v, base)                                                        \
    acc[base + 0][0] = vdotq_laneq_s32(acc[base + 0][0], w0, v, 0);          \
    acc[base + 0][1] = vdotq_laneq_s32(acc[base + 0][1], w1, v, 0);          \
    acc[base + 1][0] = vdotq_laneq_s32(acc[base + 1][0], w0, v, 1);          \
    acc[base + 1][1] = vdotq_laneq_s32(acc[base + 1][1], w1, v, 1);          \
    acc[base + 2][0] = vdotq_laneq_s32(acc[base + 2][0], w0, v, 2);          \
    acc[base + 2][1] = vdotq_laneq_s32(acc[base + 2][1], w1, v, 2);          \
    acc[base + 3][0] = vdotq_laneq_s32(acc[base + 3][0], w0, v, 3);          \
    acc[base + 3][1] = vdotq_laneq_s32(acc[base + 3][1], w1, v, 3);
        ROWS(a0, 0)
        ROWS(a1, 4)
#undef ROWS
    }
    for (int i = 0; i < MR; i++) {
        int32_t *p = c + (size_t)i * ldc;
        if (accumulate) {
            acc[i][0] = vaddq_s32(acc[i][0], vld1q_s32(p));
            acc[i][1] = vaddq_s32(acc[i][1], vld1q_s32(p + 4));
        }
        vst1q_s32(p, acc[i][0]);
        vst1q_s32(p + 4, acc[i][1]);
    }
}

/* Register-only sdot loop: 8 independent accumulators, 16 MACs each. */
static double peak_neondot(int variant, long iters)
{
    if (variant != 0 || iters < 1)
        return 0.0;
    long n = iters;
#define SDOT(acc) "sdot " acc ".4s, v0.16b, v1.16b\n\t"
    __asm__ volatile("movi v0.16b, #0\n\t"
                     "movi v1.16b, #0\n\t"
                     "1:\n\t"
                     SDOT("v16") SDOT("v17") SDOT("v18") SDOT("v19")
                     SDOT("v20") SDOT("v21") SDOT("v22") SDOT("v23")
                     "subs %x[n], %x[n], #1\n\t"
                     "b.ne 1b\n\t"
                     : [n] "+r"(n)
                     :
                     : "v0", "v1", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "cc");
#undef SDOT
    return (double)iters * 8 * 16 * 2;
}

const tav_kern tav_kern_neondot = {
    .isa = TAV_ISA_NEONDOT,
    .mr = MR, .nr = NR, .ku = KU,
    .afmt = TAV_AFMT_S8,
    .mc = 64, .nc = 128, .kc = 512,
    .ukr = ukr_neondot,
    .epilogue = tav_neon_epilogue,
    .quant_rows = tav_neon_quant_rows,
    .layernorm = tav_neon_layernorm,
    .rmsnorm = tav_neon_rmsnorm,
    .softmax = tav_neon_softmax,
    .gelu = tav_neon_gelu,
    .silu = tav_neon_silu,
    .add = tav_neon_add,
    .mul = tav_neon_mul,
    .peak = peak_neondot,
};
