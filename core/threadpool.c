/* threadpool.c — persistent workers, one job at a time, tiles by atomic counter.
 *
 * A job is (fn, ctx, n_tiles) with a generation number. tav_pool_run_tiles
 * publishes it under the mutex, sets the 64-bit counter `next` to
 * (generation << 32 | 0) and wakes the workers; every thread, the caller
 * included, then claims tile indices by compare-and-swap on `next`, which
 * succeeds only while the counter still carries ITS job's generation and
 * the index is below n_tiles. The caller returns when `done` (tiles
 * finished) reaches n_tiles: it never waits for a worker that has not
 * woken up yet, so a worker whose core is busy elsewhere costs nothing, and
 * a worker that wakes late cannot claim (or skip) a tile of a later job.
 */
#include "threadpool.h"

#include "mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pool_job {
    tav_pool_tile_fn fn;
    void *ctx;
    int n_tiles;
    uint32_t gen;
} pool_job;

struct tav_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* workers wait here for a new generation */
    pthread_cond_t done_cv; /* the caller waits here for the last tile */
    pthread_mutex_t run_mu; /* serialises concurrent callers */
    int stopping;
    pool_job job;           /* the current job (under mu) */
    _Atomic uint64_t next;  /* job.gen << 32 | next tile index */
    atomic_int done;        /* tiles of the current job finished */
};

typedef struct worker_arg {
    tav_pool *pool;
    int index; /* 1..n_threads-1; the caller is 0 */
} worker_arg;

static _Thread_local int in_tile_fn; /* nested calls run serially */

/* ---------------------------------------------------------------- tiles */

static void run_job(tav_pool *p, const pool_job *j, int worker)
{
    in_tile_fn = 1;
    uint64_t cur = atomic_load_explicit(&p->next, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(cur >> 32) != j->gen || (int)(uint32_t)cur >= j->n_tiles)
            break; /* another job's counter, or no tile left */
        if (!atomic_compare_exchange_weak_explicit(&p->next, &cur, cur + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* cur was reloaded */
        j->fn(j->ctx, (int)(uint32_t)cur, worker);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == j->n_tiles) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
        cur = atomic_load_explicit(&p->next, memory_order_acquire);
    }
    in_tile_fn = 0;
}

static void *worker_main(void *argp)
{
    worker_arg *arg = argp;
    tav_pool *p = arg->pool;
    int index = arg->index;
    tav_free(arg);
    uint32_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stopping && p->job.gen == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stopping)
            break;
        pool_job j = p->job;
        seen = j.gen;
        pthread_mutex_unlock(&p->mu);
        run_job(p, &j, index);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

tav_status tav_pool_init(int n_threads, tav_pool **out)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > TAV_POOL_MAX_THREADS)
        return tav_fail(TAV_ERR_INVALID_ARG, "thread count %d is outside 1..%d", n_threads,
                        TAV_POOL_MAX_THREADS);
    tav_pool *p = tav_calloc(1, sizeof *p);
    if (!p)
        return tav_fail(TAV_ERR_NOMEM, "no memory for a thread pool");
    p->threads = tav_calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        tav_free(p);
        return tav_fail(TAV_ERR_NOMEM, "no memory for a thread pool");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->run_mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->next, 0);
    atomic_init(&p->done, 0);
    p->n_threads = 1;
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = tav_malloc(sizeof *arg);
        int rc = arg ? 0 : -1;
        if (arg) {
            arg->pool = p;
            arg->index = i;
            rc = pthread_create(&p->threads[i], NULL, worker_main, arg);
            if (rc)
                tav_free(arg);
        }
        if (rc) {
            tav_pool_free(p);
            return rc < 0 ? tav_fail(TAV_ERR_NOMEM, "no memory for a thread pool")
                          : tav_fail(TAV_ERR_INTERNAL, "cannot start worker thread %d: %s", i,
                                     strerror(rc));
        }
        p->n_threads = i + 1;
    }
    *out = p;
    return TAV_OK;
}

void tav_pool_free(tav_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_mu);
    tav_free(p->threads);
    tav_free(p);
}

int tav_pool_size(const tav_pool *p) { return p ? p->n_threads : 1; }

int tav_pool_default_threads(void)
{
    const char *env = getenv("TAV_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v >= 1 && v <= TAV_POOL_MAX_THREADS)
            return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > TAV_POOL_MAX_THREADS ? TAV_POOL_MAX_THREADS : (int)n;
}

/* ---------------------------------------------------------------- run */

void tav_pool_run_tiles(tav_pool *p, int n_tiles, tav_pool_tile_fn fn, void *ctx)
{
    if (n_tiles <= 0)
        return;
    if (!p || p->n_threads == 1 || n_tiles == 1 || in_tile_fn) {
        for (int t = 0; t < n_tiles; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->run_mu);
    pthread_mutex_lock(&p->mu);
    uint32_t gen = p->job.gen + 1;
    if (gen == 0) /* 0 is what a new worker has "seen" */
        gen = 1;
    p->job = (pool_job){.fn = fn, .ctx = ctx, .n_tiles = n_tiles, .gen = gen};
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->next, (uint64_t)gen << 32, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    pool_job j = {.fn = fn, .ctx = ctx, .n_tiles = n_tiles, .gen = gen};
    run_job(p, &j, 0);

    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->done, memory_order_acquire) < n_tiles)
        pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->run_mu);
}
