/* simd.h — int8 GEMM and fp32 vector kernels, dispatched once by CPU features.
 *
 *   // once at start-up (honours TAV_ISA=scalar|avx2|avx512vnni|neon|neondot)
 *   if (tav_simd_init() != TAV_OK) { fprintf(stderr, "%s\n", tav_last_error()); exit(1); }
 *
 *   // a linear layer y = gelu(x W^T + b): pack W once at load ...
 *   tav_gemm_weights *lw;
 *   tav_gemm_pack_weights(w_s8, w_scale, bias, n_out, k, tav_simd_isa(), &lw);
 *   // ... then per call: quantise the rows of x, multiply, fused activation
 *   tav_simd_quant_rows(xq, xscale, x, m, k);          // int8 + one scale per row
 *   tav_gemm_s8(lw, xq, xscale, m, y, TAV_ACT_GELU, pool, ws);  // ws: tav_gemm_workspace_size()
 *   tav_gemm_free_weights(lw);
 *
 * The scalar reference functions tav_ref_*() are the specification: every
 * ISA path is tested against them (tests/test_simd_*.c). The int8 GEMM is
 * exact: all paths produce the same int32 accumulators as the reference for
 * the whole int8 range of both operands, and the same fp32 output bytes when
 * no activation is fused. The fp32 ops agree with the reference within the
 * named tolerances below. docs/kernels.md describes layouts and blocking.
 *
 * Threading: kernels never start threads; tav_gemm_s8() cuts its output
 * into tiles and runs them on the caller's tav_pool (core/threadpool.h).
 * Output bytes do not depend on the pool size.
 */
#ifndef TAV_SIMD_H
#define TAV_SIMD_H

#include "core/status.h"
#include "core/threadpool.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- dispatch */

typedef enum tav_isa {
    TAV_ISA_SCALAR = 0,  /* portable C, every build                        */
    TAV_ISA_AVX2,        /* x86-64 AVX2+FMA: int8 GEMM via vpmaddwd (exact) */
    TAV_ISA_AVX512VNNI,  /* x86-64 AVX-512 F/BW/VL + VNNI: vpdpbusd         */
    TAV_ISA_NEON,        /* AArch64 Advanced SIMD: vmull_s8 + vpadal        */
    TAV_ISA_NEONDOT,     /* AArch64 + dot product (ARMv8.2 sdot)            */
    TAV_ISA_COUNT
} tav_isa;

/* Detects the CPU once and picks the best path, or the one named by the
 * environment variable TAV_ISA. Idempotent. Errors: TAV_ERR_INVALID_ARG
 * (TAV_ISA names no path), TAV_ERR_UNSUPPORTED (this CPU or build lacks the
 * forced path; the message names the missing features). On error the best
 * available path stays in use. Call it at start-up, before starting threads
 * (the first call is not thread-safe; later calls only read). */
tav_status tav_simd_init(void);

/* The path in use (calls tav_simd_init() on first use). */
tav_isa tav_simd_isa(void);

/* Switches the path in use, e.g. for tests and benchmarks. Not thread-safe:
 * call while no kernel runs. Error TAV_ERR_UNSUPPORTED if unavailable. */
tav_status tav_simd_set_isa(tav_isa isa);

/* "scalar", "avx2", "avx512vnni", "neon", "neondot"; "?" if out of range. */
const char *tav_simd_isa_name(tav_isa isa);

/* Parses a name as above. Error TAV_ERR_INVALID_ARG for unknown names. */
tav_status tav_simd_parse_isa(const char *name, tav_isa *out);

/* 1 if the path is compiled into this binary (x86 paths on x86-64 builds,
 * NEON paths on AArch64 builds, scalar always). */
int tav_simd_isa_built(tav_isa isa);

/* 1 if built and this CPU (and OS) supports it. */
int tav_simd_isa_supported(tav_isa isa);

/* Prints the CPU features found, the paths available and the one in use
 * (the body of `tav info --cpu`). */
void tav_simd_print_cpu(FILE *f);

/* Peak int8 multiply-accumulate throughput loop for `tav bench`: runs a
 * register-only loop of `iters` iterations of the path's int8 MAC
 * instruction(s) and returns the number of int8 operations done (a MAC is
 * 2 ops). variant selects among loops a path has (AVX2: 0 = vpmaddubsw +
 * vpmaddwd + vpaddd, 1 = vpmaddwd + vpaddd); returns 0 for a variant or
 * path without such a loop, or when the CPU lacks the path. */
double tav_simd_peak_loop(tav_isa isa, int variant, long iters);

/* ---------------------------------------------------------------- int8 GEMM
 *
 *   out[m][n] = act( (float)acc[m][n] * (wscale[n] * ascale[m]) + bias[n] )
 *   acc[m][n] = sum_k a[m][k] * w[n][k]        (int32, exact)
 *
 * a: int8 activations [m x k] row-major, one scale per row (ascale[m]).
 * w: int8 weights [n_out x k] row-major (PyTorch Linear layout), one scale
 *    per output channel. Both operands may use the full range -128..127.
 * Exactness bound: k <= TAV_GEMM_MAX_K keeps every int32 sum (including the
 * VNNI path's +128 zero-point term) below 2^31.
 */
#define TAV_GEMM_MAX_K 65536

typedef enum tav_act {
    TAV_ACT_NONE = 0,
    TAV_ACT_GELU, /* tanh approximation = PyTorch gelu(approximate='tanh') */
    TAV_ACT_SILU, /* x * sigmoid(x)                                        */
} tav_act;

typedef struct tav_gemm_weights tav_gemm_weights; /* opaque, packed */

/* Packs w [n_out x k] for `isa`'s micro-kernel (layout: docs/kernels.md) and
 * copies wscale [n_out] and bias [n_out] (bias may be NULL). The packed form
 * owns its memory (tav_malloc); w, wscale and bias may be freed afterwards.
 * Errors: TAV_ERR_INVALID_ARG (n_out or k < 1, k > TAV_GEMM_MAX_K),
 * TAV_ERR_UNSUPPORTED (isa not built/supported here), TAV_ERR_NOMEM. */
tav_status tav_gemm_pack_weights(const int8_t *w, const float *wscale, const float *bias,
                                 int n_out, int k, tav_isa isa, tav_gemm_weights **out);

/* Frees a packed weight matrix; NULL is a no-op. */
void tav_gemm_free_weights(tav_gemm_weights *pw);

/* n_out, k and the path a packed matrix was made for. */
int tav_gemm_weights_n(const tav_gemm_weights *pw);
int tav_gemm_weights_k(const tav_gemm_weights *pw);
tav_isa tav_gemm_weights_isa(const tav_gemm_weights *pw);

/* Bytes of scratch tav_gemm_s8()/tav_gemm_s8_acc() need for m rows (the
 * activations re-packed for the micro-kernel). 0 if m < 1 or it overflows. */
size_t tav_gemm_workspace_size(const tav_gemm_weights *pw, int m);

/* out [m x n_out] fp32 row-major = the formula above, with `act` fused.
 * a [m x k] row-major, ascale [m]. workspace: tav_gemm_workspace_size()
 * bytes, any alignment, or NULL to have one allocated and freed per call.
 * pool may be NULL (single thread). Errors: TAV_ERR_INVALID_ARG, TAV_ERR_NOMEM. */
tav_status tav_gemm_s8(const tav_gemm_weights *pw, const int8_t *a, const float *ascale, int m,
                       float *out, tav_act act, tav_pool *pool, void *workspace);

/* fp32 activations in: x [m x k] row-major is quantised per row exactly as
 * tav_simd_quant_rows() would (on the paths that can, fused with the
 * packing, so no int8 copy of x is written), then multiplied as
 * tav_gemm_s8(): the same output bytes as quant_rows + tav_gemm_s8.
 * workspace: tav_gemm_workspace_size_f32() bytes or NULL (allocated).
 * Errors: TAV_ERR_INVALID_ARG, TAV_ERR_NOMEM. */
size_t tav_gemm_workspace_size_f32(const tav_gemm_weights *pw, int m);
tav_status tav_gemm_s8_f32(const tav_gemm_weights *pw, const float *x, int m, float *out,
                           tav_act act, tav_pool *pool, void *workspace);

/* As tav_gemm_s8_f32, but each row of x [m x k] is n_seg runs of
 * seg = k / n_seg floats that live anywhere (e.g. the 9 taps of a 3x3
 * convolution, each a pixel's channels in a channels-last map): seg(ctx, r0,
 * n, ptrs) sets ptrs[i * n_seg + s] to run s of row r0 + i (i < n <= 16),
 * NULL for a run of zeros. The
 * rows are quantised and packed per GEMM panel straight from the runs (on
 * AVX-512 when seg is a multiple of 16; other paths assemble the panel's
 * rows on the stack first), so the m x k matrix is never written. Called
 * from several pool threads at once. Needs n_seg <= TAV_GEMM_MAX_SEGS and
 * k <= TAV_GEMM_SEGS_MAX_K, else TAV_ERR_INVALID_ARG. Workspace:
 * tav_gemm_workspace_size_f32(). Same bytes as tav_gemm_s8_f32 on the
 * assembled rows (for finite x). */
#define TAV_GEMM_MAX_SEGS 16
#define TAV_GEMM_SEGS_MAX_K 1024
typedef void (*tav_gemm_seg_fn)(void *ctx, int r0, int n, const float **ptrs);
tav_status tav_gemm_s8_segs(const tav_gemm_weights *pw, int n_seg, tav_gemm_seg_fn seg, void *ctx,
                            int m, float *out, tav_act act, tav_pool *pool, void *workspace);

/* The raw int32 accumulators acc [m x n_out] (tests, quantisation reports). */
tav_status tav_gemm_s8_acc(const tav_gemm_weights *pw, const int8_t *a, int m, int32_t *acc,
                           tav_pool *pool, void *workspace);

/* ---------------------------------------------------------------- fp32 ops
 *
 * Dispatched to the path in use. Rows are contiguous (stride n). In-place
 * (y == x) is allowed everywhere; otherwise buffers must not overlap.
 */

/* Rows whose largest |x| is below this quantise as all-zero rows: 127 / max
 * overflows float for max below ~3.7e-37, and a row that small contributes
 * nothing an fp32 output could show. */
#define TAV_QUANT_MIN_AMAX 1e-30f

/* Per-row symmetric int8 quantisation: scale[r] = max|x[r][:]| / 127,
 * q = round-half-even(x * (127 / max)), in -127..127; a row whose max is
 * below TAV_QUANT_MIN_AMAX (all zeros included) gets scale 0 and q = 0.
 * Exact: every path gives the reference's bytes. */
void tav_simd_quant_rows(int8_t *q, float *scale, const float *x, int rows, int k);

/* y = (x - mean) / sqrt(var + eps) * gamma + beta per row; gamma/beta may be
 * NULL (1 and 0). var is the biased variance (PyTorch LayerNorm). */
void tav_simd_layernorm(float *y, const float *x, int rows, int n, const float *gamma,
                        const float *beta, float eps);

/* y = x / sqrt(mean(x^2) + eps) * gamma per row; gamma may be NULL. */
void tav_simd_rmsnorm(float *y, const float *x, int rows, int n, const float *gamma, float eps);

/* Row softmax, max-subtracted. */
void tav_simd_softmax(float *y, const float *x, int rows, int n);

/* y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  — PyTorch's
 * gelu(approximate='tanh'). Not the erf GELU. */
void tav_simd_gelu(float *y, const float *x, size_t n);

/* y = x * sigmoid(x) = x / (1 + exp(-x)). */
void tav_simd_silu(float *y, const float *x, size_t n);

/* y = a + b and y = a * b elementwise (y may alias a or b). Exact. */
void tav_simd_add(float *y, const float *a, const float *b, size_t n);
void tav_simd_mul(float *y, const float *a, const float *b, size_t n);

/* Small strided fp32 products (attention: a few dozen rows, head width k),
 * row-major with leading dimensions; c must not overlap a or b:
 *   matmul_nt: c[i*ldc + j] = alpha * sum_p a[i*lda + p] * b[j*ldb + p]
 *   matmul_nn: c[i*ldc + j] =         sum_p a[i*lda + p] * b[p*ldb + j]
 * for i < m, j < n, p < k, the sum taken in p order. For the shapes the
 * engine uses they avoid a BLAS call's fixed cost (packing, buffers). */
void tav_simd_matmul_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                        int ldb, float *c, int ldc);
void tav_simd_matmul_nn(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                        float *c, int ldc);

/* Named tolerances of the SIMD fp32 ops against the reference, as
 * |y - y_ref| <= ABS + REL * |y_ref| per element. Why these values:
 * - GELU: the SIMD paths compute x*sigmoid(2u) = x/(1+exp(-2u)) with a
 *   degree-6 exp (< 2 ulp); the reference's 0.5x(1+tanh u) itself loses
 *   absolute accuracy ~0.5|x|*2^-24 where 1+tanh(u) cancels (x < -2), so
 *   the absolute floor is 1e-6 (|x| up to ~30) and the relative part 2e-6.
 *   Measured worst on AVX2: 0.7 of the earlier 1e-7/1e-6 bound.
 * - SiLU: the same formula as the reference with a < 2 ulp exp: 1e-6
 *   relative (8 ulp) plus a 1e-7 floor for results near 0.
 * - softmax: vector partial sums change the summation order of n terms and
 *   exp differs by < 2 ulp: allow ~16 ulp relative plus 1e-7 absolute.
 * - layer/RMS norm: partial sums in a different order for mean and variance;
 *   the relative error of the result is bounded by ~n*eps*|x|/std, so
 *   1e-5 relative plus 1e-5 absolute covers n up to a few thousand. */
#define TAV_TOL_GELU_REL 2e-6f
#define TAV_TOL_GELU_ABS 1e-6f
#define TAV_TOL_SILU_REL 1e-6f
#define TAV_TOL_SILU_ABS 1e-7f
#define TAV_TOL_SOFTMAX_REL 2e-6f
#define TAV_TOL_SOFTMAX_ABS 1e-7f
#define TAV_TOL_NORM_REL 1e-5f
#define TAV_TOL_NORM_ABS 1e-5f
/* matmul: a path may fuse multiply-add (one rounding instead of two per
 * term), so each of the k partial sums may differ by about an ulp of
 * itself: the difference is bounded by ~k * 2^-24 * sum_p |a_p b_p|. The
 * allowance is REL * k * sum_p |a_p b_p| (judged against that sum, not |c|,
 * which cancellation can make tiny): 16x the 2^-24 ~ 6e-8 bound. Measured
 * worst on AVX-512: 0.024 of it. */
#define TAV_TOL_MATMUL_REL 1e-6f

/* ---------------------------------------------------------------- reference
 *
 * The specification of every kernel above, in plain scalar C (simd/ref.c).
 * Same contracts as the dispatched versions; w is unpacked [n x k].
 */
void tav_ref_gemm_s8_acc(const int8_t *a, const int8_t *w, int m, int n, int k, int32_t *acc);
void tav_ref_gemm_s8(const int8_t *a, const float *ascale, const int8_t *w, const float *wscale,
                     const float *bias, int m, int n, int k, tav_act act, float *out);
void tav_ref_quant_rows(int8_t *q, float *scale, const float *x, int rows, int k);
void tav_ref_layernorm(float *y, const float *x, int rows, int n, const float *gamma,
                       const float *beta, float eps);
void tav_ref_rmsnorm(float *y, const float *x, int rows, int n, const float *gamma, float eps);
void tav_ref_softmax(float *y, const float *x, int rows, int n);
void tav_ref_gelu(float *y, const float *x, size_t n);
void tav_ref_silu(float *y, const float *x, size_t n);
void tav_ref_add(float *y, const float *a, const float *b, size_t n);
void tav_ref_mul(float *y, const float *a, const float *b, size_t n);
void tav_ref_matmul_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                       int ldb, float *c, int ldc);
void tav_ref_matmul_nn(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                       float *c, int ldc);

#endif
