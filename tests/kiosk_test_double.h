/* kiosk_test_double.h — TEST DOUBLE of the engine seam (tav_kiosk_generate_fn) for the
 * kiosk's queue / SSE / cancel / cache tests. Never linked into the `tav` binary.
 *
 * It stands in for core/pipeline.h only: it takes a known number of steps (sleeping
 * step_ms each, honouring the cancel flag), makes small RGB frames that are a plain
 * function of the prompts and seed (NOT a model: flat colours, one per scene), and
 * writes them with the real core/media.h writers (MP4, PNG contact sheet, JPEG thumb).
 */
#ifndef TAV_TESTS_KIOSK_TEST_DOUBLE_H
#define TAV_TESTS_KIOSK_TEST_DOUBLE_H

#include "core/media.h"
#include "core/mem.h"
#include "kiosk/worker.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

typedef struct test_double_gen {
    int steps;          /* progress calls per job                        */
    int step_ms;        /* sleep per step                                */
    atomic_int calls;   /* generate() calls (a cache hit makes none)     */
    atomic_int started; /* set when a call begins                        */
} test_double_gen;

#define TD_W 64
#define TD_H 64
#define TD_FRAMES_PER_SCENE 6

static void td_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint32_t td_hash(const char *s, uint64_t seed)
{
    uint32_t h = 2166136261u ^ (uint32_t)seed;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static tav_status test_double_generate(void *ctx, const tav_kiosk_job_params *jp,
                                       tav_kiosk_progress_fn progress, void *user,
                                       const atomic_int *cancel, const tav_kiosk_out_paths *out)
{
    test_double_gen *g = ctx;
    atomic_fetch_add(&g->calls, 1);
    atomic_store(&g->started, 1);
    for (int s = 1; s <= g->steps; s++) {
        td_sleep_ms(g->step_ms);
        if (atomic_load(cancel) || (progress && progress(user, "denoise", s, g->steps, -1.0)))
            return tav_fail(TAV_ERR_CANCELLED, "cancelled");
    }
    tav_video v;
    memset(&v, 0, sizeof v);
    v.width = TD_W;
    v.height = TD_H;
    v.fps = 8;
    v.n_scenes = jp->n_scenes;
    v.n_frames = jp->n_scenes * TD_FRAMES_PER_SCENE;
    v.rgb = tav_malloc((size_t)v.n_frames * TD_W * TD_H * 3);
    if (!v.rgb)
        return tav_fail(TAV_ERR_NOMEM, "test double: out of memory");
    for (int sc = 0; sc < jp->n_scenes; sc++) {
        v.scene_start[sc] = sc * TD_FRAMES_PER_SCENE;
        uint32_t h = td_hash(jp->scenes[sc], jp->seed);
        for (int f = 0; f < TD_FRAMES_PER_SCENE; f++) {
            uint8_t *fr = v.rgb + (size_t)(sc * TD_FRAMES_PER_SCENE + f) * TD_W * TD_H * 3;
            for (int i = 0; i < TD_W * TD_H; i++) {
                int x = i % TD_W;
                int bar = x >= f * 10 && x < f * 10 + 8; /* a moving bar */
                fr[i * 3 + 0] = bar ? 255 : (uint8_t)(h);
                fr[i * 3 + 1] = bar ? 255 : (uint8_t)(h >> 8);
                fr[i * 3 + 2] = bar ? 255 : (uint8_t)(h >> 16);
            }
        }
    }
    tav_status st = tav_media_write_mp4(out->video, &v, NULL);
    if (st == TAV_OK)
        st = tav_media_write_sheet_png(out->sheet, v.rgb, TD_W, TD_H, v.n_frames, v.scene_start,
                                       v.n_scenes, 3, NULL, 0);
    if (st == TAV_OK)
        st = tav_media_write_thumb_jpeg(out->thumb, v.rgb, TD_W, TD_H, 32, 80);
    tav_free(v.rgb);
    return st;
}

#endif
