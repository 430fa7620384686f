/* engine_cfg.c — the model configuration from the file's model.* metadata. */
#include "core/engine.h"

#include <stdio.h>
#include <string.h>

static tav_status get_int(const tav_model *m, const char *key, int lo, int hi, int *out)
{
    int64_t v;
    tav_status st = tav_model_meta_get_i64(m, key, &v);
    if (st != TAV_OK)
        return tav_fail(TAV_ERR_FORMAT, "model metadata: %s", tav_last_error());
    if (v < lo || v > hi)
        return tav_fail(TAV_ERR_FORMAT, "model metadata '%s' = %lld is outside %d..%d", key,
                        (long long)v, lo, hi);
    *out = (int)v;
    return TAV_OK;
}

/* n level widths from the keys "<prefix>.0" .. "<prefix>.<n-1>", each 1..16384 */
static tav_status get_widths(const tav_model *m, const char *prefix, int n, int *out)
{
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.%d", prefix, i);
        tav_status st = get_int(m, key, 1, 1 << 14, &out[i]);
        if (st != TAV_OK)
            return st;
    }
    return TAV_OK;
}

/* The optional extra decoder levels (absent = 0), then the decoder's level
 * widths: ae_channels reversed, followed by dec_up_channels. */
static tav_status dec_up_load(const tav_model *m, tav_engine_cfg *c)
{
    int64_t v;
    c->dec_up_levels = 0;
    if (tav_model_meta_get_i64(m, "model.dec_up_levels", &v) != TAV_ERR_NOT_FOUND) {
        tav_status st = get_int(m, "model.dec_up_levels", 0, TAV_ENGINE_MAX_DEC_UP_LEVELS,
                                &c->dec_up_levels);
        if (st != TAV_OK)
            return st;
    }
    c->dec_levels = c->ae_levels + c->dec_up_levels;
    for (int i = 0; i < c->ae_levels; i++)
        c->dec_channels[i] = c->ae_channels[c->ae_levels - 1 - i];
    tav_status st = get_widths(m, "model.dec_up_channels", c->dec_up_levels, c->dec_up_channels);
    for (int i = 0; i < c->dec_up_levels; i++)
        c->dec_channels[c->ae_levels + i] = c->dec_up_channels[i];
    return st;
}

/* An optional i64 key in lo..hi; absent = 0 (files written before it). */
static tav_status get_optional_int(const tav_model *m, const char *key, int lo, int hi, int *out)
{
    int64_t v;
    *out = 0;
    if (tav_model_meta_get_i64(m, key, &v) == TAV_ERR_NOT_FOUND) {
        tav_clear_error();
        return TAV_OK;
    }
    return get_int(m, key, lo, hi, out);
}

tav_status tav_engine_cfg_load(const tav_model *m, tav_engine_cfg *c)
{
    memset(c, 0, sizeof *c);
    const char *arch;
    if (tav_model_meta_get_str(m, "model.arch", &arch) != TAV_OK)
        return tav_fail(TAV_ERR_FORMAT, "not a tav model: metadata 'model.arch' is missing");
    if (strcmp(arch, "tav-dit-1") != 0)
        return tav_fail(TAV_ERR_UNSUPPORTED, "model.arch is '%s'; this engine runs 'tav-dit-1'",
                        arch);
    struct { const char *key; int *dst, lo, hi; } keys[] = {
        {"model.image_size", &c->image_size, 2, 2048},
        {"model.fps", &c->fps, 1, 240},
        {"model.latent_channels", &c->latent_channels, 1, 1024},
        {"model.ae_levels", &c->ae_levels, 0, TAV_ENGINE_MAX_AE_LEVELS},
        {"model.vocab_size", &c->vocab_size, 5, 1 << 24},
        {"model.max_text", &c->max_text, 2, 4096},
        {"model.max_scenes", &c->max_scenes, 1, 1 << 10},
        {"model.text_width", &c->text_width, 1, 8192},
        {"model.text_layers", &c->text_layers, 0, 1024},
        {"model.text_heads", &c->text_heads, 1, 1024},
        {"model.width", &c->width, 2, 8192},
        {"model.depth", &c->depth, 0, 1024},
        {"model.heads", &c->heads, 1, 1024},
        {"model.patch", &c->patch, 1, 64},
        {"model.mlp_ratio", &c->mlp_ratio, 1, 64},
        {"model.sample_steps", &c->sample_steps, 1, 10000},
        {"model.frames_per_scene", &c->frames_per_scene, 1, 1024},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        tav_status st = get_int(m, keys[i].key, keys[i].lo, keys[i].hi, keys[i].dst);
        if (st != TAV_OK)
            return st;
    }
    tav_status st = get_widths(m, "model.ae_channels", c->ae_levels, c->ae_channels);
    if (st == TAV_OK)
        st = dec_up_load(m, c);
    if (st == TAV_OK) /* the text encoder's scene-position term (docs/model.md) */
        st = get_optional_int(m, "model.text_scene_pos", 0, 1, &c->text_scene_pos);
    if (st != TAV_OK)
        return st;
    if (tav_model_meta_get_f64(m, "model.cfg_scale", &c->cfg_scale) != TAV_OK)
        return tav_fail(TAV_ERR_FORMAT, "model metadata: %s", tav_last_error());
    if (c->text_width % c->text_heads || c->width % c->heads || c->width % 4)
        return tav_fail(TAV_ERR_FORMAT, "model widths (%d, %d) do not divide into heads (%d, %d)",
                        c->text_width, c->width, c->text_heads, c->heads);
    c->latent_size = c->image_size >> c->dec_levels;
    if (c->latent_size << c->dec_levels != c->image_size || c->latent_size % c->patch)
        return tav_fail(TAV_ERR_FORMAT,
                        "image size %d is not latent size x 2^%d (model.ae_levels %d + "
                        "model.dec_up_levels %d) with the latent size a multiple of patch %d",
                        c->image_size, c->dec_levels, c->ae_levels, c->dec_up_levels, c->patch);
    int g = c->latent_size / c->patch;
    c->tokens_per_frame = g * g;
    /* bounds that keep every int product in the engine (tokens x width) far
     * from overflow; real models are orders of magnitude smaller */
    if (c->tokens_per_frame > 4096 || c->mlp_ratio * c->width > 65536 ||
        c->latent_channels * c->patch * c->patch > 65536)
        return tav_fail(TAV_ERR_FORMAT, "model configuration too large for this engine "
                        "(%d tokens per frame, MLP width %d)", c->tokens_per_frame,
                        c->mlp_ratio * c->width);
    return TAV_OK;
}

tav_status tav_engine_tensor_f32(const tav_model *m, const char *name, size_t n, const float **out)
{
    const tav_tensor_view *t = tav_model_tensor_find(m, name);
    if (!t)
        return tav_fail(TAV_ERR_FORMAT, "model file lacks tensor '%s'", name);
    if (t->dtype != TAV_DTYPE_F32 || t->n_elems != n)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' is %s with %zu elements; expected f32 with %zu",
                        name, tav_dtype_name(t->dtype), t->n_elems, n);
    *out = t->data;
    return TAV_OK;
}
