/* linear.h — the linear layer every matrix product of the engine goes through:
 * y[m][n] = act( sum_k x[m][k] W[n][k] + b[n] ), W stored [n_out, k] (PyTorch).
 *
 *   tav_linear l;
 *   tav_linear_init(&l, model, "dit.blocks.0.attn_s.q", 1);   // picks fp32 or int8 by dtype
 *   tav_linear_scratch s;  // bytes: tav_linear_scratch_bytes(&l, m), from the caller's arena
 *   tav_linear_scratch_set(&s, buf, bytes);
 *   tav_linear_forward(&l, x, m, y, TAV_ACT_GELU, pool, &s);
 *   tav_linear_free(&l);
 *
 * Paths, chosen per tensor by the weight's dtype in the model file:
 *  - f32: W is a view into the mmap'd file (no copy); cblas_sgemm with
 *    OpenBLAS held at one thread, cut into fixed TAV_LINEAR_ROW_TILE-row
 *    tiles that run on the tav_pool. The tiling does not depend on the pool
 *    size and each tile is one sgemm call of a fixed shape, so the bytes are
 *    the same for any thread count.
 *  - s8 (per-output-channel scales, written by `tav quantize`): W is packed
 *    once at init for simd/'s int8 GEMM; per call the rows of x are
 *    quantised to int8 with one dynamic scale per row (tav_simd_quant_rows),
 *    multiplied exactly in int32, rescaled, bias and activation fused.
 *    simd/ guarantees the bytes do not depend on the pool size.
 *
 * Convolutions use the same layer: a 3x3 conv weight [out, in, 3, 3] is a
 * linear weight [out, in*9] applied to im2col rows (core/vae.c).
 *
 * Quantiser hook: tav_engine_set_linear_hook(fn, user) makes every fp32
 * linear call fn(user, name, x [m,k], y [m,n]) after the product and bias,
 * before the activation, so quant/ can run calibration prompts and measure
 * per-layer errors. Calls are serialised by a mutex (the VAE decodes frames
 * on several threads); the hook must not call back into the engine.
 */
#ifndef TAV_LINEAR_H
#define TAV_LINEAR_H

#include "core/model_file.h"
#include "core/status.h"
#include "core/threadpool.h"
#include "simd/simd.h"

#include <stddef.h>
#include <stdint.h>

/* Rows per fp32 GEMM tile: fixed, so the split never depends on threads. */
#define TAV_LINEAR_ROW_TILE 128

typedef struct tav_linear {
    char name[TAV_MODEL_MAX_NAME + 1]; /* the weight's name without ".weight"        */
    int n_out, k;
    const float *w;          /* f32 path: [n_out, k] view into the model file, else NULL */
    tav_gemm_weights *pw;    /* s8 path: packed weights (owned), else NULL               */
    const float *bias;       /* [n_out] view into the file, or NULL (f32 path)           */
    int tap_major;           /* conv3x3 only: k ordered (ky, kx, ci), see init_conv3x3   */
    float *w_owned;          /* f32 conv3x3: the reordered copy l->w points at           */
} tav_linear;

/* Caller-provided scratch for one forward call (int8 path: quantised rows,
 * row scales and the GEMM workspace; fp32 path: nothing). */
typedef struct tav_linear_scratch {
    uint8_t *buf;
    size_t bytes;
} tav_linear_scratch;

/* Looks up "<prefix>.weight" ([n_out, k] or [n_out, in, kh, kw], flattened to
 * k = in*kh*kw) and, if need_bias, "<prefix>.bias" [n_out] in m.
 * f32 weights are borrowed from the mapping (m must outlive l); s8 weights
 * are packed (tav_malloc). Errors: TAV_ERR_FORMAT (missing tensor, wrong
 * shape or dtype: the message names the tensor), TAV_ERR_NOMEM. */
tav_status tav_linear_init(tav_linear *l, const tav_model *m, const char *prefix, int need_bias);
/* A 3x3 convolution "<prefix>.weight" [n_out, cin, 3, 3] as a linear layer
 * whose k = 9*cin inputs are ordered tap-major, (ky, kx, ci), instead of the
 * file's (ci, ky, kx): im2col can then copy each tap's cin contiguous
 * channels at once (a channels-last activation), which measured 3x faster
 * than the file order's stride-9 stores. The reorder costs one copy of the
 * (small) decoder weights at load, for f32 too. The quantiser hook still
 * sees x in the file's order (un-permuted into a temporary buffer, only when
 * a hook is installed). */
tav_status tav_linear_init_conv3x3(tav_linear *l, const tav_model *m, const char *prefix);

/* Checks the layer is [n_out, k]; TAV_ERR_FORMAT naming it otherwise. */
tav_status tav_linear_expect(const tav_linear *l, int n_out, int k);
/* Frees what l owns and drops its weight views: afterwards l is unloaded
 * (tav_linear_forward on it is TAV_ERR_INTERNAL). NULL or zeroed l is fine. */
void tav_linear_free(tav_linear *l);

/* 1 if the layer runs on the int8 path. */
static inline int tav_linear_is_int8(const tav_linear *l) { return l->pw != NULL; }

/* Scratch bytes tav_linear_forward needs for m rows (0 for fp32). */
size_t tav_linear_scratch_bytes(const tav_linear *l, int m);

/* y [m, n_out] = act(x [m, k] W^T + b). x and y must not overlap. s may be
 * NULL on the fp32 path; on the int8 path it must hold
 * tav_linear_scratch_bytes(l, m) bytes (else TAV_ERR_INTERNAL). A layer
 * that holds no weights (never loaded by tav_linear_init, e.g. a zeroed
 * struct, or freed) is TAV_ERR_INTERNAL naming it, for any m >= 1; m < 1
 * is a no-op. pool may be
 * NULL. Called from inside a pool tile, the tiles run serially in that
 * thread (threadpool.h's nesting rule). */
tav_status tav_linear_forward(const tav_linear *l, const float *x, int m, float *y, tav_act act,
                              tav_pool *pool, const tav_linear_scratch *s);

/* A 3x3 convolution, zero padding 1, over a channels-last map in [Hs, Ws, cin]
 * read through a nearest 2x upsample when up = 1 (output H = Hs << up by
 * W = Ws << up): output pixels p0 .. p0+m-1 (p = y * W + x) into out
 * [m, n_out] = act(conv). The same bytes as tav_linear_forward on im2col rows
 * col[p][(ky*3 + kx)*cin + ci] (l from tav_linear_init_conv3x3), but int8
 * layers make those rows per GEMM panel while they are used (the m x k
 * matrix is never written; k <= 1024); fp32 layers (and a k beyond that)
 * write them into col (m * k floats) first. Scratch: tav_linear_scratch_bytes(l, m).
 * TAV_ERR_INTERNAL for a layer not from tav_linear_init_conv3x3 or without
 * weights (as tav_linear_forward); m < 1 is a no-op. */
/* fp32 layers with n_out <= 4 and cin a multiple of 16 (the decoder's
 * conv_out) are the exception: computed directly in a fixed order of their
 * own (core/linear.c, conv_few_out), not through sgemm; they match the im2col
 * + sgemm bytes within this relative tolerance of the largest |output| (two
 * fp32 summation orders over k <= 9 * 64 terms: a few ulps) */
#define TAV_TOL_CONV_FEW_REL 1e-5f
tav_status tav_linear_conv3x3(const tav_linear *l, const float *in, int Hs, int Ws, int up, int p0,
                              int m, float *out, tav_act act, float *col, tav_pool *pool,
                              const tav_linear_scratch *s);

/* ---------------------------------------------------------------- quantiser hook */

typedef void (*tav_linear_hook_fn)(void *user, const char *name, const float *x, int m, int k,
                                   const float *y, int n);

/* Installs (or with fn NULL removes) the process-wide hook. Not thread-safe
 * against running generations: set it before generating. */
void tav_engine_set_linear_hook(tav_linear_hook_fn fn, void *user);

/* Forces OpenBLAS to one thread (the engine threads itself); idempotent. */
void tav_linear_blas_single_thread(void);

#endif
