/* dit.c — the factorised DiT velocity predictor (docs/model.md, "Denoiser"):
 * patchify, spatial / temporal self-attention and text cross-attention under
 * adaLN timestep modulation, unpatchify. Tokens are laid out [T, S, D]. */
#include "core/engine.h"

#include "core/mem.h"
#include "simd/simd.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- load */

static tav_status lin(tav_linear *l, const tav_model *m, const char *name, int n, int k)
{
    tav_status st = tav_linear_init(l, m, name, 1);
    return st != TAV_OK ? st : tav_linear_expect(l, n, k);
}

tav_status tav_dit_load(tav_dit *d, const tav_model *m, const tav_engine_cfg *cfg)
{
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    int D = cfg->width, P = cfg->latent_channels * cfg->patch * cfg->patch;
    tav_status st;
    if ((st = tav_engine_tensor_f32(m, "dit.pos_s", (size_t)cfg->tokens_per_frame * D,
                                    &d->pos_s)) != TAV_OK ||
        (st = lin(&d->patch_in, m, "dit.patch_in", D, P)) != TAV_OK ||
        (st = lin(&d->t_fc1, m, "dit.t_fc1", D, 256)) != TAV_OK ||
        (st = lin(&d->t_fc2, m, "dit.t_fc2", D, D)) != TAV_OK ||
        (st = lin(&d->text_proj, m, "dit.text_proj", D, cfg->text_width)) != TAV_OK ||
        (st = lin(&d->final_mod, m, "dit.final_mod", 2 * D, D)) != TAV_OK ||
        (st = lin(&d->patch_out, m, "dit.patch_out", P, D)) != TAV_OK)
        return st;
    d->blocks = tav_calloc((size_t)cfg->depth + 1, sizeof *d->blocks);
    if (!d->blocks)
        return tav_fail(TAV_ERR_NOMEM, "out of memory loading the DiT");
    int H = cfg->mlp_ratio * D;
    for (int j = 0; j < cfg->depth; j++) {
        tav_dit_block *b = &d->blocks[j];
        char p[96], q[96];
#define NAME(fmt) (snprintf(p, sizeof p, "dit.blocks.%d." fmt, j), p)
        if ((st = lin(&b->mod, m, NAME("mod"), 9 * D, D)) != TAV_OK ||
            (st = tav_attn_load(&b->attn_s, m, NAME("attn_s"), D, D)) != TAV_OK ||
            (st = tav_attn_load(&b->attn_t, m, NAME("attn_t"), D, D)) != TAV_OK ||
            (st = tav_attn_load(&b->attn_c, m, NAME("attn_c"), D, D)) != TAV_OK ||
            (st = lin(&b->fc1, m, NAME("mlp.fc1"), H, D)) != TAV_OK ||
            (st = lin(&b->fc2, m, NAME("mlp.fc2"), D, H)) != TAV_OK ||
            (st = tav_engine_tensor_f32(m, NAME("ln_c.weight"), (size_t)D, &b->lnc_w)) != TAV_OK ||
            (st = tav_engine_tensor_f32(m, (snprintf(q, sizeof q, "dit.blocks.%d.ln_c.bias", j), q),
                                        (size_t)D, &b->lnc_b)) != TAV_OK)
            return st;
#undef NAME
    }
    return TAV_OK;
}

void tav_dit_free(tav_dit *d)
{
    tav_linear *top[] = {&d->patch_in, &d->t_fc1, &d->t_fc2, &d->text_proj, &d->final_mod,
                         &d->patch_out};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        tav_linear_free(top[i]);
    if (!d->blocks)
        return;
    for (int j = 0; j < d->cfg->depth; j++) {
        tav_dit_block *b = &d->blocks[j];
        tav_linear_free(&b->mod);
        tav_attn_free(&b->attn_s);
        tav_attn_free(&b->attn_t);
        tav_attn_free(&b->attn_c);
        tav_linear_free(&b->fc1);
        tav_linear_free(&b->fc2);
    }
    tav_free(d->blocks);
    d->blocks = NULL;
}

/* ---------------------------------------------------------------- workspace */

static size_t maxz(size_t a, size_t b) { return a > b ? a : b; }

tav_status tav_dit_ws_plan(const tav_dit *d, tav_arena *a, int max_t, int max_l, int n_threads,
                           tav_dit_ws *ws)
{
    const tav_engine_cfg *cfg = d->cfg;
    int D = cfg->width, S = cfg->tokens_per_frame, P = cfg->latent_channels * cfg->patch * cfg->patch;
    int N = max_t * S;
    size_t nd = (size_t)N * D;
    memset(ws, 0, sizeof *ws);
    ws->max_t = max_t;
    ws->max_l = max_l;
    /* int8 scratch: the largest any layer needs at its row count */
    size_t ls = tav_linear_scratch_bytes(&d->patch_in, N);
    ls = maxz(ls, tav_linear_scratch_bytes(&d->patch_out, N));
    ls = maxz(ls, tav_linear_scratch_bytes(&d->text_proj, max_l));
    ls = maxz(ls, tav_linear_scratch_bytes(&d->t_fc1, 1));
    ls = maxz(ls, tav_linear_scratch_bytes(&d->t_fc2, 1));
    ls = maxz(ls, tav_linear_scratch_bytes(&d->final_mod, 1));
    for (int j = 0; j < cfg->depth; j++) {
        const tav_dit_block *b = &d->blocks[j];
        ls = maxz(ls, tav_linear_scratch_bytes(&b->mod, 1));
        ls = maxz(ls, tav_attn_scratch_bytes(&b->attn_s, N, N));
        ls = maxz(ls, tav_attn_scratch_bytes(&b->attn_t, N, N));
        ls = maxz(ls, tav_attn_scratch_bytes(&b->attn_c, N, max_l));
        ls = maxz(ls, tav_linear_scratch_bytes(&b->fc1, N));
        ls = maxz(ls, tav_linear_scratch_bytes(&b->fc2, N));
    }
    int max_k = S > max_t ? S : max_t;
    max_k = max_k > max_l ? max_k : max_l;
    ws->x = tav_arena_floats(a, nd);
    ws->h = tav_arena_floats(a, nd);
    ws->q = tav_arena_floats(a, nd);
    ws->k = tav_arena_floats(a, nd);
    ws->v = tav_arena_floats(a, nd);
    ws->a = tav_arena_floats(a, nd);
    ws->mlp = tav_arena_floats(a, (size_t)cfg->mlp_ratio * nd);
    ws->ck = tav_arena_floats(a, (size_t)max_l * D);
    ws->cv = tav_arena_floats(a, (size_t)max_l * D);
    ws->scores = tav_arena_floats(a, (size_t)n_threads * TAV_ATTN_Q_CHUNK * max_k);
    ws->patches = tav_arena_floats(a, (size_t)N * P);
    ws->out = tav_arena_floats(a, (size_t)N * P);
    ws->temb = tav_arena_floats(a, (size_t)max_t * D);
    ws->c = tav_arena_floats(a, (size_t)D);
    ws->c_silu = tav_arena_floats(a, (size_t)D);
    ws->mod = tav_arena_floats(a, (size_t)9 * D);
    ws->tmp = tav_arena_floats(a, 256 + (size_t)D);
    ws->ls.buf = ls ? tav_arena_alloc(a, ls) : NULL;
    ws->ls.bytes = ls;
    float *all[] = {ws->x, ws->h, ws->q, ws->k, ws->v, ws->a, ws->mlp, ws->ck, ws->cv, ws->scores,
                    ws->patches, ws->out, ws->temb, ws->c, ws->c_silu, ws->mod, ws->tmp};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!all[i])
            return tav_fail(TAV_ERR_NOMEM, "activation arena too small for the DiT");
    if (ls && !ws->ls.buf)
        return tav_fail(TAV_ERR_NOMEM, "activation arena too small for the DiT");
    return TAV_OK;
}

/* ---------------------------------------------------------------- pieces */

tav_status tav_dit_prepare_text(const tav_dit *d, const tav_engine_ctx *ec, tav_dit_ws *ws,
                                const float *emb, int n, float *txt)
{
    /* emb [L, Dt] -> txt [L, D] */
    if (n > ws->max_l)
        return tav_fail(TAV_ERR_INTERNAL, "DiT: %d text tokens, workspace for %d", n, ws->max_l);
    return tav_linear_forward(&d->text_proj, emb, n, txt, TAV_ACT_NONE, ec->pool, &ws->ls);
}

/* z [T, C, h, h] -> patches [T*S, C*p*p], values ordered (c, dy, dx) */
static void patchify(const tav_engine_cfg *cfg, const float *z, int T, float *out)
{
    int C = cfg->latent_channels, p = cfg->patch, h = cfg->latent_size, g = h / p;
    int P = C * p * p;
    for (int t = 0; t < T; t++)
        for (int py = 0; py < g; py++)
            for (int px = 0; px < g; px++) {
                float *vec = out + ((size_t)t * g * g + (size_t)py * g + px) * P;
                for (int c = 0; c < C; c++)
                    for (int dy = 0; dy < p; dy++)
                        for (int dx = 0; dx < p; dx++)
                            vec[c * p * p + dy * p + dx] =
                                z[(((size_t)t * C + c) * h + py * p + dy) * h + px * p + dx];
            }
}

/* the inverse: [T*S, C*p*p] -> v [T, C, h, h] */
static void unpatchify(const tav_engine_cfg *cfg, const float *in, int T, float *v)
{
    int C = cfg->latent_channels, p = cfg->patch, h = cfg->latent_size, g = h / p;
    int P = C * p * p;
    for (int t = 0; t < T; t++)
        for (int py = 0; py < g; py++)
            for (int px = 0; px < g; px++) {
                const float *vec = in + ((size_t)t * g * g + (size_t)py * g + px) * P;
                for (int c = 0; c < C; c++)
                    for (int dy = 0; dy < p; dy++)
                        for (int dx = 0; dx < p; dx++)
                            v[(((size_t)t * C + c) * h + py * p + dy) * h + px * p + dx] =
                                vec[c * p * p + dy * p + dx];
            }
}

/* c [D] = t_fc2(SiLU(t_fc1(sincos(1000 tau, 256)))); c_silu = SiLU(c) */
static tav_status timestep(const tav_dit *d, const tav_engine_ctx *ec, tav_dit_ws *ws, float tau)
{
    int D = d->cfg->width;
    float *emb = ws->tmp, *hid = ws->tmp + 256;
    tav_layer_sincos(emb, 1000.0f * tau, 256);
    tav_status st = tav_linear_forward(&d->t_fc1, emb, 1, hid, TAV_ACT_SILU, ec->pool, &ws->ls);
    if (st == TAV_OK)
        st = tav_linear_forward(&d->t_fc2, hid, 1, ws->c, TAV_ACT_NONE, ec->pool, &ws->ls);
    tav_simd_silu(ws->c_silu, ws->c, (size_t)D);
    return st;
}

/* x [T, S, D] through one block (docs/model.md, the four residual branches) */
static tav_status dit_block(const tav_dit *d, const tav_dit_block *b, const tav_engine_ctx *ec,
                            tav_dit_ws *ws, int T, const float *txt, int L)
{
    const tav_engine_cfg *cfg = d->cfg;
    int D = cfg->width, S = cfg->tokens_per_frame, N = T * S, H = cfg->heads;
    tav_pool *pool = ec->pool;
    tav_linear_scratch *ls = &ws->ls;
    const float *m = ws->mod;
    tav_status st;
    if ((st = tav_linear_forward(&b->mod, ws->c_silu, 1, ws->mod, TAV_ACT_NONE, pool, ls)))
        return st;
    /* spatial: T groups of S tokens; temporal: S groups of T tokens (stride S) */
    const tav_attn_weights *self[2] = {&b->attn_s, &b->attn_t};
    tav_attn_shape shapes[2] = {
        {.groups = T, .n_q = S, .n_k = S, .q_gstride = S, .q_stride = 1, .k_gstride = S, .k_stride = 1},
        {.groups = S, .n_q = T, .n_k = T, .q_gstride = 1, .q_stride = S, .k_gstride = 1, .k_stride = S},
    };
    for (int i = 0; i < 2; i++) {
        const tav_attn_weights *at = self[i];
        tav_layer_modulate(ws->h, ws->x, N, D, m + (size_t)(3 * i) * D, m + (size_t)(3 * i + 1) * D);
        if ((st = tav_linear_forward(&at->q, ws->h, N, ws->q, TAV_ACT_NONE, pool, ls)) ||
            (st = tav_linear_forward(&at->k, ws->h, N, ws->k, TAV_ACT_NONE, pool, ls)) ||
            (st = tav_linear_forward(&at->v, ws->h, N, ws->v, TAV_ACT_NONE, pool, ls)))
            return st;
        tav_layer_attention(ec, &shapes[i], D, H, ws->q, ws->k, ws->v, ws->a, ws->scores);
        if ((st = tav_linear_forward(&at->o, ws->a, N, ws->h, TAV_ACT_NONE, pool, ls)))
            return st;
        tav_layer_residual(ws->x, ws->h, N, D, m + (size_t)(3 * i + 2) * D);
    }
    /* cross-attention: all N tokens attend to the L text tokens */
    tav_layer_norm(ws->h, ws->x, N, D, b->lnc_w, b->lnc_b, 1e-6f);
    if ((st = tav_linear_forward(&b->attn_c.q, ws->h, N, ws->q, TAV_ACT_NONE, pool, ls)) ||
        (st = tav_linear_forward(&b->attn_c.k, txt, L, ws->ck, TAV_ACT_NONE, pool, ls)) ||
        (st = tav_linear_forward(&b->attn_c.v, txt, L, ws->cv, TAV_ACT_NONE, pool, ls)))
        return st;
    tav_attn_shape csh = {.groups = 1, .n_q = N, .n_k = L, .q_stride = 1, .k_stride = 1};
    tav_layer_attention(ec, &csh, D, H, ws->q, ws->ck, ws->cv, ws->a, ws->scores);
    if ((st = tav_linear_forward(&b->attn_c.o, ws->a, N, ws->h, TAV_ACT_NONE, pool, ls)))
        return st;
    tav_layer_residual(ws->x, ws->h, N, D, NULL);
    /* MLP */
    tav_layer_modulate(ws->h, ws->x, N, D, m + (size_t)6 * D, m + (size_t)7 * D);
    if ((st = tav_linear_forward(&b->fc1, ws->h, N, ws->mlp, TAV_ACT_GELU, pool, ls)) ||
        (st = tav_linear_forward(&b->fc2, ws->mlp, N, ws->a, TAV_ACT_NONE, pool, ls)))
        return st;
    tav_layer_residual(ws->x, ws->a, N, D, m + (size_t)8 * D);
    return TAV_OK;
}

/* ---------------------------------------------------------------- forward */

tav_status tav_dit_forward(const tav_dit *d, const tav_engine_ctx *ec, tav_dit_ws *ws,
                           const float *z, int T, float tau, const float *txt, int n, float *v,
                           tav_dit_trace *trace)
{
    /* z [T, C, h, h], txt [L, D] -> v [T, C, h, h] */
    const tav_engine_cfg *cfg = d->cfg;
    int D = cfg->width, S = cfg->tokens_per_frame, N = T * S;
    if (T < 1 || T > ws->max_t || n < 1 || n > ws->max_l)
        return tav_fail(TAV_ERR_INTERNAL, "DiT: T=%d L=%d, workspace for %d, %d", T, n, ws->max_t,
                        ws->max_l);
    tav_status st;
    patchify(cfg, z, T, ws->patches);
    if ((st = tav_linear_forward(&d->patch_in, ws->patches, N, ws->x, TAV_ACT_NONE, ec->pool,
                                 &ws->ls)))
        return st;
    /* temporal(t, T) = concat(sincos(t, D/2), sincos(64 t / T, D/2)) */
    for (int t = 0; t < T; t++) {
        tav_layer_sincos(ws->temb + (size_t)t * D, (float)t, D / 2);
        tav_layer_sincos(ws->temb + (size_t)t * D + D / 2, 64.0f * (float)t / (float)T, D / 2);
    }
    for (int t = 0; t < T; t++)
        for (int s = 0; s < S; s++) {
            float *x = ws->x + ((size_t)t * S + s) * D;
            const float *ps = d->pos_s + (size_t)s * D, *te = ws->temb + (size_t)t * D;
            for (int c = 0; c < D; c++)
                x[c] = (x[c] + ps[c]) + te[c];
        }
    if ((st = timestep(d, ec, ws, tau)))
        return st;
    if (trace) {
        if (trace->tokens_in)
            memcpy(trace->tokens_in, ws->x, (size_t)N * D * sizeof(float));
        if (trace->c)
            memcpy(trace->c, ws->c, (size_t)D * sizeof(float));
    }
    for (int j = 0; j < cfg->depth; j++) {
        if (tav_engine_cancelled(ec))
            return tav_fail(TAV_ERR_CANCELLED, "generation cancelled");
        if ((st = dit_block(d, &d->blocks[j], ec, ws, T, txt, n)))
            return st;
        if (trace && trace->blocks)
            memcpy(trace->blocks + (size_t)j * N * D, ws->x, (size_t)N * D * sizeof(float));
    }
    /* final: LN(x) * (1 + sc_f) + sh_f, patch_out, unpatchify */
    if ((st = tav_linear_forward(&d->final_mod, ws->c_silu, 1, ws->mod, TAV_ACT_NONE, ec->pool,
                                 &ws->ls)))
        return st;
    tav_layer_modulate(ws->h, ws->x, N, D, ws->mod, ws->mod + D);
    if ((st = tav_linear_forward(&d->patch_out, ws->h, N, ws->out, TAV_ACT_NONE, ec->pool,
                                 &ws->ls)))
        return st;
    unpatchify(cfg, ws->out, T, v);
    return TAV_OK;
}
