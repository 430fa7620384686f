/* pipeline.h — the public API of one generation: scene prompts in, RGB frames out.
 *
 *   tav_pipeline *p;
 *   if (tav_pipeline_open("assets/default.tavm", &p) != TAV_OK) { ...tav_last_error()... }
 *   tav_gen_params gp = tav_gen_default_params();
 *   const char *scenes[] = {"a red gear moves along the conveyor", "the press stamps a blue plate"};
 *   gp.scenes = scenes; gp.n_scenes = 2; gp.seed = 42;
 *   tav_video v;
 *   tav_status st = tav_pipeline_generate(p, &gp, &v);   // frames in v.rgb
 *   ... tav_video_free(&v); tav_pipeline_close(p);
 *
 * INTERFACE ONLY until the engine lands (issue 6): the kiosk and the CLI are
 * written against it; core/pipeline.c implements it.
 *
 * Threading: one generation at a time per tav_pipeline; the pipeline itself
 * spreads work over gp.threads threads. Same inputs give the same bytes for
 * any thread count.
 */
#ifndef TAV_PIPELINE_H
#define TAV_PIPELINE_H

#include "core/status.h"

#include <stdatomic.h>
#include <stdint.h>

#define TAV_MAX_SCENES 6

typedef struct tav_pipeline tav_pipeline;

/* Called after each sampler step and at stage changes. stage is a static
 * string ("text", "denoise", "decode"); step counts 1..total over the whole
 * generation; eta_seconds < 0 when not yet known. Return nonzero to cancel. */
typedef int (*tav_progress_fn)(void *user, const char *stage, int step, int total,
                               double eta_seconds);

typedef struct tav_gen_params {
    const char *const *scenes; /* n_scenes scene captions, UTF-8, borrowed     */
    int n_scenes;              /* 1..TAV_MAX_SCENES                            */
    uint64_t seed;             /* noise seed                                   */
    int steps;                 /* sampler steps; 0 = the model's default       */
    int threads;               /* worker threads; 0 = all cores                */
    int width, height;         /* 0 = the model's native resolution            */
    int fps;                   /* 0 = the model's native fps (8)               */
    const float *scene_seconds;/* optional per-scene durations, NULL = model's */
    tav_progress_fn progress;  /* optional                                     */
    void *progress_user;
    const atomic_int *cancel;  /* optional; nonzero = stop within one step     */
} tav_gen_params;

typedef struct tav_video {
    int width, height, n_frames, fps;
    uint8_t *rgb;              /* n_frames * height * width * 3, owned         */
    int n_scenes;
    int scene_start[TAV_MAX_SCENES]; /* first frame of each requested scene    */
} tav_video;

tav_gen_params tav_gen_default_params(void);

/* Opens (mmaps) a model file and prepares the engine. Errors: TAV_ERR_IO,
 * TAV_ERR_FORMAT, TAV_ERR_CHECKSUM, TAV_ERR_VERSION, TAV_ERR_NOMEM. */
tav_status tav_pipeline_open(const char *model_path, tav_pipeline **out);
void tav_pipeline_close(tav_pipeline *p);

/* The model file's payload checksum as lowercase hex (for cache keys). */
const char *tav_pipeline_model_checksum(const tav_pipeline *p);

/* Checks prompts against the vocabulary without generating: TAV_OK, or
 * TAV_ERR_UNKNOWN_WORD with the unknown words named in tav_last_error(). */
tav_status tav_pipeline_check_prompts(tav_pipeline *p, const char *const *scenes, int n_scenes);

/* Generates a video. Errors: TAV_ERR_INVALID_ARG / TAV_ERR_LIMIT (bad params),
 * TAV_ERR_UNKNOWN_WORD, TAV_ERR_CANCELLED, TAV_ERR_NOMEM. On error *out is
 * zeroed and owns nothing. */
tav_status tav_pipeline_generate(tav_pipeline *p, const tav_gen_params *gp, tav_video *out);

void tav_video_free(tav_video *v);

#endif
