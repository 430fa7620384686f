/* vae.c — the per-frame latent decoder (docs/model.md, "Autoencoder").
 *
 * Tiling: frames are independent, so each pool worker decodes whole frames
 * with its own scratch (two channels-last activation planes and one im2col
 * band, written only for fp32 layers: int8 layers read their taps straight
 * from the plane); a convolution runs band by band (VAE_BAND_PX output pixels
 * at a time), so the band stays small however large the frame. Peak
 * memory is n_workers * (2 planes + 1 band), independent of the frame count;
 * the pipeline streams decoded frames out batch by batch. Every output pixel
 * is computed by one fixed band in one fixed order: the bytes do not depend
 * on the number of threads. */
#include "core/engine.h"

#include "simd/simd.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define VAE_BAND_PX 1024 /* output pixels per im2col band (fixed: determinism) */

/* ---------------------------------------------------------------- load */

static tav_status conv(tav_linear *l, const tav_model *m, const char *name, int cout, int cin)
{
    tav_status st = tav_linear_init_conv3x3(l, m, name);
    return st != TAV_OK ? st : tav_linear_expect(l, cout, cin * 9);
}

tav_status tav_vae_load(tav_vae *v, const tav_model *m, const tav_engine_cfg *cfg)
{
    memset(v, 0, sizeof *v);
    v->cfg = cfg;
    int C = cfg->latent_channels, L = cfg->dec_levels;
    tav_status st;
    if ((st = tav_engine_tensor_f32(m, "ae.latent_mean", (size_t)C, &v->latent_mean)) ||
        (st = tav_engine_tensor_f32(m, "ae.latent_std", (size_t)C, &v->latent_std)))
        return st;
    /* dec_channels = ae_channels reversed, then dec_up_channels:
     * conv_in C -> dch[0]; level i: dch[i-1] -> dch[i]; conv_out dch[L-1] -> 3 */
    int prev = L ? cfg->dec_channels[0] : C;
    if ((st = conv(&v->conv_in, m, "ae.dec.conv_in", prev, C)))
        return st;
    for (int i = 0; i < L; i++) {
        int c = cfg->dec_channels[i];
        char p[64];
        snprintf(p, sizeof p, "ae.dec.up.%d.0", i);
        if ((st = conv(&v->up[i][0], m, p, c, prev)))
            return st;
        snprintf(p, sizeof p, "ae.dec.up.%d.1", i);
        if ((st = conv(&v->up[i][1], m, p, c, c)))
            return st;
        prev = c;
    }
    return conv(&v->conv_out, m, "ae.dec.conv_out", 3, prev);
}

void tav_vae_free(tav_vae *v)
{
    tav_linear_free(&v->conv_in);
    tav_linear_free(&v->conv_out);
    for (int i = 0; i < TAV_ENGINE_MAX_DEC_LEVELS; i++) {
        tav_linear_free(&v->up[i][0]);
        tav_linear_free(&v->up[i][1]);
    }
}

/* ---------------------------------------------------------------- workspace */

static size_t maxz(size_t a, size_t b) { return a > b ? a : b; }

tav_status tav_vae_ws_plan(const tav_vae *v, tav_arena *a, int n_workers, tav_vae_ws *ws)
{
    const tav_engine_cfg *cfg = v->cfg;
    int L = cfg->dec_levels;
    size_t hw = (size_t)cfg->latent_size * cfg->latent_size;
    size_t act = hw * (size_t)(cfg->latent_channels > 3 ? cfg->latent_channels : 3);
    size_t k = (size_t)v->conv_in.k, ls = 0;
    size_t band = hw < VAE_BAND_PX ? hw : VAE_BAND_PX;
    act = maxz(act, hw * (size_t)v->conv_in.n_out);
    ls = tav_linear_scratch_bytes(&v->conv_in, (int)band);
    for (int i = 0; i < L; i++) {
        hw *= 4;
        band = hw < VAE_BAND_PX ? hw : VAE_BAND_PX;
        act = maxz(act, hw * (size_t)v->up[i][0].n_out);
        k = maxz(k, (size_t)maxz((size_t)v->up[i][0].k, (size_t)v->up[i][1].k));
        ls = maxz(ls, tav_linear_scratch_bytes(&v->up[i][0], (int)band));
        ls = maxz(ls, tav_linear_scratch_bytes(&v->up[i][1], (int)band));
    }
    act = maxz(act, hw * 3);
    k = maxz(k, (size_t)v->conv_out.k);
    ls = maxz(ls, tav_linear_scratch_bytes(&v->conv_out, (int)band));
    ls = (ls + 63) & ~(size_t)63;
    memset(ws, 0, sizeof *ws);
    ws->n_workers = n_workers;
    ws->act_floats = (act + 15) & ~(size_t)15;
    ws->col_floats = (((size_t)VAE_BAND_PX * k) + 15) & ~(size_t)15;
    ws->ls_bytes = ls;
    ws->act = tav_arena_floats(a, (size_t)n_workers * 2 * ws->act_floats);
    ws->col = tav_arena_floats(a, (size_t)n_workers * ws->col_floats);
    ws->ls = ls ? tav_arena_alloc(a, (size_t)n_workers * ls) : NULL;
    if (!ws->act || !ws->col || (ls && !ws->ls))
        return tav_fail(TAV_ERR_NOMEM, "activation arena too small for the decoder");
    return TAV_OK;
}

/* ---------------------------------------------------------------- convolution */

/* in [Hs, Ws, Cin] channels-last; up: read through a nearest 2x upsample.
 * out [H, W, Cout] = act(conv3x3_pad1(in')), band by band through
 * tav_linear_conv3x3: int8 layers read the 9 taps straight from `in` (no
 * im2col rows written); fp32 layers get the im2col band in col first,
 * col[p][(ky*3 + kx)*Cin + ci] (tap-major, see tav_linear_init_conv3x3).
 * Same bytes either way (tests/test_linear_conv.c). */
static tav_status conv3x3(const tav_linear *l, const float *in, int Hs, int Ws, int up,
                          float *out, tav_act act, float *col, const tav_linear_scratch *ls)
{
    int H = Hs << up, W = Ws << up;
    int band_rows = VAE_BAND_PX / W > 0 ? VAE_BAND_PX / W : 1;
    for (int y0 = 0; y0 < H; y0 += band_rows) {
        int y1 = y0 + band_rows < H ? y0 + band_rows : H;
        tav_status st = tav_linear_conv3x3(l, in, Hs, Ws, up, y0 * W, (y1 - y0) * W,
                                           out + (size_t)y0 * W * l->n_out, act, col, NULL, ls);
        if (st != TAV_OK)
            return st;
    }
    return TAV_OK;
}

/* ---------------------------------------------------------------- one frame */

typedef struct vae_job {
    const tav_vae *v;
    tav_vae_ws *ws;
    const float *zn;
    uint8_t *rgb;
    float *f32;
    tav_status st[TAV_POOL_MAX_THREADS];
} vae_job;

/* zn [C, h, h] -> rgb [R, R, 3] (and optionally y [3, R, R]) */
static tav_status decode_frame(const tav_vae *v, const float *zn, float *a, float *b, float *col,
                               const tav_linear_scratch *ls, uint8_t *rgb, float *f32)
{
    const tav_engine_cfg *cfg = v->cfg;
    int C = cfg->latent_channels, h = cfg->latent_size, L = cfg->dec_levels;
    for (int c = 0; c < C; c++)
        for (int p = 0; p < h * h; p++)
            a[(size_t)p * C + c] = zn[(size_t)c * h * h + p] * v->latent_std[c] + v->latent_mean[c];
    tav_status st = conv3x3(&v->conv_in, a, h, h, 0, b, TAV_ACT_SILU, col, ls);
    int s = h;
    for (int i = 0; i < L && st == TAV_OK; i++) {
        st = conv3x3(&v->up[i][0], b, s, s, 1, a, TAV_ACT_SILU, col, ls);
        s *= 2;
        if (st == TAV_OK)
            st = conv3x3(&v->up[i][1], a, s, s, 0, b, TAV_ACT_SILU, col, ls);
    }
    if (st == TAV_OK)
        st = conv3x3(&v->conv_out, b, s, s, 0, a, TAV_ACT_NONE, col, ls);
    if (st != TAV_OK)
        return st;
    /* byte = clamp(round_half_even((y + 1) * 127.5), 0, 255) */
    for (int p = 0; p < s * s; p++)
        for (int c = 0; c < 3; c++) {
            float y = a[(size_t)p * 3 + c];
            if (f32)
                f32[(size_t)c * s * s + p] = y;
            float q = nearbyintf((y + 1.0f) * 127.5f);
            rgb[(size_t)p * 3 + c] = (uint8_t)(q < 0.0f ? 0.0f : q > 255.0f ? 255.0f : q);
        }
    return TAV_OK;
}

static void vae_tile(void *ctx, int tile, int worker)
{
    vae_job *j = ctx;
    const tav_engine_cfg *cfg = j->v->cfg;
    tav_vae_ws *ws = j->ws;
    size_t zf = (size_t)cfg->latent_channels * cfg->latent_size * cfg->latent_size;
    size_t px = (size_t)cfg->image_size * cfg->image_size;
    float *a = ws->act + (size_t)worker * 2 * ws->act_floats;
    tav_linear_scratch ls = {ws->ls ? ws->ls + (size_t)worker * ws->ls_bytes : NULL, ws->ls_bytes};
    tav_status st = decode_frame(j->v, j->zn + (size_t)tile * zf, a, a + ws->act_floats,
                                 ws->col + (size_t)worker * ws->col_floats, &ls,
                                 j->rgb + (size_t)tile * px * 3,
                                 j->f32 ? j->f32 + (size_t)tile * px * 3 : NULL);
    if (st != TAV_OK)
        j->st[tile] = st;
}

tav_status tav_vae_decode(const tav_vae *v, const tav_engine_ctx *ec, tav_vae_ws *ws,
                          const float *zn, int n, uint8_t *rgb, float *f32)
{
    if (n < 1 || n > ws->n_workers || n > TAV_POOL_MAX_THREADS)
        return tav_fail(TAV_ERR_INTERNAL, "decoder: %d frames for %d workers", n, ws->n_workers);
    vae_job j = {.v = v, .ws = ws, .zn = zn, .rgb = rgb, .f32 = f32};
    tav_pool_run_tiles(ec->pool, n, vae_tile, &j);
    for (int i = 0; i < n; i++)
        if (j.st[i] != TAV_OK)
            return tav_fail(j.st[i], "decoding frame %d failed", i);
    return TAV_OK;
}
