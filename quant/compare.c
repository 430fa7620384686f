/* compare.c — end-to-end frame error of one model file against another
 * (`tav quantize --compare REF.tavm TEST.tavm`, docs/quantization.md).
 *
 * Both files generate the same prompts with the same seeds through the
 * public pipeline (core/pipeline.h); the frames are compared byte for byte.
 * Frame NMSE maps bytes to [-1, 1] (x = b / 127.5 - 1, as the decoder's
 * output before to_bytes) and is sum (test - ref)^2 / sum ref^2 over every
 * value compared; PSNR is 10 log10(255^2 / MSE) on the bytes.
 */
#include "quant/quant_priv.h"

#include "core/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- statistics */

void tav_quant_cmp_add(tav_quant_cmp_stats *s, const uint8_t *ref, const uint8_t *test, size_t n)
{
    double se = 0, sr = 0, sa = 0;
    int mx = s->max_diff;
    for (size_t i = 0; i < n; i++) {
        double r = ref[i] / 127.5 - 1.0, t = test[i] / 127.5 - 1.0;
        int d = abs((int)test[i] - (int)ref[i]);
        se += (t - r) * (t - r);
        sr += r * r;
        sa += d;
        mx = d > mx ? d : mx;
    }
    s->sq_err += se;
    s->sq_ref += sr;
    s->abs_sum += sa;
    s->n_values += n;
    s->max_diff = mx;
}

void tav_quant_cmp_merge(tav_quant_cmp_stats *into, const tav_quant_cmp_stats *s)
{
    into->sq_err += s->sq_err;
    into->sq_ref += s->sq_ref;
    into->abs_sum += s->abs_sum;
    into->n_values += s->n_values;
    into->n_frames += s->n_frames;
    into->max_diff = s->max_diff > into->max_diff ? s->max_diff : into->max_diff;
}

double tav_quant_cmp_nmse(const tav_quant_cmp_stats *s)
{
    if (s->sq_err == 0)
        return 0;
    return s->sq_ref > 0 ? s->sq_err / s->sq_ref : INFINITY;
}

double tav_quant_cmp_psnr(const tav_quant_cmp_stats *s)
{
    if (s->sq_err == 0 || s->n_values == 0)
        return INFINITY;
    double mse_bytes = s->sq_err * 127.5 * 127.5 / (double)s->n_values;
    return 10.0 * log10(255.0 * 255.0 / mse_bytes);
}

/* ---------------------------------------------------------------- the models */

/* The settings a frame-by-frame comparison needs to be equal. */
tav_status tav_quant_compare_check(const tav_pipeline *ref, const tav_pipeline *test)
{
    tav_model_info a, b;
    tav_pipeline_model_info(ref, &a);
    tav_pipeline_model_info(test, &b);
    if (a.width != b.width || a.height != b.height)
        return tav_fail(TAV_ERR_INVALID_ARG, "the models differ in resolution (%dx%d vs %dx%d)",
                        a.width, a.height, b.width, b.height);
    if (a.fps != b.fps || a.frames_per_scene != b.frames_per_scene)
        return tav_fail(TAV_ERR_INVALID_ARG,
                        "the models differ in frames (%d per scene at %d fps vs %d at %d fps)",
                        a.frames_per_scene, a.fps, b.frames_per_scene, b.fps);
    if (a.sample_steps != b.sample_steps || a.cfg_scale != b.cfg_scale)
        return tav_fail(TAV_ERR_INVALID_ARG,
                        "the models differ in sampler settings (%d steps, guidance %g vs %d "
                        "steps, guidance %g)",
                        a.sample_steps, (double)a.cfg_scale, b.sample_steps, (double)b.cfg_scale);
    return TAV_OK;
}

/* One generation of scenes with seed on pl, frames kept. */
static tav_status gen(tav_pipeline *pl, const char *const *scenes, int n, uint64_t seed,
                      int threads, tav_video *v)
{
    tav_gen_params gp = tav_gen_default_params();
    gp.scenes = scenes;
    gp.n_scenes = n;
    gp.seed = seed;
    gp.threads = threads;
    return tav_pipeline_generate(pl, &gp, v);
}

tav_status tav_quant_compare_run(tav_pipeline *ref, tav_pipeline *test, const char *const *scenes,
                                 int n_scenes, uint64_t seed, int threads, tav_quant_cmp_stats *s)
{
    tav_video va, vb;
    tav_status st = gen(ref, scenes, n_scenes, seed, threads, &va);
    if (st)
        return st;
    st = gen(test, scenes, n_scenes, seed, threads, &vb);
    if (st) {
        tav_video_free(&va);
        return st;
    }
    if (va.n_frames != vb.n_frames || va.width != vb.width || va.height != vb.height) {
        st = tav_fail(TAV_ERR_INVALID_ARG, "the models made different videos (%d frames of %dx%d "
                      "vs %d of %dx%d)", va.n_frames, va.width, va.height, vb.n_frames, vb.width,
                      vb.height);
    } else {
        tav_quant_cmp_add(s, va.rgb, vb.rgb, (size_t)va.n_frames * va.width * va.height * 3);
        s->n_frames += va.n_frames;
    }
    tav_video_free(&va);
    tav_video_free(&vb);
    return st;
}
