/* text_encoder.c — token + position + scene embeddings, pre-LN transformer
 * blocks, final layer norm, and (model.text_scene_pos) each token's place in
 * the prompt's scene list (docs/model.md, "Text encoder"). */
#include "core/engine.h"

#include "core/mem.h"

#include <stdio.h>
#include <string.h>

tav_status tav_text_encoder_load(tav_text_encoder *te, const tav_model *m, const tav_engine_cfg *cfg)
{
    memset(te, 0, sizeof *te);
    te->cfg = cfg;
    int Dt = cfg->text_width;
    tav_status st;
    if ((st = tav_engine_tensor_f32(m, "text.tok_emb.weight", (size_t)cfg->vocab_size * Dt,
                                    &te->tok_emb)) != TAV_OK ||
        (st = tav_engine_tensor_f32(m, "text.pos_emb", (size_t)cfg->max_text * Dt,
                                    &te->pos_emb)) != TAV_OK ||
        (st = tav_engine_tensor_f32(m, "text.scene_emb", (size_t)cfg->max_scenes * Dt,
                                    &te->scene_emb)) != TAV_OK ||
        (st = tav_engine_tensor_f32(m, "text.ln_f.weight", (size_t)Dt, &te->lnf_w)) != TAV_OK ||
        (st = tav_engine_tensor_f32(m, "text.ln_f.bias", (size_t)Dt, &te->lnf_b)) != TAV_OK)
        return st;
    te->blocks = tav_calloc((size_t)cfg->text_layers + 1, sizeof *te->blocks);
    if (!te->blocks)
        return tav_fail(TAV_ERR_NOMEM, "out of memory loading the text encoder");
    for (int j = 0; j < cfg->text_layers; j++) {
        tav_text_block *b = &te->blocks[j];
        char p[96];
        struct { const char *s; const float **dst; } norms[4] = {
            {"ln1.weight", &b->ln1_w}, {"ln1.bias", &b->ln1_b},
            {"ln2.weight", &b->ln2_w}, {"ln2.bias", &b->ln2_b}};
        for (int i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "text.blocks.%d.%s", j, norms[i].s);
            if ((st = tav_engine_tensor_f32(m, p, (size_t)Dt, norms[i].dst)) != TAV_OK)
                return st;
        }
        snprintf(p, sizeof p, "text.blocks.%d.attn", j);
        if ((st = tav_attn_load(&b->attn, m, p, Dt, Dt)) != TAV_OK)
            return st;
        snprintf(p, sizeof p, "text.blocks.%d.mlp.fc1", j);
        if ((st = tav_linear_init(&b->fc1, m, p, 1)) != TAV_OK ||
            (st = tav_linear_expect(&b->fc1, 4 * Dt, Dt)) != TAV_OK)
            return st;
        snprintf(p, sizeof p, "text.blocks.%d.mlp.fc2", j);
        if ((st = tav_linear_init(&b->fc2, m, p, 1)) != TAV_OK ||
            (st = tav_linear_expect(&b->fc2, Dt, 4 * Dt)) != TAV_OK)
            return st;
    }
    /* text.scene_pos.weight [Dt, Dt], no bias: a linear layer like the
     * blocks' (f32, or s8 from `tav quantize`, whose rule treats it as any
     * Linear weight) */
    if (cfg->text_scene_pos &&
        ((st = tav_linear_init(&te->scene_pos, m, "text.scene_pos", 0)) != TAV_OK ||
         (st = tav_linear_expect(&te->scene_pos, Dt, Dt)) != TAV_OK))
        return st;
    return TAV_OK;
}

void tav_text_encoder_free(tav_text_encoder *te)
{
    if (!te->blocks)
        return;
    for (int j = 0; j < te->cfg->text_layers; j++) {
        tav_attn_free(&te->blocks[j].attn);
        tav_linear_free(&te->blocks[j].fc1);
        tav_linear_free(&te->blocks[j].fc2);
    }
    tav_linear_free(&te->scene_pos);
    tav_free(te->blocks);
    te->blocks = NULL;
}

tav_status tav_text_ws_plan(const tav_text_encoder *te, tav_arena *a, int max_l, int n_threads,
                            tav_text_ws *ws)
{
    int Dt = te->cfg->text_width;
    size_t n = (size_t)max_l * Dt;
    memset(ws, 0, sizeof *ws);
    ws->max_l = max_l;
    size_t ls = 0;
    for (int j = 0; j < te->cfg->text_layers; j++) {
        const tav_text_block *b = &te->blocks[j];
        size_t s = tav_attn_scratch_bytes(&b->attn, max_l, max_l);
        size_t s1 = tav_linear_scratch_bytes(&b->fc1, max_l);
        size_t s2 = tav_linear_scratch_bytes(&b->fc2, max_l);
        s = s > s1 ? s : s1;
        s = s > s2 ? s : s2;
        ls = ls > s ? ls : s;
    }
    if (te->cfg->text_scene_pos) {
        size_t s = tav_linear_scratch_bytes(&te->scene_pos, max_l);
        ls = ls > s ? ls : s;
    }
    ws->x = tav_arena_floats(a, n);
    ws->h = tav_arena_floats(a, n);
    ws->q = tav_arena_floats(a, n);
    ws->k = tav_arena_floats(a, n);
    ws->v = tav_arena_floats(a, n);
    ws->a = tav_arena_floats(a, n);
    ws->mlp = tav_arena_floats(a, 4 * n);
    ws->scores = tav_arena_floats(a, (size_t)n_threads * TAV_ATTN_Q_CHUNK * max_l);
    ws->ls.buf = ls ? tav_arena_alloc(a, ls) : NULL;
    ws->ls.bytes = ls;
    if (!ws->x || !ws->h || !ws->q || !ws->k || !ws->v || !ws->a || !ws->mlp || !ws->scores ||
        (ls && !ws->ls.buf))
        return tav_fail(TAV_ERR_NOMEM, "activation arena too small for the text encoder");
    return TAV_OK;
}

/* x [L, Dt] += Attn(LN1(x)) ; x += MLP(LN2(x)) */
static tav_status text_block(const tav_text_encoder *te, const tav_text_block *b,
                             const tav_engine_ctx *ec, tav_text_ws *ws, int L)
{
    int Dt = te->cfg->text_width;
    tav_pool *pool = ec->pool;
    tav_status st;
    tav_layer_norm(ws->h, ws->x, L, Dt, b->ln1_w, b->ln1_b, 1e-5f);
    if ((st = tav_linear_forward(&b->attn.q, ws->h, L, ws->q, TAV_ACT_NONE, pool, &ws->ls)) ||
        (st = tav_linear_forward(&b->attn.k, ws->h, L, ws->k, TAV_ACT_NONE, pool, &ws->ls)) ||
        (st = tav_linear_forward(&b->attn.v, ws->h, L, ws->v, TAV_ACT_NONE, pool, &ws->ls)))
        return st;
    tav_attn_shape sh = {.groups = 1, .n_q = L, .n_k = L, .q_stride = 1, .k_stride = 1};
    tav_layer_attention(ec, &sh, Dt, te->cfg->text_heads, ws->q, ws->k, ws->v, ws->a, ws->scores);
    if ((st = tav_linear_forward(&b->attn.o, ws->a, L, ws->h, TAV_ACT_NONE, pool, &ws->ls)))
        return st;
    tav_layer_residual(ws->x, ws->h, L, Dt, NULL);
    tav_layer_norm(ws->h, ws->x, L, Dt, b->ln2_w, b->ln2_b, 1e-5f);
    if ((st = tav_linear_forward(&b->fc1, ws->h, L, ws->mlp, TAV_ACT_GELU, pool, &ws->ls)) ||
        (st = tav_linear_forward(&b->fc2, ws->mlp, L, ws->a, TAV_ACT_NONE, pool, &ws->ls)))
        return st;
    tav_layer_residual(ws->x, ws->a, L, Dt, NULL);
    return TAV_OK;
}

/* emb [n, Dt] += scene_pos(sincos(u_i, Dt)), u_i = 64 (k_i + 1/2) / n_scenes
 * with k_i = scene[i] and n_scenes = max k + 1 over the n (unpadded) tokens:
 * the token's place in the scene list on the scale of the DiT's temporal
 * sincos(64 t / T). float32 in the reference's order: ((k + 0.5) * 64) / n. */
static tav_status scene_pos_add(const tav_text_encoder *te, const tav_engine_ctx *ec,
                                tav_text_ws *ws, const int *scene, int n, float *emb)
{
    int Dt = te->cfg->text_width, k_max = 0;
    for (int i = 0; i < n; i++)
        k_max = scene[i] > k_max ? scene[i] : k_max;
    float n_scenes = (float)(k_max + 1);
    for (int i = 0; i < n; i++) {
        float u = ((float)scene[i] + 0.5f) * 64.0f / n_scenes;
        tav_layer_sincos(ws->h + (size_t)i * Dt, u, Dt);
    }
    tav_status st = tav_linear_forward(&te->scene_pos, ws->h, n, ws->a, TAV_ACT_NONE, ec->pool,
                                       &ws->ls);
    if (st != TAV_OK)
        return st;
    tav_layer_residual(emb, ws->a, n, Dt, NULL);
    return TAV_OK;
}

tav_status tav_text_encoder_forward(const tav_text_encoder *te, const tav_engine_ctx *ec,
                                    tav_text_ws *ws, const int *ids, const int *scene, int n,
                                    float *emb)
{
    /* ids, scene [L] -> emb [L, Dt] */
    const tav_engine_cfg *cfg = te->cfg;
    int Dt = cfg->text_width;
    if (n < 1 || n > ws->max_l || n > cfg->max_text)
        return tav_fail(TAV_ERR_INTERNAL, "text encoder: %d tokens, workspace for %d", n, ws->max_l);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= cfg->vocab_size || scene[i] < 0 || scene[i] >= cfg->max_scenes)
            return tav_fail(TAV_ERR_INTERNAL, "text encoder: token %d out of range", i);
        const float *t = te->tok_emb + (size_t)ids[i] * Dt;
        const float *p = te->pos_emb + (size_t)i * Dt;
        const float *s = te->scene_emb + (size_t)scene[i] * Dt;
        float *x = ws->x + (size_t)i * Dt;
        for (int c = 0; c < Dt; c++)
            x[c] = (t[c] + p[c]) + s[c];
    }
    for (int j = 0; j < cfg->text_layers; j++) {
        tav_status st = text_block(te, &te->blocks[j], ec, ws, n);
        if (st != TAV_OK)
            return st;
    }
    tav_layer_norm(emb, ws->x, n, Dt, te->lnf_w, te->lnf_b, 1e-5f);
    return te->cfg->text_scene_pos ? scene_pos_add(te, ec, ws, scene, n, emb) : TAV_OK;
}
