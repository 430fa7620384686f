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
 * core/pipeline.c implements it over the engine modules listed in
 * core/engine.h (tokenizer, text encoder, DiT, sampler, tiled VAE decoder).
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

/* Called with each decoded frame (index 0..n_frames-1, in order; rgb is
 * height*width*3 bytes valid during the call). A non-OK return stops the
 * generation with that status. */
typedef tav_status (*tav_frame_fn)(void *user, int index, const uint8_t *rgb, int width,
                                   int height);

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
    /* ---- added with the engine (zero = old behaviour) ---- */
    tav_frame_fn on_frame;     /* optional: each decoded frame, in order, as   */
    void *on_frame_user;       /*   soon as its batch is decoded (streaming)   */
    int discard_frames;        /* 1: do not keep frames in tav_video.rgb (NULL)*/
                               /*   so memory stays bounded; use on_frame      */
} tav_gen_params;

typedef struct tav_video {
    int width, height, n_frames, fps;
    uint8_t *rgb;              /* n_frames * height * width * 3, owned         */
    int n_scenes;
    int scene_start[TAV_MAX_SCENES]; /* first frame of each requested scene    */
} tav_video;

tav_gen_params tav_gen_default_params(void);

/* The shipped model, relative to the working directory: the int8 file that
 * `make model` ends with, or the fp32 export when the int8 file is absent. */
#define TAV_DEFAULT_MODEL_INT8 "assets/default-int8.tavm"
#define TAV_DEFAULT_MODEL_FP32 "assets/default.tavm"
const char *tav_pipeline_default_model(void);

/* Opens (mmaps) a model file and prepares the engine. Errors: TAV_ERR_IO,
 * TAV_ERR_FORMAT, TAV_ERR_CHECKSUM, TAV_ERR_VERSION, TAV_ERR_NOMEM.
 * Linear and convolution weights stored as f32 are used in place from the
 * mapping (OpenBLAS sgemm); weights stored as s8 (tav quantize) are packed
 * once here for the int8 kernels. */
tav_status tav_pipeline_open(const char *model_path, tav_pipeline **out);
/* As tav_pipeline_open; flags are tav_model_open()'s (TAV_MODEL_NO_VERIFY
 * skips the SHA-256 pass: tests that corrupt weights on purpose). */
tav_status tav_pipeline_open_flags(const char *model_path, unsigned flags, tav_pipeline **out);

/* The model's native settings. */
typedef struct tav_model_info {
    int width, height, fps, frames_per_scene, max_scenes, sample_steps;
    float cfg_scale;
    int int8_layers, f32_layers; /* linear/conv layers on each path */
} tav_model_info;
void tav_pipeline_model_info(const tav_pipeline *p, tav_model_info *out);

/* Timing of the last tav_pipeline_generate (seconds, wall clock). */
typedef struct tav_gen_stats {
    double text_s, denoise_s, decode_s, total_s;
    int steps, dit_passes, n_frames, threads;
    size_t arena_bytes;          /* the activation arena of that run */
} tav_gen_stats;
void tav_pipeline_last_stats(const tav_pipeline *p, tav_gen_stats *out);
void tav_pipeline_close(tav_pipeline *p);

/* The model file's payload checksum as lowercase hex (for cache keys). */
const char *tav_pipeline_model_checksum(const tav_pipeline *p);

/* Checks prompts against the vocabulary without generating: TAV_OK, or
 * TAV_ERR_UNKNOWN_WORD with the unknown words named in tav_last_error(). */
tav_status tav_pipeline_check_prompts(tav_pipeline *p, const char *const *scenes, int n_scenes);

/* Generates a video. Errors: TAV_ERR_INVALID_ARG / TAV_ERR_LIMIT (bad params),
 * TAV_ERR_UNSUPPORTED (a width/height other than the model's),
 * TAV_ERR_UNKNOWN_WORD, TAV_ERR_CANCELLED, TAV_ERR_NOMEM. On error *out is
 * zeroed and owns nothing.
 * Frames: n_scenes * frames_per_scene at the model's fps; with gp->fps the
 * count scales so each scene keeps its duration; with scene_seconds each
 * scene k gets round(seconds[k] * fps) frames (at least 1). At most
 * TAV_MAX_FRAMES frames. scene_start gives the requested boundaries; the
 * model is not told them (it places cuts from the prompt).
 * Progress: stage "text" (step 0), "denoise" (steps 1..S), "decode"
 * (S+1..S+n_frames); total = S + n_frames; the ETA is the measured time per
 * multiply-accumulate times the work left. */
#define TAV_MAX_FRAMES 360
tav_status tav_pipeline_generate(tav_pipeline *p, const tav_gen_params *gp, tav_video *out);

void tav_video_free(tav_video *v);

#endif
