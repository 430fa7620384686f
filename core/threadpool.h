/* threadpool.h — a persistent pool of worker threads and the tiling scheduler.
 *
 *   tav_pool *pool;
 *   if (tav_pool_init(tav_pool_default_threads(), &pool) != TAV_OK) ...;
 *   // work cut into n_tiles independent tiles; fn(ctx, tile, worker) runs each once
 *   tav_pool_run_tiles(pool, n_tiles, gemm_tile_fn, &job);
 *   tav_pool_free(pool);
 *
 * The pool is created once per process (or per pipeline) and reused by every
 * tiled computation: GEMM output tiles, attention heads, VAE tiles. Within a
 * job, tiles are handed out dynamically by an atomic counter, so a slow core
 * simply takes fewer: the caller takes them from the front (0, 1, ...), the
 * workers from the back (n-1, n-2, ...), so on two threads each one works
 * through a contiguous range. Between jobs a worker polls for up to ~200 us
 * (waking a sleeping thread took 70-170 us on the 2-vCPU VM), then sleeps
 * on a condition variable.
 *
 * Determinism contract: the scheduler only decides WHICH thread computes a
 * tile, never how. A tile function that computes its whole output tile alone,
 * in a fixed order, gives bitwise identical results for any thread count.
 * Tile functions must not depend on `worker` for anything but scratch memory.
 */
#ifndef TAV_THREADPOOL_H
#define TAV_THREADPOOL_H

#include "core/status.h"

typedef struct tav_pool tav_pool;

/* fn runs once per tile index in [0, n_tiles), on some thread of the pool.
 * worker is in [0, tav_pool_size(pool)) and unique among concurrently
 * running calls: use it to index per-thread scratch buffers. */
typedef void (*tav_pool_tile_fn)(void *ctx, int tile, int worker);

/* Multiply-adds below which the engine's kernels (int8 GEMM, fp32 linears,
 * attention) run in the caller even when given a pool: handing a job to a
 * worker costs ~10-20 us on an idle machine (70-170 us to wake a sleeping
 * worker on the 2-vCPU VM; ~1 us while it still polls after the previous
 * job, see threadpool.c), and on a shared one a worker
 * that took a tile and was then preempted holds the caller up for a
 * scheduler time slice. 32 M is ~50-100 us of int8 GEMM on one core; every
 * DiT product of the shipped 64x64 model is below it (measured on the
 * shared 2-core machine: denoise with 2 threads 0.051-0.074 s -> 0.035-
 * 0.059 s). Where the work goes never changes the bytes. */
#define TAV_POOL_MIN_PARALLEL_MACS 32e6

/* Largest pool tav_pool_init accepts. */
#define TAV_POOL_MAX_THREADS 256

/* Creates a pool of n_threads threads in total: the caller of
 * tav_pool_run_tiles counts as one, so n_threads-1 workers are started.
 * n_threads in [1, TAV_POOL_MAX_THREADS]. On success *out owns the pool
 * (free with tav_pool_free). Errors: TAV_ERR_INVALID_ARG, TAV_ERR_NOMEM,
 * TAV_ERR_INTERNAL (pthread_create failed; message says why). */
tav_status tav_pool_init(int n_threads, tav_pool **out);

/* Stops and joins the workers and frees the pool. NULL is a no-op. */
void tav_pool_free(tav_pool *pool);

/* Threads in the pool including the caller; 1 for a NULL pool. */
int tav_pool_size(const tav_pool *pool);

/* Runs fn for every tile and returns when all are done. pool may be NULL
 * (runs every tile in the caller, worker 0). Calls from inside a tile
 * function (nested parallelism) run serially in the calling thread. Two
 * threads calling it on the same pool are serialised. n_tiles <= 0: no-op. */
void tav_pool_run_tiles(tav_pool *pool, int n_tiles, tav_pool_tile_fn fn, void *ctx);

/* Threads to use by default: $TAV_THREADS if set to 1..TAV_POOL_MAX_THREADS,
 * else the number of online CPUs. */
int tav_pool_default_threads(void);

#endif
