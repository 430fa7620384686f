/* kern.h — private: the per-ISA kernel table behind simd.h's dispatch.
 *
 * Each path (simd/kern_scalar.c, simd/x86/kern_avx2.c, ...) defines one
 * const tav_kern. The GEMM driver (simd/gemm.c) packs operands into the
 * layout the table describes and calls `ukr` on micro-tiles:
 *
 *   A panel (activations): [kp/ku][mr][ku] elements of a_fmt, zero padded
 *   W panel (weights):     [kp/ku][nr][ku] int8, zero padded
 *   ukr: c[mr x nr] (row stride ldc) = (accumulate ? c : 0) + A x W^T over kc
 *
 * kc is a multiple of ku; panels are addressed at k offsets that are too.
 */
#ifndef TAV_SIMD_KERN_H
#define TAV_SIMD_KERN_H

#include "simd/simd.h"

typedef enum tav_afmt {
    TAV_AFMT_S8 = 0, /* int8 as is                                    */
    TAV_AFMT_U8,     /* uint8 = a + 128 (VNNI's u8 x s8; compensated) */
    TAV_AFMT_S16,    /* int16 sign-extended (AVX2 vpmaddwd)           */
} tav_afmt;

typedef void (*tav_ukr_fn)(int kc, const void *a, const int8_t *w, int32_t *c, int ldc,
                           int accumulate);

typedef struct tav_kern {
    tav_isa isa;
    /* int8 GEMM geometry and blocking (docs/kernels.md) */
    int mr, nr, ku;   /* micro-tile rows x channels; k-group the panels interleave */
    tav_afmt afmt;    /* how activations are packed */
    int mc, nc, kc;   /* tile rows (mult of mr), tile channels (mult of nr), depth chunk (mult of ku) */
    tav_ukr_fn ukr;
    /* optional: ukr for the first nr/2 channels of a panel only (the rest
     * of the c columns are not written), for panels whose real channels
     * end there (e.g. a 16-channel layer on a 32-wide path) */
    tav_ukr_fn ukr_half;
    /* optional faster packing of one A panel (same layout as the generic
     * code in gemm.c); returns 0 to let the generic code do this panel */
    int (*pack_a)(void *dst, const int8_t *a, int k, int kp, int rows);
    /* optional: quantise `rows` fp32 rows of x (stride k) exactly as
     * tav_ref_quant_rows (scales into scale[0..rows)) straight into one A
     * panel, as quant_rows + the packing would; returns 0 to decline (the
     * driver then quantises into a row buffer and packs) */
    int (*quant_pack_a)(void *dst, float *scale, const float *x, int k, int kp, int rows);
    /* optional: the same from rows made of runs (tav_gemm_s8_segs): row r is
     * ptrs[r * n_seg + s] (NULL: zeros), s < n_seg, seg floats each; 0 to
     * decline (the driver assembles the rows and uses the above) */
    int (*quant_pack_segs)(void *dst, float *scale, const float *const *ptrs, int n_seg, int seg,
                           int kp, int rows);
    /* one row segment of the GEMM epilogue: o[q] = (float)(c[q] - comp[q]) *
     * (wscale[q] * ascale) (+ bias[q]); comp and bias may be NULL. Must give
     * the scalar formula's bits: no FMA contraction, one rounding per step. */
    void (*epilogue)(float *o, const int32_t *c, const int32_t *comp, const float *wscale,
                     const float *bias, float ascale, int n);
    /* fp32 ops (same contracts as simd.h) */
    void (*quant_rows)(int8_t *q, float *scale, const float *x, int rows, int k);
    void (*layernorm)(float *y, const float *x, int rows, int n, const float *gamma,
                      const float *beta, float eps);
    void (*rmsnorm)(float *y, const float *x, int rows, int n, const float *gamma, float eps);
    void (*softmax)(float *y, const float *x, int rows, int n);
    void (*gelu)(float *y, const float *x, size_t n);
    void (*silu)(float *y, const float *x, size_t n);
    void (*add)(float *y, const float *a, const float *b, size_t n);
    void (*mul)(float *y, const float *a, const float *b, size_t n);
    /* small fp32 products (simd.h); NULL: the reference is used */
    void (*matmul_nt)(int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                      int ldb, float *c, int ldc);
    void (*matmul_nn)(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                      float *c, int ldc);
    /* register-only peak loop (see tav_simd_peak_loop); NULL if none */
    double (*peak)(int variant, long iters);
} tav_kern;

/* The table for a path, or NULL if not built into this binary. Does not
 * check the CPU (tav_simd_isa_supported does). */
const tav_kern *tav_kern_get(tav_isa isa);

/* The table of the path in use. */
const tav_kern *tav_kern_active(void);

extern const tav_kern tav_kern_scalar;
void tav_scalar_epilogue(float *o, const int32_t *c, const int32_t *comp, const float *wscale,
                         const float *bias, float ascale, int n);
#if defined(__x86_64__)
extern const tav_kern tav_kern_avx2;
extern const tav_kern tav_kern_avx512vnni;
/* AVX2 fp32 ops (simd/x86/kern_avx2.c) */
void tav_avx2_quant_rows(int8_t *q, float *scale, const float *x, int rows, int k);
void tav_avx2_layernorm(float *y, const float *x, int rows, int n, const float *gamma,
                        const float *beta, float eps);
void tav_avx2_rmsnorm(float *y, const float *x, int rows, int n, const float *gamma, float eps);
void tav_avx2_softmax(float *y, const float *x, int rows, int n);
void tav_avx2_gelu(float *y, const float *x, size_t n);
void tav_avx2_silu(float *y, const float *x, size_t n);
void tav_avx2_add(float *y, const float *a, const float *b, size_t n);
void tav_avx2_mul(float *y, const float *a, const float *b, size_t n);
#endif
#if defined(__aarch64__)
extern const tav_kern tav_kern_neon;
extern const tav_kern tav_kern_neondot;
/* NEON fp32 ops (simd/arm/kern_neon.c), shared by the dotprod table */
void tav_neon_epilogue(float *o, const int32_t *c, const int32_t *comp, const float *wscale,
                       const float *bias, float ascale, int n);
void tav_neon_quant_rows(int8_t *q, float *scale, const float *x, int rows, int k);
void tav_neon_layernorm(float *y, const float *x, int rows, int n, const float *gamma,
                        const float *beta, float eps);
void tav_neon_rmsnorm(float *y, const float *x, int rows, int n, const float *gamma, float eps);
void tav_neon_softmax(float *y, const float *x, int rows, int n);
void tav_neon_gelu(float *y, const float *x, size_t n);
void tav_neon_silu(float *y, const float *x, size_t n);
void tav_neon_add(float *y, const float *a, const float *b, size_t n);
void tav_neon_mul(float *y, const float *a, const float *b, size_t n);
#endif

#endif
