/* engine.c — the production generator: pipeline -> MP4 + contact sheet + thumbnail. */
#include "kiosk/engine.h"

#include "core/mem.h"
#include "core/sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef TAV_HAVE_ENGINE
#define TAV_HAVE_ENGINE 0
#endif

#if TAV_HAVE_ENGINE
#include "core/media.h"
#include "core/pipeline.h"
#endif

#define NOT_BUILT "engine not built yet"

struct tav_kiosk_engine {
    int available;
    char status[512];
    char checksum[TAV_SHA256_HEX_BYTES + 8];
#if TAV_HAVE_ENGINE
    tav_pipeline *pipe;
#endif
};

/* SHA-256 of the file's bytes, or "none" if it cannot be read. */
static void file_checksum(const char *path, char *hex)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        strcpy(hex, "none");
        return;
    }
    tav_sha256_ctx c;
    tav_sha256_init(&c);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        tav_sha256_update(&c, buf, n);
    fclose(f);
    uint8_t d[TAV_SHA256_BYTES];
    tav_sha256_final(&c, d);
    tav_sha256_hex(d, hex);
}

tav_status tav_kiosk_engine_open(const char *model_path, tav_kiosk_engine **out)
{
    *out = NULL;
    tav_kiosk_engine *e = tav_calloc(1, sizeof *e);
    if (!e)
        return tav_fail(TAV_ERR_NOMEM, "out of memory opening the engine");
    *out = e;
#if TAV_HAVE_ENGINE
    tav_status st = tav_pipeline_open(model_path, &e->pipe);
    if (st != TAV_OK) {
        snprintf(e->status, sizeof e->status, "the model cannot be used: %s", tav_last_error());
        file_checksum(model_path, e->checksum);
        return tav_fail(st, "%s", e->status);
    }
    e->available = 1;
    snprintf(e->checksum, sizeof e->checksum, "%s", tav_pipeline_model_checksum(e->pipe));
    snprintf(e->status, sizeof e->status, "ready");
    return TAV_OK;
#else
    file_checksum(model_path, e->checksum);
    snprintf(e->status, sizeof e->status, NOT_BUILT);
    return tav_fail(TAV_ERR_UNSUPPORTED, NOT_BUILT);
#endif
}

void tav_kiosk_engine_close(tav_kiosk_engine *e)
{
    if (!e)
        return;
#if TAV_HAVE_ENGINE
    tav_pipeline_close(e->pipe);
#endif
    tav_free(e);
}

int tav_kiosk_engine_available(const tav_kiosk_engine *e) { return e && e->available; }

const char *tav_kiosk_engine_status(const tav_kiosk_engine *e) { return e ? e->status : NOT_BUILT; }

const char *tav_kiosk_engine_model_checksum(const tav_kiosk_engine *e)
{
    return e ? e->checksum : "none";
}

tav_status tav_kiosk_engine_check_prompts(void *ctx, const tav_kiosk_job_params *jp)
{
    tav_kiosk_engine *e = ctx;
    if (!e || !e->available)
        return TAV_OK;
#if TAV_HAVE_ENGINE
    const char *scenes[TAV_KIOSK_MAX_SCENES];
    for (int i = 0; i < jp->n_scenes; i++)
        scenes[i] = jp->scenes[i];
    return tav_pipeline_check_prompts(e->pipe, scenes, jp->n_scenes);
#else
    (void)jp;
    return TAV_OK;
#endif
}

#if TAV_HAVE_ENGINE
typedef struct progress_bridge {
    tav_kiosk_progress_fn fn;
    void *user;
} progress_bridge;

static int bridge(void *user, const char *stage, int step, int total, double eta)
{
    progress_bridge *b = user;
    return b->fn ? b->fn(b->user, stage, step, total, eta) : 0;
}
#endif

tav_status tav_kiosk_engine_generate(void *ctx, const tav_kiosk_job_params *jp,
                                     tav_kiosk_progress_fn progress, void *progress_user,
                                     const atomic_int *cancel, const tav_kiosk_out_paths *out)
{
    tav_kiosk_engine *e = ctx;
    if (!e || !e->available)
        return tav_fail(TAV_ERR_UNSUPPORTED, "%s", e ? e->status : NOT_BUILT);
#if TAV_HAVE_ENGINE
    const char *scenes[TAV_KIOSK_MAX_SCENES];
    float secs[TAV_KIOSK_MAX_SCENES];
    int any_secs = 0;
    for (int i = 0; i < jp->n_scenes; i++) {
        scenes[i] = jp->scenes[i];
        secs[i] = (float)jp->seconds[i];
        any_secs |= jp->seconds[i] > 0;
    }
    progress_bridge pb = {progress, progress_user};
    tav_gen_params gp = tav_gen_default_params();
    gp.scenes = scenes;
    gp.n_scenes = jp->n_scenes;
    gp.seed = jp->seed;
    gp.steps = jp->steps;
    gp.width = jp->width;
    gp.height = jp->height;
    gp.fps = jp->fps;
    gp.scene_seconds = any_secs ? secs : NULL;
    gp.progress = bridge;
    gp.progress_user = &pb;
    gp.cancel = cancel;
    tav_video v;
    tav_status st = tav_pipeline_generate(e->pipe, &gp, &v);
    if (st != TAV_OK)
        return st;
    st = tav_media_write_mp4(out->video, &v, NULL);
    if (st == TAV_OK) {
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)jp->seed);
        tav_media_kv kv[TAV_KIOSK_MAX_SCENES + 1];
        char keys[TAV_KIOSK_MAX_SCENES][24];
        int n_kv = 0;
        kv[n_kv++] = (tav_media_kv){"seed", seed};
        for (int i = 0; i < jp->n_scenes; i++) {
            snprintf(keys[i], sizeof keys[i], "prompt %d", i + 1);
            kv[n_kv++] = (tav_media_kv){keys[i], jp->scenes[i]};
        }
        st = tav_media_write_sheet_png(out->sheet, v.rgb, v.width, v.height, v.n_frames,
                                       v.scene_start, v.n_scenes, 6, kv, n_kv);
    }
    if (st == TAV_OK) {
        /* The thumbnail shows the middle of the first scene. */
        int end0 = v.n_scenes > 1 ? v.scene_start[1] : v.n_frames;
        int start0 = v.n_scenes > 0 ? v.scene_start[0] : 0;
        int fr = start0 + (end0 - start0) / 2;
        if (fr >= v.n_frames)
            fr = v.n_frames - 1;
        st = tav_media_write_thumb_jpeg(out->thumb,
                                        v.rgb + (size_t)fr * (size_t)v.width * v.height * 3,
                                        v.width, v.height, 160, 85);
    }
    tav_video_free(&v);
    return st;
#else
    (void)jp;
    (void)progress;
    (void)progress_user;
    (void)cancel;
    (void)out;
    return tav_fail(TAV_ERR_UNSUPPORTED, NOT_BUILT);
#endif
}
