/* pipeline.c — the generation API (core/pipeline.h): open a model, plan one
 * activation arena per run, text -> noise -> Euler/CFG DiT -> tiled decode. */
#include "core/pipeline.h"

#include "core/engine.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/sampler.h"
#include "simd/simd.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct tav_pipeline {
    tav_model *model;
    tav_engine_cfg cfg;
    tav_tokenizer tok;
    tav_text_encoder te;
    tav_dit dit;
    tav_vae vae;
    tav_pool *pool;
    tav_arena arena; /* the last run's activations, kept for the next run */
    tav_gen_stats stats;
    char checksum[80];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- open / close */

tav_gen_params tav_gen_default_params(void)
{
    tav_gen_params gp;
    memset(&gp, 0, sizeof gp);
    gp.seed = 1;
    return gp;
}

tav_status tav_pipeline_open(const char *model_path, tav_pipeline **out)
{
    return tav_pipeline_open_flags(model_path, 0, out);
}

tav_status tav_pipeline_open_flags(const char *model_path, unsigned flags, tav_pipeline **out)
{
    *out = NULL;
    tav_simd_init(); /* a bad TAV_ISA keeps the best path; the kernels still work */
    tav_clear_error();
    tav_linear_blas_single_thread();
    tav_pipeline *p = tav_calloc(1, sizeof *p);
    if (!p)
        return tav_fail(TAV_ERR_NOMEM, "out of memory opening the pipeline");
    tav_status st = tav_model_open(model_path, flags, &p->model);
    if (st == TAV_OK)
        st = tav_engine_cfg_load(p->model, &p->cfg);
    if (st == TAV_OK)
        st = tav_tokenizer_load(&p->tok, p->model, &p->cfg);
    if (st == TAV_OK)
        st = tav_text_encoder_load(&p->te, p->model, &p->cfg);
    if (st == TAV_OK)
        st = tav_dit_load(&p->dit, p->model, &p->cfg);
    if (st == TAV_OK)
        st = tav_vae_load(&p->vae, p->model, &p->cfg);
    if (st != TAV_OK) {
        char msg[768];
        snprintf(msg, sizeof msg, "%s", tav_last_error());
        tav_pipeline_close(p);
        return tav_fail(st, "%s: %s", model_path, msg);
    }
    snprintf(p->checksum, sizeof p->checksum, "%s", tav_model_checksum_hex(p->model));
    *out = p;
    return TAV_OK;
}

void tav_pipeline_close(tav_pipeline *p)
{
    if (!p)
        return;
    if (p->te.cfg)
        tav_text_encoder_free(&p->te);
    if (p->dit.cfg)
        tav_dit_free(&p->dit);
    if (p->vae.cfg)
        tav_vae_free(&p->vae);
    tav_pool_free(p->pool);
    tav_arena_free(&p->arena);
    tav_model_close(p->model);
    tav_free(p);
}

const char *tav_pipeline_model_checksum(const tav_pipeline *p) { return p->checksum; }

static void count_layer(const tav_linear *l, tav_model_info *mi)
{
    if (tav_linear_is_int8(l))
        mi->int8_layers++;
    else
        mi->f32_layers++;
}

void tav_pipeline_model_info(const tav_pipeline *p, tav_model_info *mi)
{
    const tav_engine_cfg *c = &p->cfg;
    memset(mi, 0, sizeof *mi);
    mi->width = mi->height = c->image_size;
    mi->fps = c->fps;
    mi->frames_per_scene = c->frames_per_scene;
    mi->max_scenes = c->max_scenes < TAV_MAX_SCENES ? c->max_scenes : TAV_MAX_SCENES;
    mi->sample_steps = c->sample_steps;
    mi->cfg_scale = (float)c->cfg_scale;
    for (int j = 0; j < c->text_layers; j++) {
        const tav_text_block *b = &p->te.blocks[j];
        const tav_linear *ls[] = {&b->attn.q, &b->attn.k, &b->attn.v, &b->attn.o, &b->fc1, &b->fc2};
        for (int i = 0; i < 6; i++)
            count_layer(ls[i], mi);
    }
    if (c->text_scene_pos)
        count_layer(&p->te.scene_pos, mi);
    const tav_dit *d = &p->dit;
    const tav_linear *top[] = {&d->patch_in, &d->t_fc1, &d->t_fc2, &d->text_proj, &d->final_mod,
                               &d->patch_out, &p->vae.conv_in, &p->vae.conv_out};
    for (int i = 0; i < 8; i++)
        count_layer(top[i], mi);
    for (int j = 0; j < c->depth; j++) {
        const tav_dit_block *b = &d->blocks[j];
        const tav_attn_weights *at[] = {&b->attn_s, &b->attn_t, &b->attn_c};
        for (int a = 0; a < 3; a++) {
            count_layer(&at[a]->q, mi);
            count_layer(&at[a]->k, mi);
            count_layer(&at[a]->v, mi);
            count_layer(&at[a]->o, mi);
        }
        count_layer(&b->mod, mi);
        count_layer(&b->fc1, mi);
        count_layer(&b->fc2, mi);
    }
    for (int i = 0; i < c->dec_levels; i++) {
        count_layer(&p->vae.up[i][0], mi);
        count_layer(&p->vae.up[i][1], mi);
    }
}

void tav_pipeline_last_stats(const tav_pipeline *p, tav_gen_stats *out) { *out = p->stats; }

tav_status tav_pipeline_check_prompts(tav_pipeline *p, const char *const *scenes, int n_scenes)
{
    int *ids = tav_malloc_array((size_t)p->cfg.max_text * 2, sizeof(int));
    if (!ids)
        return tav_fail(TAV_ERR_NOMEM, "out of memory checking prompts");
    int n;
    tav_status st = tav_tokenizer_encode(&p->tok, scenes, n_scenes, &p->cfg, ids,
                                         ids + p->cfg.max_text, &n);
    tav_free(ids);
    return st;
}

void tav_video_free(tav_video *v)
{
    if (!v)
        return;
    tav_free(v->rgb);
    memset(v, 0, sizeof *v);
}

/* ---------------------------------------------------------------- parameters */

/* Frames per scene from the parameters; fills start[] and returns T, or <0. */
static tav_status plan_frames(const tav_engine_cfg *c, const tav_gen_params *gp, int fps,
                              int *start, int *T)
{
    int total = 0;
    for (int k = 0; k < gp->n_scenes; k++) {
        double secs = gp->scene_seconds ? (double)gp->scene_seconds[k]
                                        : (double)c->frames_per_scene / c->fps;
        if (!(secs > 0.0 && secs <= 60.0))
            return tav_fail(TAV_ERR_INVALID_ARG, "scene %d lasts %g s; give 0 < seconds <= 60",
                            k + 1, secs);
        long f = lround(secs * fps);
        if (f < 1)
            f = 1;
        start[k] = total;
        if (total + f > TAV_MAX_FRAMES)
            return tav_fail(TAV_ERR_LIMIT, "the video would have more than %d frames; "
                            "use fewer or shorter scenes", TAV_MAX_FRAMES);
        total += (int)f;
    }
    *T = total;
    return TAV_OK;
}

static tav_status check_params(const tav_pipeline *p, const tav_gen_params *gp)
{
    const tav_engine_cfg *c = &p->cfg;
    int max_scenes = c->max_scenes < TAV_MAX_SCENES ? c->max_scenes : TAV_MAX_SCENES;
    if (!gp->scenes || gp->n_scenes < 1 || gp->n_scenes > max_scenes)
        return tav_fail(TAV_ERR_LIMIT, "%d scenes; this model takes 1..%d", gp->n_scenes,
                        max_scenes);
    if ((gp->width && gp->width != c->image_size) || (gp->height && gp->height != c->image_size))
        return tav_fail(TAV_ERR_UNSUPPORTED, "%dx%d frames are not supported: this model makes "
                        "%dx%d frames (leave the size at 0 for the model's)",
                        gp->width, gp->height, c->image_size, c->image_size);
    if (gp->steps < 0 || gp->steps > 1000)
        return tav_fail(TAV_ERR_INVALID_ARG, "%d sampler steps; use 1..1000 (0 = model default)",
                        gp->steps);
    if (gp->threads < 0 || gp->threads > TAV_POOL_MAX_THREADS)
        return tav_fail(TAV_ERR_INVALID_ARG, "%d threads; use 1..%d (0 = all cores)", gp->threads,
                        TAV_POOL_MAX_THREADS);
    if (gp->fps < 0 || gp->fps > 60)
        return tav_fail(TAV_ERR_INVALID_ARG, "%d fps; use 1..60 (0 = the model's %d)", gp->fps,
                        c->fps);
    return TAV_OK;
}

static tav_status ensure_pool(tav_pipeline *p, int threads)
{
    if (p->pool && tav_pool_size(p->pool) == threads)
        return TAV_OK;
    tav_pool_free(p->pool);
    p->pool = NULL;
    return tav_pool_init(threads, &p->pool);
}

/* ---------------------------------------------------------------- the run's arena */

typedef struct run_bufs {
    tav_text_ws tws;
    tav_dit_ws dws;
    tav_vae_ws vws;
    int *ids, *sc;
    float *emb_c, *emb_u, *txt_c, *txt_u, *z, *vc, *vu;
    uint8_t *batch_rgb;
} run_bufs;

/* Carves every buffer of one run; the same code sizes the arena (measuring)
 * and then fills it, so the two cannot disagree. */
static tav_status plan_run(const tav_pipeline *p, tav_arena *a, int T, int workers, run_bufs *b)
{
    const tav_engine_cfg *c = &p->cfg;
    int L = c->max_text, Dt = c->text_width, D = c->width;
    size_t zn = (size_t)T * c->latent_channels * c->latent_size * c->latent_size;
    tav_status st;
    memset(b, 0, sizeof *b);
    if ((st = tav_text_ws_plan(&p->te, a, L, workers, &b->tws)) ||
        (st = tav_dit_ws_plan(&p->dit, a, T, L, workers, &b->dws)) ||
        (st = tav_vae_ws_plan(&p->vae, a, workers, &b->vws)))
        return st;
    b->ids = tav_arena_alloc(a, (size_t)L * sizeof(int));
    b->sc = tav_arena_alloc(a, (size_t)L * sizeof(int));
    b->emb_c = tav_arena_floats(a, (size_t)L * Dt);
    b->emb_u = tav_arena_floats(a, (size_t)Dt);
    b->txt_c = tav_arena_floats(a, (size_t)L * D);
    b->txt_u = tav_arena_floats(a, (size_t)D);
    b->z = tav_arena_floats(a, zn);
    b->vc = tav_arena_floats(a, zn);
    b->vu = tav_arena_floats(a, zn);
    b->batch_rgb = tav_arena_alloc(a, (size_t)workers * c->image_size * c->image_size * 3);
    if (!b->ids || !b->sc || !b->emb_c || !b->emb_u || !b->txt_c || !b->txt_u || !b->z ||
        !b->vc || !b->vu || !b->batch_rgb)
        return tav_fail(TAV_ERR_NOMEM, "activation arena too small");
    return TAV_OK;
}

/* The run's arena: the previous run's when it is large enough (its pages
 * are already mapped: a fresh multi-megabyte allocation page-faults on every
 * first touch; 10 generations of the shipped model took 4,558 minor faults
 * and 0.07 s of system time with a new arena per run, 2,773 and 0.03 s
 * reusing it), else a new one of exactly `bytes`. */
#define ARENA_KEEP_MAX ((size_t)64 << 20) /* larger arenas are freed after their run */
static tav_status reuse_arena(tav_arena *a, size_t bytes)
{
    if (a->base && a->cap >= bytes) {
        tav_arena_reset(a, 0);
        return TAV_OK;
    }
    tav_arena_free(a);
    return tav_arena_init(a, bytes);
}

/* ---------------------------------------------------------------- progress */

/* Multiply-accumulates of one DiT pass and one decoded frame: the ETA is the
 * measured time per MAC times the MACs left. */
static double dit_macs(const tav_engine_cfg *c, int T, int L)
{
    double D = c->width, S = c->tokens_per_frame, N = (double)T * S, H = c->mlp_ratio * D;
    double P = (double)c->latent_channels * c->patch * c->patch;
    double blk = 9 * D * D + 2 * (4 * N * D * D) + 2 * N * D * D + 2 * L * D * D + 2 * N * D * H +
                 2 * (T * S * S * D) + 2 * (S * T * T * D) + 2 * N * L * D;
    return 2 * N * D * P + c->depth * blk;
}

static double vae_macs(const tav_vae *v)
{
    const tav_engine_cfg *c = v->cfg;
    double hw = (double)c->latent_size * c->latent_size;
    double m = hw * v->conv_in.n_out * v->conv_in.k;
    for (int i = 0; i < c->dec_levels; i++) {
        hw *= 4;
        m += hw * ((double)v->up[i][0].n_out * v->up[i][0].k + (double)v->up[i][1].n_out * v->up[i][1].k);
    }
    return m + hw * v->conv_out.n_out * v->conv_out.k;
}

typedef struct run_progress {
    const tav_gen_params *gp;
    int steps, n_frames, passes_per_step;
    double t0, pass_macs, frame_macs;
} run_progress;

static tav_status report(run_progress *r, const char *stage, int step, double done_macs)
{
    if (!r->gp->progress)
        return TAV_OK;
    double total = r->steps * r->passes_per_step * r->pass_macs + r->n_frames * r->frame_macs;
    double el = now_s() - r->t0;
    double eta = done_macs > 0 ? el / done_macs * (total - done_macs) : -1.0;
    if (r->gp->progress(r->gp->progress_user, stage, step, r->steps + r->n_frames, eta))
        return tav_fail(TAV_ERR_CANCELLED, "generation cancelled");
    return TAV_OK;
}

static tav_status on_step(void *user, int step, const float *z)
{
    (void)z;
    run_progress *r = user;
    return report(r, "denoise", step, step * r->passes_per_step * r->pass_macs);
}

/* ---------------------------------------------------------------- generate */

/* Decodes z [T, C, h, h] in batches of one frame per worker, streaming each
 * frame to gp->on_frame and (unless discarded) into v->rgb. */
static tav_status decode_all(tav_pipeline *p, const tav_engine_ctx *ec, run_bufs *b,
                             const tav_gen_params *gp, int T, run_progress *rp, tav_video *v)
{
    const tav_engine_cfg *c = &p->cfg;
    size_t zf = (size_t)c->latent_channels * c->latent_size * c->latent_size;
    size_t fb = (size_t)c->image_size * c->image_size * 3;
    int batch = b->vws.n_workers;
    double denoise_macs = rp->steps * rp->passes_per_step * rp->pass_macs;
    for (int f0 = 0; f0 < T; f0 += batch) {
        if (tav_engine_cancelled(ec))
            return tav_fail(TAV_ERR_CANCELLED, "generation cancelled");
        int n = T - f0 < batch ? T - f0 : batch;
        tav_status st = tav_vae_decode(&p->vae, ec, &b->vws, b->z + (size_t)f0 * zf, n,
                                       b->batch_rgb, NULL);
        for (int i = 0; i < n && st == TAV_OK; i++) {
            const uint8_t *fr = b->batch_rgb + (size_t)i * fb;
            if (gp->on_frame)
                st = gp->on_frame(gp->on_frame_user, f0 + i, fr, c->image_size, c->image_size);
            if (v->rgb)
                memcpy(v->rgb + (size_t)(f0 + i) * fb, fr, fb);
        }
        if (st == TAV_OK)
            st = report(rp, "decode", rp->steps + f0 + n, denoise_macs + (f0 + n) * rp->frame_macs);
        if (st != TAV_OK)
            return st;
    }
    return TAV_OK;
}

/* text -> txt for the prompt and the unconditional prompt (<bos> alone) */
static tav_status encode_text(tav_pipeline *p, const tav_engine_ctx *ec, run_bufs *b,
                              const tav_gen_params *gp, int *l_c)
{
    tav_status st = tav_tokenizer_encode(&p->tok, gp->scenes, gp->n_scenes, &p->cfg, b->ids,
                                         b->sc, l_c);
    if (st != TAV_OK)
        return st;
    if ((st = tav_text_encoder_forward(&p->te, ec, &b->tws, b->ids, b->sc, *l_c, b->emb_c)) ||
        (st = tav_dit_prepare_text(&p->dit, ec, &b->dws, b->emb_c, *l_c, b->txt_c)))
        return st;
    b->ids[0] = p->tok.bos;
    b->sc[0] = 0;
    if ((st = tav_text_encoder_forward(&p->te, ec, &b->tws, b->ids, b->sc, 1, b->emb_u)) ||
        (st = tav_dit_prepare_text(&p->dit, ec, &b->dws, b->emb_u, 1, b->txt_u)))
        return st;
    return TAV_OK;
}

static tav_status generate(tav_pipeline *p, const tav_gen_params *gp, tav_arena *arena,
                           tav_video *v)
{
    const tav_engine_cfg *c = &p->cfg;
    double t_start = now_s();
    tav_status st = check_params(p, gp);
    if (st != TAV_OK)
        return st;
    int fps = gp->fps ? gp->fps : c->fps, T = 0;
    if ((st = plan_frames(c, gp, fps, v->scene_start, &T)))
        return st;
    int threads = gp->threads ? gp->threads : tav_pool_default_threads();
    if ((st = ensure_pool(p, threads)))
        return st;
    tav_engine_ctx ec = {.pool = p->pool, .n_threads = threads, .cancel = gp->cancel};
    /* one arena for the run: measure the plan, allocate once, carve for real */
    run_bufs b;
    tav_arena meas;
    tav_arena_init_measure(&meas);
    if ((st = plan_run(p, &meas, T, threads, &b)) || (st = reuse_arena(arena, meas.peak)) ||
        (st = plan_run(p, arena, T, threads, &b)))
        return st;
    v->width = v->height = c->image_size;
    v->n_frames = T;
    v->fps = fps;
    v->n_scenes = gp->n_scenes;
    if (!gp->discard_frames) {
        v->rgb = tav_malloc_array((size_t)T * c->image_size * c->image_size, 3);
        if (!v->rgb)
            return tav_fail(TAV_ERR_NOMEM, "out of memory for %d frames", T);
    }
    int steps = gp->steps ? gp->steps : c->sample_steps;
    float w = (float)c->cfg_scale;
    int l_c;
    run_progress rp = {.gp = gp, .steps = steps, .n_frames = T, .passes_per_step = w != 1.0f ? 2 : 1,
                       .frame_macs = vae_macs(&p->vae)};
    if ((st = report(&rp, "text", 0, 0)) || (st = encode_text(p, &ec, &b, gp, &l_c)))
        return st;
    rp.pass_macs = dit_macs(c, T, l_c);
    double t_text = now_s();
    rp.t0 = t_text;
    size_t zn = (size_t)T * c->latent_channels * c->latent_size * c->latent_size;
    tav_noise_fill(b.z, zn, gp->seed);
    tav_sampler_job sj = {.dit = &p->dit, .ec = &ec, .ws = &b.dws, .cfg = c, .z = b.z, .T = T,
                          .steps = steps, .cfg_scale = w, .txt_c = b.txt_c, .l_c = l_c,
                          .txt_u = b.txt_u, .l_u = 1, .vc = b.vc, .vu = b.vu,
                          .on_step = on_step, .user = &rp};
    if ((st = tav_sampler_run(&sj)))
        return st;
    double t_denoise = now_s();
    if ((st = decode_all(p, &ec, &b, gp, T, &rp, v)))
        return st;
    double t_end = now_s();
    p->stats = (tav_gen_stats){.text_s = t_text - t_start, .denoise_s = t_denoise - t_text,
                               .decode_s = t_end - t_denoise, .total_s = t_end - t_start,
                               .steps = steps, .dit_passes = steps * rp.passes_per_step,
                               .n_frames = T, .threads = threads, .arena_bytes = meas.peak};
    return TAV_OK;
}

tav_status tav_pipeline_generate(tav_pipeline *p, const tav_gen_params *gp, tav_video *out)
{
    memset(out, 0, sizeof *out);
    if (!p || !gp)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_pipeline_generate: NULL pipeline or params");
    tav_status st = generate(p, gp, &p->arena, out);
    if (p->arena.cap > ARENA_KEEP_MAX) /* a long video's: do not hold it between runs */
        tav_arena_free(&p->arena);
    if (st != TAV_OK)
        tav_video_free(out);
    return st;
}

const char *tav_pipeline_default_model(void)
{
    return access(TAV_DEFAULT_MODEL_INT8, R_OK) == 0 ? TAV_DEFAULT_MODEL_INT8
                                                     : TAV_DEFAULT_MODEL_FP32;
}
