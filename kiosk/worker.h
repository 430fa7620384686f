/* worker.h — the single generation thread and the seam to the video generator.
 *
 *   tav_kiosk_worker *w;
 *   tav_kiosk_worker_start(store, tav_kiosk_engine_generate, engine, &w);
 *   ... server queues a job in the store, then: tav_kiosk_worker_wake(w);
 *   tav_kiosk_progress p;
 *   if (tav_kiosk_worker_progress(w, job_id, &p)) show(p.step, p.total, p.eta_seconds);
 *   tav_kiosk_worker_cancel(w, job_id);          // stops it within one step
 *   tav_kiosk_worker_stop(w);                    // stops the running job, re-queues it, joins
 *
 * The worker takes jobs one at a time from the store's persisted FIFO
 * (tav_kiosk_store_claim_next), serves them from the cache when it can, and
 * otherwise calls the generator through tav_kiosk_generate_fn. The generator
 * is the seam: production passes kiosk/engine.h's tav_kiosk_engine_generate
 * (core/pipeline.h + core/media.h); tests pass a test double from tests/.
 *
 * Generator contract:
 *   - writes the MP4 video, the PNG contact sheet and the JPEG thumbnail to
 *     out->video / out->sheet / out->thumb (temp names chosen by the store;
 *     the worker fsyncs and renames them, so the generator need not);
 *   - calls progress(user, stage, step, total, eta) after each step (eta < 0
 *     if unknown: the worker then estimates it); a nonzero return, or a
 *     nonzero *cancel, means stop: return TAV_ERR_CANCELLED within one step;
 *   - returns TAV_OK, or an error with a plain-words tav_fail() message, which
 *     becomes the job's error text shown to the operator.
 *   It runs on the worker thread only, one call at a time.
 */
#ifndef TAV_KIOSK_WORKER_H
#define TAV_KIOSK_WORKER_H

#include "core/status.h"
#include "kiosk/job.h"
#include "kiosk/store.h"

#include <stdatomic.h>
#include <stdint.h>

typedef int (*tav_kiosk_progress_fn)(void *user, const char *stage, int step, int total,
                                     double eta_seconds);

typedef struct tav_kiosk_out_paths {
    const char *video; /* .mp4 */
    const char *sheet; /* .png */
    const char *thumb; /* .jpg */
} tav_kiosk_out_paths;

typedef tav_status (*tav_kiosk_generate_fn)(void *ctx, const tav_kiosk_job_params *jp,
                                            tav_kiosk_progress_fn progress, void *progress_user,
                                            const atomic_int *cancel,
                                            const tav_kiosk_out_paths *out);

typedef struct tav_kiosk_progress {
    int64_t job;         /* the running job, 0 if idle          */
    char stage[16];      /* the generator's stage word           */
    int step, total;     /* 0/0 until the first progress call    */
    double eta_seconds;  /* < 0 when unknown                     */
} tav_kiosk_progress;

typedef struct tav_kiosk_worker tav_kiosk_worker;

/* Starts the thread. The store must outlive the worker. */
tav_status tav_kiosk_worker_start(tav_kiosk_store *s, tav_kiosk_generate_fn gen, void *gen_ctx,
                                  tav_kiosk_worker **out);

/* Stops the running job within one step and puts it back in the queue (a clean
 * shutdown is not the job's fault: the start does not count as an attempt); a job
 * the operator cancelled stays cancelled. Joins the thread. NULL ok. */
void tav_kiosk_worker_stop(tav_kiosk_worker *w);

/* Tells the worker a job was queued. */
void tav_kiosk_worker_wake(tav_kiosk_worker *w);

/* Asks the running job `id` to stop; also remembered if the worker has
 * claimed it but not started the generator yet. */
void tav_kiosk_worker_cancel(tav_kiosk_worker *w, int64_t id);

/* Copies the current progress; returns 1 if job `id` is the one running. */
int tav_kiosk_worker_progress(tav_kiosk_worker *w, int64_t id, tav_kiosk_progress *out);

/* Event counter: bumps on every progress call and job start/end. Waits up to
 * timeout_ms for it to differ from `seen`; returns the current value. */
uint64_t tav_kiosk_worker_wait(tav_kiosk_worker *w, uint64_t seen, int timeout_ms);

/* Jobs finished (any end state) since start: for tests and the status page. */
long tav_kiosk_worker_jobs_finished(tav_kiosk_worker *w);

#endif
