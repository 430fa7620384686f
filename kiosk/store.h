/* store.h — the kiosk's SQLite database: the persisted FIFO of jobs, the result cache, history.
 *
 *   tav_kiosk_store_params sp = tav_kiosk_store_default_params();
 *   sp.db_path = "kiosk.db"; sp.files_dir = "kiosk.db.files"; sp.cache_cap_bytes = 2 << 30;
 *   tav_kiosk_store *s; tav_kiosk_recovery rec;
 *   if (tav_kiosk_store_open(&sp, &s, &rec) != TAV_OK) die(tav_last_error());
 *   int64_t id; int hit;
 *   tav_kiosk_store_add_job(s, &jp, params_json, key, &id, &hit);   // hit: done at once
 *   tav_kiosk_job j; int found;
 *   tav_kiosk_store_claim_next(s, &j, &found);                      // worker: pending -> running
 *   ...generator writes the three files at tav_kiosk_store_temp_path(...)...
 *   tav_kiosk_store_commit_result(s, j.id, j.key);                  // fsync, rename, row commits
 *   tav_kiosk_job_clear(&j); tav_kiosk_store_close(s);
 *
 * Schema (created on first open; see store.c):
 *   jobs(id, state, template, summary, params, cache_key, attempts, created,
 *        started, finished, error, cache_hit)   state: pending/running/done/failed/cancelled
 *   cache(key, video, sheet, thumb, bytes, created, last_used)  file names inside files_dir
 *   history(id, job_id, at, event, detail)      an append-only log of job events
 *
 * Contracts:
 *   - WAL journal, synchronous=FULL, a busy timeout, BEGIN IMMEDIATE around
 *     every write, prepared statements only (no SQL is built from input).
 *   - A store may be used from several threads: calls are serialised by an
 *     internal mutex, each call is one transaction.
 *   - Files: result files are written under temp names, fsynced, renamed and
 *     the directory fsynced BEFORE the cache row commits; eviction deletes the
 *     row first, then the files. So a crash at any point leaves at worst
 *     files without rows, which open() sweeps: no row ever points at a
 *     missing or partial file.
 *   - One kiosk per database: open() takes an exclusive flock on "<db>.lock"
 *     (released on close, or by the kernel when the process dies) and fails
 *     with TAV_ERR_IO if another process holds it.
 *   - open() recovers from a crash: 'running' jobs go back to 'pending'
 *     (or 'failed' after max_attempts starts), cache rows whose files are
 *     missing are dropped, unknown files in files_dir are deleted.
 *   - Times are Unix seconds (double).
 */
#ifndef TAV_KIOSK_STORE_H
#define TAV_KIOSK_STORE_H

#include "core/status.h"
#include "kiosk/job.h"

#include <stdint.h>

typedef struct tav_kiosk_store tav_kiosk_store;

typedef enum tav_job_state {
    TAV_JOB_PENDING = 0,
    TAV_JOB_RUNNING = 1,
    TAV_JOB_DONE = 2,
    TAV_JOB_FAILED = 3,
    TAV_JOB_CANCELLED = 4,
} tav_job_state;

typedef enum tav_kiosk_file {
    TAV_KIOSK_FILE_VIDEO = 0, /* <key>.mp4 */
    TAV_KIOSK_FILE_SHEET = 1, /* <key>.png contact sheet */
    TAV_KIOSK_FILE_THUMB = 2, /* <key>.jpg thumbnail */
} tav_kiosk_file;
#define TAV_KIOSK_N_FILES 3

typedef struct tav_kiosk_store_params {
    const char *db_path;       /* the SQLite file                                   */
    const char *files_dir;     /* result files; created if missing                  */
    int64_t cache_cap_bytes;   /* evict least recently used above this; 0 = no cap  */
    int max_attempts;          /* starts before an interrupted job is failed (>= 1) */
    int busy_timeout_ms;       /* wait for another writer's lock                    */
} tav_kiosk_store_params;

typedef struct tav_kiosk_recovery {
    int requeued;        /* running -> pending                  */
    int failed;          /* running -> failed (too many starts) */
    int rows_dropped;    /* cache rows whose files were missing */
    int files_removed;   /* files with no row (temp files too)  */
} tav_kiosk_recovery;

typedef struct tav_kiosk_job {
    int64_t id;
    tav_job_state state;
    char template_id[64];
    char summary[200];
    char *params_json;   /* owned; free with tav_kiosk_job_clear */
    char key[TAV_KIOSK_KEY_HEX];
    int attempts;
    double created, started, finished; /* 0 = not yet */
    char error[256];
    int cache_hit;       /* served from the cache without generating */
    int has_files;       /* a cache row with all files exists for key */
} tav_kiosk_job;

tav_kiosk_store_params tav_kiosk_store_default_params(void);

/* Opens/creates the database and files_dir, then recovers (see above).
 * rec may be NULL. Errors: TAV_ERR_IO (with SQLite's words), TAV_ERR_NOMEM. */
tav_status tav_kiosk_store_open(const tav_kiosk_store_params *sp, tav_kiosk_store **out,
                                tav_kiosk_recovery *rec);
void tav_kiosk_store_close(tav_kiosk_store *s);

/* Queues a job. If the cache holds key with all its files, the job is
 * recorded as done at once (*cache_hit = 1, last_used refreshed). */
tav_status tav_kiosk_store_add_job(tav_kiosk_store *s, const tav_kiosk_job_params *jp,
                                   const char *params_json, const char *key, int64_t *id,
                                   int *cache_hit);

/* Worker: takes the oldest pending job, marks it running, counts the attempt.
 * *found = 0 when the queue is empty. */
tav_status tav_kiosk_store_claim_next(tav_kiosk_store *s, tav_kiosk_job *out, int *found);

/* TAV_ERR_NOT_FOUND if there is no such job. */
tav_status tav_kiosk_store_get_job(tav_kiosk_store *s, int64_t id, tav_kiosk_job *out);

/* Number of pending jobs created before job id (its place in the queue). */
tav_status tav_kiosk_store_queue_position(tav_kiosk_store *s, int64_t id, int *ahead);

/* Ends a running job as failed or cancelled with an error text (may be ""). */
tav_status tav_kiosk_store_finish_job(tav_kiosk_store *s, int64_t id, tav_job_state state,
                                      const char *error);

/* Puts a running job back at its place in the queue (the kiosk is shutting
 * down cleanly, so the start does not count as an attempt). */
tav_status tav_kiosk_store_requeue_job(tav_kiosk_store *s, int64_t id);

/* Cancels a pending job at once. *state_out gets the job's state after the
 * call: CANCELLED, or RUNNING (the caller must stop the worker), or a final
 * state (nothing to cancel). TAV_ERR_NOT_FOUND if no such job. */
tav_status tav_kiosk_store_cancel_job(tav_kiosk_store *s, int64_t id, tav_job_state *state_out);

/* Worker, when the cache already holds the job's key: marks it done as a hit. */
tav_status tav_kiosk_store_finish_from_cache(tav_kiosk_store *s, int64_t id, const char *key,
                                             int *hit);

/* Where the generator writes a job's files before commit:
 * files_dir/tmp-<key>.{mp4,png,jpg}. */
void tav_kiosk_store_temp_path(const tav_kiosk_store *s, const char *key, tav_kiosk_file f,
                               char *buf, size_t cap);

/* The committed file of a job's result, or TAV_ERR_NOT_FOUND (no such job,
 * not done, or evicted). Refreshes the entry's last_used. */
tav_status tav_kiosk_store_job_file(tav_kiosk_store *s, int64_t id, tav_kiosk_file f, char *buf,
                                    size_t cap);

/* fsyncs the three temp files, renames them to their final names, fsyncs
 * the directory, then in one transaction inserts the cache row and marks
 * the job done; then evicts least-recently-used entries above the cap
 * (never the one just made). Errors: TAV_ERR_IO (missing temp file, ...). */
tav_status tav_kiosk_store_commit_result(tav_kiosk_store *s, int64_t id, const char *key);

/* Evicts least recently used cache entries until the total size is at most
 * cap_bytes (keep_key, if not NULL, is never evicted). *evicted may be NULL. */
tav_status tav_kiosk_store_evict(tav_kiosk_store *s, int64_t cap_bytes, const char *keep_key,
                                 int *evicted);

/* Total bytes and entries of the cache. */
tav_status tav_kiosk_store_cache_usage(tav_kiosk_store *s, int64_t *bytes, int *entries);

/* Finished and queued jobs, newest first: jobs[offset .. offset+limit).
 * *out is an array of *n jobs (free each with tav_kiosk_job_clear, then
 * tav_free(*out)); *total counts all jobs. limit 1..100. */
tav_status tav_kiosk_store_history(tav_kiosk_store *s, int offset, int limit,
                                   tav_kiosk_job **out, int *n, int *total);

void tav_kiosk_job_clear(tav_kiosk_job *j);

const char *tav_job_state_str(tav_job_state st);

#endif
