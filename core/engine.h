/* engine.h — the inference engine's internal modules, behind core/pipeline.h.
 *
 * The forward definition these mirror is docs/model.md (train/model.py is the
 * reference). One line per module:
 *   core/arena.c        bump allocator: activations sized once per run
 *   core/linear.c       linear layer: fp32 sgemm (fixed row tiles) or int8 simd GEMM; quantiser hook
 *   core/layers.c       layer norm, adaLN modulation, multi-head attention, sinusoidal embeddings
 *   core/tokenizer.c    prompt words -> ids and scene indices; unknown words named
 *   core/text_encoder.c token embeddings + pre-LN transformer -> text [L, Dt]
 *   core/dit.c          the factorised DiT velocity predictor
 *   core/sampler.c      portable noise (splitmix64 + Box-Muller) and the Euler/CFG sampler
 *   core/vae.c          the per-frame decoder, frame-parallel, banded im2col convolutions
 *   core/pipeline.c     the public API: load, plan the arena, generate, progress, cancel
 *
 * Usage inside the engine (pipeline.c does this):
 *
 *   tav_engine_cfg cfg;  tav_engine_cfg_load(model, &cfg);
 *   tav_text_encoder te; tav_text_encoder_load(&te, model, &cfg);
 *   int ids[L], sc[L], n;  tav_tokenizer_encode(&tok, scenes, n_scenes, &cfg, ids, sc, &n);
 *   tav_text_encoder_forward(&te, &ws, ids, sc, n, emb);          // emb [n, Dt]
 *   tav_dit_prepare_text(&dit, &ws, emb, n, txt);                 // txt [n, D], once
 *   tav_dit_forward(&dit, &ws, z, T, tau, txt, n, v, NULL);       // v like z
 *   tav_vae_decode_frames(&vae, &vws, z, T, rgb);                 // bytes
 *
 * Every forward function takes its scratch from a tav_arena carved by the
 * matching *_plan() function: plan against a measuring arena to size it, then
 * against the real one. Nothing here allocates after loading.
 */
#ifndef TAV_ENGINE_H
#define TAV_ENGINE_H

#include "core/arena.h"
#include "core/linear.h"
#include "core/model_file.h"
#include "core/status.h"
#include "core/threadpool.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TAV_ENGINE_MAX_AE_LEVELS 6
/* extra decoder-only 2x levels (model.dec_up_levels): the decoder has
 * ae_levels + dec_up_levels levels, at most TAV_ENGINE_MAX_DEC_LEVELS */
#define TAV_ENGINE_MAX_DEC_UP_LEVELS 2
#define TAV_ENGINE_MAX_DEC_LEVELS (TAV_ENGINE_MAX_AE_LEVELS + TAV_ENGINE_MAX_DEC_UP_LEVELS)

/* ---------------------------------------------------------------- configuration */

typedef struct tav_engine_cfg {
    int image_size, fps, latent_channels, ae_levels, ae_channels[TAV_ENGINE_MAX_AE_LEVELS];
    int dec_up_levels, dec_up_channels[TAV_ENGINE_MAX_DEC_UP_LEVELS]; /* 0 when absent */
    int vocab_size, max_text, max_scenes, text_width, text_layers, text_heads;
    int text_scene_pos;   /* model.text_scene_pos: 1 = text.scene_pos term; 0 when absent */
    int width, depth, heads, patch, mlp_ratio, sample_steps, frames_per_scene;
    double cfg_scale;
    int latent_size;      /* h = image_size / 2^(ae_levels + dec_up_levels) */
    int dec_levels;       /* ae_levels + dec_up_levels */
    int dec_channels[TAV_ENGINE_MAX_DEC_LEVELS]; /* decoder level widths: ae_channels
                                                  * reversed, then dec_up_channels */
    int tokens_per_frame; /* S = (h / patch)^2 */
} tav_engine_cfg;

/* Reads and validates the model.* metadata (docs/model.md). TAV_ERR_FORMAT
 * naming the key on a missing or out-of-range value. */
tav_status tav_engine_cfg_load(const tav_model *m, tav_engine_cfg *cfg);

/* The f32 tensor `name` with exactly n elements (a view into the mapping).
 * TAV_ERR_FORMAT naming it otherwise. */
tav_status tav_engine_tensor_f32(const tav_model *m, const char *name, size_t n, const float **out);

/* Everything a forward pass needs besides weights: the pool and a cancel flag. */
typedef struct tav_engine_ctx {
    tav_pool *pool;
    int n_threads;             /* tav_pool_size(pool) */
    const atomic_int *cancel;  /* may be NULL */
} tav_engine_ctx;

static inline int tav_engine_cancelled(const tav_engine_ctx *c)
{
    return c->cancel && atomic_load(c->cancel) != 0;
}

/* ---------------------------------------------------------------- layers (layers.c) */

/* y[r] = LN(x[r]) over n with biased variance, eps; gamma/beta may be NULL. */
void tav_layer_norm(float *y, const float *x, int rows, int n, const float *gamma,
                    const float *beta, float eps);
/* y[r] = LN(x[r]) * (1 + scale) + shift (adaLN, no affine, eps 1e-6). */
void tav_layer_modulate(float *y, const float *x, int rows, int n, const float *shift,
                        const float *scale);
/* x[r] += gate * y[r] (gate may be NULL: plain residual). */
void tav_layer_residual(float *x, const float *y, int rows, int n, const float *gate);

/* sincos(v, n): out[0..n/2) = cos(v f_i), out[n/2..n) = sin(v f_i),
 * f_i = exp(-ln(10000) i / (n/2)), in float32 like the reference. */
void tav_layer_sincos(float *out, float v, int n);

/* Multi-head attention over groups of tokens. q/y rows are [*, D], k/v rows
 * [*, D]. Group g's query i is row g*q_gstride + i*q_stride; its key j is
 * row g*k_gstride + j*k_stride. All keys are attended (the engine uses exact
 * lengths, so there is no padding mask). Work is split into (group, head,
 * TAV_ATTN_Q_CHUNK queries) tiles, each two sgemm calls of a shape fixed by
 * the problem alone: the bytes do not depend on the pool size.
 * scores: n_threads * TAV_ATTN_Q_CHUNK * n_keys floats. */
#define TAV_ATTN_Q_CHUNK 64
typedef struct tav_attn_shape {
    int groups, n_q, n_k;
    int q_gstride, q_stride, k_gstride, k_stride;
} tav_attn_shape;
void tav_layer_attention(const tav_engine_ctx *ec, const tav_attn_shape *sh, int dim, int heads,
                         const float *q, const float *k, const float *v, float *y, float *scores);

/* Self/cross attention module weights (`<prefix>.q/k/v/o`). */
typedef struct tav_attn_weights {
    tav_linear q, k, v, o;
} tav_attn_weights;
tav_status tav_attn_load(tav_attn_weights *a, const tav_model *m, const char *prefix, int dim,
                         int ctx_dim);
void tav_attn_free(tav_attn_weights *a);
size_t tav_attn_scratch_bytes(const tav_attn_weights *a, int m_q, int m_kv);

/* ---------------------------------------------------------------- tokenizer */

typedef struct tav_tokenizer {
    const char *const *vocab; /* id = index, views into the model file */
    size_t n;
    int pad, unk, sep, bos;
} tav_tokenizer;

tav_status tav_tokenizer_load(tav_tokenizer *t, const tav_model *m, const tav_engine_cfg *cfg);

/* Encodes scene captions: <bos> w(scene 1) <sep> w(scene 2) ... (docs/model.md).
 * ids, scene: room for cfg->max_text entries. Errors: TAV_ERR_UNKNOWN_WORD
 * (the message names every unknown word, quoted, in order of appearance),
 * TAV_ERR_LIMIT (too many scenes or tokens), TAV_ERR_INVALID_ARG (a scene
 * without words). */
tav_status tav_tokenizer_encode(const tav_tokenizer *t, const char *const *scenes, int n_scenes,
                                const tav_engine_cfg *cfg, int *ids, int *scene, int *n_tokens);

/* ---------------------------------------------------------------- text encoder */

typedef struct tav_text_block {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    tav_attn_weights attn;
    tav_linear fc1, fc2;
} tav_text_block;

typedef struct tav_text_encoder {
    const tav_engine_cfg *cfg;
    const float *tok_emb, *pos_emb, *scene_emb, *lnf_w, *lnf_b;
    tav_text_block *blocks;
    tav_linear scene_pos; /* [Dt, Dt], no bias; loaded only when cfg->text_scene_pos */
} tav_text_encoder;

typedef struct tav_text_ws { /* activations for L tokens */
    int max_l;
    float *x, *h, *q, *k, *v, *a, *mlp, *scores;
    tav_linear_scratch ls;
} tav_text_ws;

tav_status tav_text_encoder_load(tav_text_encoder *te, const tav_model *m, const tav_engine_cfg *cfg);
void tav_text_encoder_free(tav_text_encoder *te);
/* Carves the workspace for up to max_l tokens; TAV_ERR_NOMEM if a is full. */
tav_status tav_text_ws_plan(const tav_text_encoder *te, tav_arena *a, int max_l, int n_threads,
                            tav_text_ws *ws);
/* emb [n, Dt] = the encoder's output for ids/scene [n] (n <= ws->max_l): the
 * n tokens are the whole prompt (no padding), so with text_scene_pos the
 * scene count is max(scene[0..n-1]) + 1. */
tav_status tav_text_encoder_forward(const tav_text_encoder *te, const tav_engine_ctx *ec,
                                    tav_text_ws *ws, const int *ids, const int *scene, int n,
                                    float *emb);

/* ---------------------------------------------------------------- DiT */

typedef struct tav_dit_block {
    tav_linear mod;
    tav_attn_weights attn_s, attn_t, attn_c;
    const float *lnc_w, *lnc_b;
    tav_linear fc1, fc2;
} tav_dit_block;

typedef struct tav_dit {
    const tav_engine_cfg *cfg;
    const float *pos_s;
    tav_linear patch_in, t_fc1, t_fc2, text_proj, final_mod, patch_out;
    tav_dit_block *blocks;
} tav_dit;

typedef struct tav_dit_ws { /* activations for T frames and up to max_l text tokens */
    int max_t, max_l;
    float *x, *h, *q, *k, *v, *a, *mlp, *ck, *cv, *scores, *patches, *out;
    float *temb, *c, *c_silu, *mod, *tmp;
    tav_linear_scratch ls;
} tav_dit_ws;

/* Optional per-pass trace for golden tests: filled when non-NULL. */
typedef struct tav_dit_trace {
    float *tokens_in; /* [T, S, D] */
    float *c;         /* [D] */
    float *blocks;    /* [depth, T, S, D] */
} tav_dit_trace;

tav_status tav_dit_load(tav_dit *d, const tav_model *m, const tav_engine_cfg *cfg);
void tav_dit_free(tav_dit *d);
tav_status tav_dit_ws_plan(const tav_dit *d, tav_arena *a, int max_t, int max_l, int n_threads,
                           tav_dit_ws *ws);
/* txt [n, D] = text_proj(emb [n, Dt]); once per generation and prompt. */
tav_status tav_dit_prepare_text(const tav_dit *d, const tav_engine_ctx *ec, tav_dit_ws *ws,
                                const float *emb, int n, float *txt);
/* v [T, C, h, h] = DiT(z [T, C, h, h], tau, txt [n, D]). TAV_ERR_CANCELLED
 * if ec->cancel turns nonzero (checked between blocks). */
tav_status tav_dit_forward(const tav_dit *d, const tav_engine_ctx *ec, tav_dit_ws *ws,
                           const float *z, int T, float tau, const float *txt, int n, float *v,
                           tav_dit_trace *trace);

/* ---------------------------------------------------------------- sampler */

/* x[i] for i < n: docs/model.md's portable noise for `seed`. */
void tav_noise_fill(float *x, size_t n, uint64_t seed);

/* ---------------------------------------------------------------- VAE decoder */

typedef struct tav_vae {
    const tav_engine_cfg *cfg;
    const float *latent_mean, *latent_std;
    tav_linear conv_in, conv_out;
    tav_linear up[TAV_ENGINE_MAX_DEC_LEVELS][2];
} tav_vae;

/* Per worker: two activation planes and one im2col band. */
typedef struct tav_vae_ws {
    int n_workers;
    size_t act_floats, col_floats, ls_bytes;
    float *act;        /* n_workers * 2 * act_floats */
    float *col;        /* n_workers * col_floats     */
    uint8_t *ls;       /* n_workers * ls_bytes       */
} tav_vae_ws;

tav_status tav_vae_load(tav_vae *v, const tav_model *m, const tav_engine_cfg *cfg);
void tav_vae_free(tav_vae *v);
tav_status tav_vae_ws_plan(const tav_vae *v, tav_arena *a, int n_workers, tav_vae_ws *ws);
/* rgb [n, R, R, 3] bytes from normalised latents zn [n, C, h, h]; frames are
 * decoded in parallel (one frame per worker), n <= ws->n_workers. f32 (may be
 * NULL): the decoder output y [n, 3, R, R] before the byte mapping. */
tav_status tav_vae_decode(const tav_vae *v, const tav_engine_ctx *ec, tav_vae_ws *ws,
                          const float *zn, int n, uint8_t *rgb, float *f32);

#endif
