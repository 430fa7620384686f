/* engine.h — the production generator behind the worker seam: core/pipeline.h + core/media.h.
 *
 *   tav_kiosk_engine *e;
 *   if (tav_kiosk_engine_open("assets/default.tavm", &e) != TAV_OK)
 *       warn(tav_last_error());            // e.g. "engine not built yet"; e is still usable:
 *   tav_kiosk_worker_start(store, tav_kiosk_engine_generate, e, &w);   // jobs then fail with that text
 *   const char *sum = tav_kiosk_engine_model_checksum(e);              // for cache keys
 *   tav_kiosk_engine_close(e);
 *
 * Until core/pipeline.c exists (the Makefile sets TAV_HAVE_ENGINE=1 when it
 * does), open() returns TAV_ERR_UNSUPPORTED and every generate() call fails
 * with the message "engine not built yet": the kiosk never fakes a video.
 *
 * Contracts:
 *   - open() always sets *out (even on error) so the kiosk can start, show the
 *     reason and fail jobs with it; tav_kiosk_engine_available() says which.
 *   - generate() follows the generator contract in kiosk/worker.h: it writes
 *     the MP4, a PNG contact sheet (one row per scene) and a JPEG thumbnail.
 *   - The model checksum is the pipeline's payload checksum when the engine
 *     is available, else the SHA-256 of the model file's bytes (or "none"
 *     when there is no file), so cache keys still separate model files.
 */
#ifndef TAV_KIOSK_ENGINE_H
#define TAV_KIOSK_ENGINE_H

#include "kiosk/worker.h"

typedef struct tav_kiosk_engine tav_kiosk_engine;

tav_status tav_kiosk_engine_open(const char *model_path, tav_kiosk_engine **out);
void tav_kiosk_engine_close(tav_kiosk_engine *e);

/* 1 if generate() can make videos; else the reason is tav_kiosk_engine_status(). */
int tav_kiosk_engine_available(const tav_kiosk_engine *e);
const char *tav_kiosk_engine_status(const tav_kiosk_engine *e);
const char *tav_kiosk_engine_model_checksum(const tav_kiosk_engine *e);

/* Checks a job's prompts against the model's vocabulary before it is queued:
 * TAV_OK, or TAV_ERR_UNKNOWN_WORD naming the words (tav_last_error()). Without
 * an engine there is no vocabulary to check against: TAV_OK. ctx is the engine;
 * a tav_kiosk_check_fn (kiosk/server.h). */
tav_status tav_kiosk_engine_check_prompts(void *ctx, const tav_kiosk_job_params *jp);

/* A tav_kiosk_generate_fn; ctx is the tav_kiosk_engine. */
tav_status tav_kiosk_engine_generate(void *ctx, const tav_kiosk_job_params *jp,
                                     tav_kiosk_progress_fn progress, void *progress_user,
                                     const atomic_int *cancel, const tav_kiosk_out_paths *out);

#endif
