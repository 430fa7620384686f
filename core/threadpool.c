/* threadpool.c — persistent workers, one job at a time, tiles by atomic counter.
 *
 * A job is (fn, ctx, n_tiles) with a generation number. tav_pool_run_tiles
 * publishes it under the mutex, sets the 64-bit counter `next` to
 * (generation << 40 | 0 | 0) and wakes the workers; every thread, the
 * caller included, then claims tile indices by compare-and-swap on `next`,
 * which succeeds only while the counter still carries ITS job's generation
 * and tiles are left. The counter holds two claim counts: the caller takes
 * tiles from the front (0, 1, ...), the workers from the back (n-1, n-2,
 * ...), so on two threads each one works through a contiguous range (an
 * int8 GEMM: its own rows of activations, packed by itself) instead of
 * alternating tiles that share operands, and gets the same range again
 * on the next call of the same shape (`tav bench gemm` 2-thread / 1-thread
 * on the 2-vCPU Zen 5 VM: 1.07-1.65x before, 1.77-2.07x with this and the
 * polling below; docs/kernels.md). The caller returns when
 * `done` (tiles finished) reaches n_tiles: it never waits for a worker that
 * has not woken up yet, so a worker whose core is busy elsewhere costs
 * nothing, and a worker that wakes late cannot claim (or skip) a tile of a
 * later job.
 *
 * Waking a sleeping worker took 70-170 us on the 2-vCPU VM (an idle vCPU
 * halts), as long as a whole small GEMM. So a worker that finished a job
 * spins for up to POOL_SPIN_US on the counter before it sleeps on the
 * condition variable, and the caller spins as long for the last tile
 * before it sleeps: back-to-back jobs (A-packing then tiles, one GEMM
 * after another) are handed over in about a microsecond.
 */
#include "threadpool.h"

#include "mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The claim counter: generation (24 bits) | front claims (20) | back claims
 * (20). The generation wraps after 16 M jobs; a worker would have to stall
 * between reading a job and its first claim for that many jobs to mistake
 * a later job's counter for its own. */
#define GEN_SHIFT 40
#define FRONT_SHIFT 20
#define COUNT_MASK ((1u << 20) - 1)
#define MAX_JOB_TILES ((int)COUNT_MASK) /* larger calls run as several jobs */
#define GEN_MASK ((1u << 24) - 1)

/* How long an idle thread polls before it sleeps (see the top). */
#ifndef POOL_SPIN_US
#define POOL_SPIN_US 200
#endif

typedef struct pool_job {
    tav_pool_tile_fn fn;
    void *ctx;
    int base;    /* tile index of claim 0 (calls above MAX_JOB_TILES) */
    int n_tiles; /* in this job */
    uint32_t gen;
} pool_job;

struct tav_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* workers wait here for a new generation */
    pthread_cond_t done_cv; /* the caller waits here for the last tile */
    pthread_mutex_t run_mu; /* serialises concurrent callers */
    atomic_int stopping;
    pool_job job;           /* the current job (under mu) */
    _Atomic uint64_t next;  /* job.gen << GEN_SHIFT | front << FRONT_SHIFT | back */
    atomic_int done;        /* tiles of the current job finished */
};

typedef struct worker_arg {
    tav_pool *pool;
    int index; /* 1..n_threads-1; the caller is 0 */
} worker_arg;

static _Thread_local int in_tile_fn; /* nested calls run serially */

/* ---------------------------------------------------------------- tiles */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint32_t counter_gen(uint64_t c) { return (uint32_t)(c >> GEN_SHIFT) & GEN_MASK; }

/* Claims and runs tiles of job j until none is left: worker 0 (the caller)
 * from the front, the others from the back. */
static void run_job(tav_pool *p, const pool_job *j, int worker)
{
    const int front = worker == 0;
    in_tile_fn = 1;
    uint64_t cur = atomic_load_explicit(&p->next, memory_order_acquire);
    for (;;) {
        int lo = (int)((cur >> FRONT_SHIFT) & COUNT_MASK), hi = (int)(cur & COUNT_MASK);
        if (counter_gen(cur) != j->gen || lo + hi >= j->n_tiles)
            break; /* another job's counter, or no tile left */
        uint64_t claim = front ? (uint64_t)1 << FRONT_SHIFT : 1;
        if (!atomic_compare_exchange_weak_explicit(&p->next, &cur, cur + claim,
                                                   memory_order_acq_rel, memory_order_acquire))
            continue; /* cur was reloaded */
        j->fn(j->ctx, j->base + (front ? lo : j->n_tiles - 1 - hi), worker);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == j->n_tiles) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
        cur = atomic_load_explicit(&p->next, memory_order_acquire);
    }
    in_tile_fn = 0;
}

/* A worker that finished generation `seen`: polls for the next job for up
 * to POOL_SPIN_US before going to sleep (the job itself is then read under
 * the mutex as usual). */
static void spin_for_job(tav_pool *p, uint32_t seen)
{
    const double t_end = now_us() + POOL_SPIN_US;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (counter_gen(atomic_load_explicit(&p->next, memory_order_relaxed)) != seen ||
                atomic_load_explicit(&p->stopping, memory_order_relaxed))
                return;
            cpu_relax();
        }
        if (now_us() > t_end)
            return;
    }
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
        spin_for_job(p, seen);
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
    atomic_init(&p->stopping, 0);
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

/* One job of at most MAX_JOB_TILES tiles, base.. (the caller holds run_mu). */
static void run_one_job(tav_pool *p, int base, int n_tiles, tav_pool_tile_fn fn, void *ctx)
{
    pthread_mutex_lock(&p->mu);
    uint32_t gen = (p->job.gen + 1) & GEN_MASK;
    if (gen == 0) /* 0 is what a new worker has "seen" */
        gen = 1;
    p->job = (pool_job){.fn = fn, .ctx = ctx, .base = base, .n_tiles = n_tiles, .gen = gen};
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->next, (uint64_t)gen << GEN_SHIFT, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    pool_job j = {.fn = fn, .ctx = ctx, .base = base, .n_tiles = n_tiles, .gen = gen};
    run_job(p, &j, 0);

    const double t_end = now_us() + POOL_SPIN_US; /* a worker's last tile: poll, then sleep */
    while (atomic_load_explicit(&p->done, memory_order_acquire) < n_tiles && now_us() < t_end)
        for (int i = 0; i < 64; i++)
            cpu_relax();
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->done, memory_order_acquire) < n_tiles)
        pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

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
    for (int base = 0; base < n_tiles; base += MAX_JOB_TILES)
        run_one_job(p, base, n_tiles - base < MAX_JOB_TILES ? n_tiles - base : MAX_JOB_TILES,
                    fn, ctx);
    pthread_mutex_unlock(&p->run_mu);
}
