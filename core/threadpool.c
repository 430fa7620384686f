/* threadpool.c — persistent workers, one job at a time, tiles by atomic counter.
 *
 * A job is (fn, ctx, n_tiles). tav_pool_run_tiles publishes it under the
 * mutex, bumps `generation` and broadcasts; every worker and the caller then
 * take tile indices from `next_tile` until it runs past n_tiles. The caller
 * waits until all workers have checked out of the generation, so when it
 * returns no worker still touches the job's context.
 */
#include "threadpool.h"

#include "mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tav_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers wait here for a new generation */
    pthread_cond_t done; /* the caller waits here for workers to finish */
    pthread_mutex_t run_mu; /* serialises concurrent callers */
    unsigned long generation;
    int stopping;
    int busy_workers;
    /* the current job */
    tav_pool_tile_fn fn;
    void *ctx;
    int n_tiles;
    atomic_int next_tile;
};

typedef struct worker_arg {
    tav_pool *pool;
    int index; /* 1..n_threads-1; the caller is 0 */
} worker_arg;

static _Thread_local int in_tile_fn; /* nested calls run serially */

/* ---------------------------------------------------------------- tiles */

static void take_tiles(tav_pool *p, int worker)
{
    in_tile_fn = 1;
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next_tile, 1, memory_order_relaxed);
        if (t >= p->n_tiles)
            break;
        p->fn(p->ctx, t, worker);
    }
    in_tile_fn = 0;
}

static void *worker_main(void *argp)
{
    worker_arg *arg = argp;
    tav_pool *p = arg->pool;
    int index = arg->index;
    tav_free(arg);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stopping && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stopping)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        take_tiles(p, index);
        pthread_mutex_lock(&p->mu);
        if (--p->busy_workers == 0)
            pthread_cond_signal(&p->done);
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
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next_tile, 0);
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
    pthread_cond_destroy(&p->done);
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
    p->fn = fn;
    p->ctx = ctx;
    p->n_tiles = n_tiles;
    atomic_store_explicit(&p->next_tile, 0, memory_order_relaxed);
    p->busy_workers = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    take_tiles(p, 0);

    pthread_mutex_lock(&p->mu);
    while (p->busy_workers > 0)
        pthread_cond_wait(&p->done, &p->mu);
    p->fn = NULL;
    p->ctx = NULL;
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->run_mu);
}
