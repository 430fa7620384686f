/* worker.c — one generation at a time from the persisted FIFO (contract in worker.h). */
#include "kiosk/worker.h"

#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct tav_kiosk_worker {
    tav_kiosk_store *store;
    tav_kiosk_generate_fn gen;
    void *gen_ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* wakes the worker (new job, stop)          */
    pthread_cond_t ev;      /* wakes event waiters (SSE streams)         */
    int stop, woken;
    uint64_t seq;
    tav_kiosk_progress prog;
    double job_started;     /* monotonic seconds, for the ETA estimate  */
    int64_t cancel_req;     /* a cancel for a job not yet started       */
    int64_t op_cancelled;   /* the operator cancelled this running job  */
    atomic_int cancel;      /* read by the generator                    */
    long finished;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Caller holds mu. */
static void bump(tav_kiosk_worker *w)
{
    w->seq++;
    pthread_cond_broadcast(&w->ev);
}

static int on_progress(void *user, const char *stage, int step, int total, double eta)
{
    tav_kiosk_worker *w = user;
    pthread_mutex_lock(&w->mu);
    snprintf(w->prog.stage, sizeof w->prog.stage, "%s", stage ? stage : "");
    w->prog.step = step;
    w->prog.total = total;
    if (eta < 0 && step > 0 && total >= step) {
        double per = (mono_s() - w->job_started) / step; /* even steps: a fair guess */
        eta = per * (total - step);
    }
    w->prog.eta_seconds = eta;
    bump(w);
    pthread_mutex_unlock(&w->mu);
    return atomic_load(&w->cancel);
}

static void remove_temps(tav_kiosk_worker *w, const char *key)
{
    for (int f = 0; f < TAV_KIOSK_N_FILES; f++) {
        char p[3200];
        tav_kiosk_store_temp_path(w->store, key, (tav_kiosk_file)f, p, sizeof p);
        unlink(p);
    }
}

static void finish(tav_kiosk_worker *w, int64_t id, tav_job_state st, const char *msg)
{
    if (tav_kiosk_store_finish_job(w->store, id, st, msg) != TAV_OK)
        TAV_LOG_ERROR("job %lld: cannot record its end: %s", (long long)id, tav_last_error());
}

static void run_job(tav_kiosk_worker *w, tav_kiosk_job *j)
{
    tav_kiosk_job_params jp;
    tav_json_doc *doc = NULL;
    tav_status st = tav_json_parse(j->params_json, strlen(j->params_json), &doc);
    if (st == TAV_OK)
        st = tav_kiosk_job_params_from_json(tav_json_root(doc), &jp);
    tav_json_free(doc);
    if (st != TAV_OK) {
        char msg[300];
        snprintf(msg, sizeof msg, "the stored job parameters are unreadable: %s", tav_last_error());
        finish(w, j->id, TAV_JOB_FAILED, msg);
        return;
    }
    int hit = 0;
    if (tav_kiosk_store_finish_from_cache(w->store, j->id, j->key, &hit) == TAV_OK && hit) {
        TAV_LOG_INFO("job %lld: served from the cache", (long long)j->id);
        return;
    }
    char paths[TAV_KIOSK_N_FILES][3200];
    for (int f = 0; f < TAV_KIOSK_N_FILES; f++)
        tav_kiosk_store_temp_path(w->store, j->key, (tav_kiosk_file)f, paths[f], sizeof paths[f]);
    remove_temps(w, j->key);
    tav_kiosk_out_paths out = {paths[0], paths[1], paths[2]};

    tav_clear_error();
    st = w->gen(w->gen_ctx, &jp, on_progress, w, &w->cancel, &out);
    if (st == TAV_OK && !atomic_load(&w->cancel)) {
        st = tav_kiosk_store_commit_result(w->store, j->id, j->key);
        if (st == TAV_OK) {
            TAV_LOG_INFO("job %lld: done", (long long)j->id);
            return;
        }
    }
    char msg[600];
    snprintf(msg, sizeof msg, "%s", tav_last_error()[0] ? tav_last_error() : tav_status_str(st));
    remove_temps(w, j->key);
    if (st == TAV_ERR_CANCELLED || atomic_load(&w->cancel)) {
        pthread_mutex_lock(&w->mu);
        int stopping = w->stop && w->op_cancelled != j->id;
        pthread_mutex_unlock(&w->mu);
        if (stopping) { /* a clean shutdown: the job waits for the next start */
            if (tav_kiosk_store_requeue_job(w->store, j->id) != TAV_OK)
                TAV_LOG_ERROR("job %lld: cannot re-queue it: %s", (long long)j->id, tav_last_error());
            TAV_LOG_INFO("job %lld: back in the queue until the next start", (long long)j->id);
            return;
        }
        finish(w, j->id, TAV_JOB_CANCELLED, "cancelled by the operator");
        TAV_LOG_INFO("job %lld: cancelled", (long long)j->id);
    } else {
        finish(w, j->id, TAV_JOB_FAILED, msg);
        TAV_LOG_WARNING("job %lld failed: %s", (long long)j->id, msg);
    }
}

static void *worker_main(void *arg)
{
    tav_kiosk_worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        int stop = w->stop;
        w->woken = 0;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            break;
        tav_kiosk_job j;
        int found = 0;
        if (tav_kiosk_store_claim_next(w->store, &j, &found) != TAV_OK)
            TAV_LOG_ERROR("queue: %s", tav_last_error());
        if (!found) {
            pthread_mutex_lock(&w->mu);
            if (!w->stop && !w->woken) {
                struct timespec ts;
                deadline_in(&ts, 1000);
                pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            }
            pthread_mutex_unlock(&w->mu);
            continue;
        }
        pthread_mutex_lock(&w->mu);
        memset(&w->prog, 0, sizeof w->prog);
        w->prog.job = j.id;
        w->prog.eta_seconds = -1;
        w->job_started = mono_s();
        w->op_cancelled = w->cancel_req == j.id ? j.id : 0;
        atomic_store(&w->cancel, w->op_cancelled != 0 || w->stop);
        w->cancel_req = 0;
        bump(w);
        pthread_mutex_unlock(&w->mu);

        run_job(w, &j);
        tav_kiosk_job_clear(&j);

        pthread_mutex_lock(&w->mu);
        memset(&w->prog, 0, sizeof w->prog);
        w->finished++;
        bump(w);
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

tav_status tav_kiosk_worker_start(tav_kiosk_store *s, tav_kiosk_generate_fn gen, void *gen_ctx,
                                  tav_kiosk_worker **out)
{
    *out = NULL;
    tav_kiosk_worker *w = tav_calloc(1, sizeof *w);
    if (!w)
        return tav_fail(TAV_ERR_NOMEM, "out of memory starting the worker");
    w->store = s;
    w->gen = gen;
    w->gen_ctx = gen_ctx;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->ev, NULL);
    atomic_init(&w->cancel, 0);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->ev);
        tav_free(w);
        return tav_fail(TAV_ERR_INTERNAL, "cannot start the worker thread: %s", strerror(rc));
    }
    *out = w;
    return TAV_OK;
}

void tav_kiosk_worker_stop(tav_kiosk_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    atomic_store(&w->cancel, 1);
    pthread_cond_broadcast(&w->cv);
    bump(w);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->ev);
    tav_free(w);
}

void tav_kiosk_worker_wake(tav_kiosk_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->woken = 1;
    pthread_cond_broadcast(&w->cv);
    bump(w);
    pthread_mutex_unlock(&w->mu);
}

void tav_kiosk_worker_cancel(tav_kiosk_worker *w, int64_t id)
{
    pthread_mutex_lock(&w->mu);
    if (w->prog.job == id) {
        w->op_cancelled = id;
        atomic_store(&w->cancel, 1);
    } else
        w->cancel_req = id;
    bump(w);
    pthread_mutex_unlock(&w->mu);
}

int tav_kiosk_worker_progress(tav_kiosk_worker *w, int64_t id, tav_kiosk_progress *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->prog;
    int running = w->prog.job == id && id != 0;
    pthread_mutex_unlock(&w->mu);
    return running;
}

uint64_t tav_kiosk_worker_wait(tav_kiosk_worker *w, uint64_t seen, int timeout_ms)
{
    pthread_mutex_lock(&w->mu);
    if (w->seq == seen && !w->stop) {
        struct timespec ts;
        deadline_in(&ts, timeout_ms);
        while (w->seq == seen && !w->stop) {
            if (pthread_cond_timedwait(&w->ev, &w->mu, &ts) == ETIMEDOUT)
                break;
        }
    }
    uint64_t s = w->seq;
    pthread_mutex_unlock(&w->mu);
    return s;
}

long tav_kiosk_worker_jobs_finished(tav_kiosk_worker *w)
{
    pthread_mutex_lock(&w->mu);
    long n = w->finished;
    pthread_mutex_unlock(&w->mu);
    return n;
}
