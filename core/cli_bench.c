/* cli_bench.c — `tav bench <name|all>`: kernel (and later generation) benchmarks.
 *
 * Every number a benchmark prints is measured in the same run as the numbers
 * it is compared with (OpenBLAS sgemm, the int8 peak loop), because the
 * machine may be shared: absolute numbers drift, ratios measured together
 * hold. Adding a benchmark = a function with the bench_fn signature and a
 * row in `benches` (e.g. "generate"); `tav bench all` runs every row.
 */
#include "cli.h"

#include "core/bench_generate.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "simd/simd.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct bench_opts {
    int json;      /* one JSON object per line instead of a table */
    int quick;     /* fewer shapes, shorter timing */
    int isa;       /* -1: every available path, else only this one */
    const char *model; /* generate: -m FILE (NULL: the default model) */
} bench_opts;

typedef int (*bench_fn)(const bench_opts *o);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds used by all threads of this process. Idle pool workers sleep,
 * so over one timed call this is the compute time the call got: a machine
 * shared with other jobs preempts us (wall time grows) but does not add to
 * it. The *_cpu numbers below divide by it instead of wall time. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- peak */

typedef struct peak_job {
    tav_isa isa;
    int variant;
    long iters;
    double ops[TAV_POOL_MAX_THREADS];
} peak_job;

static void peak_tile(void *ctx, int tile, int worker)
{
    peak_job *j = ctx;
    j->ops[tile] = tav_simd_peak_loop(j->isa, j->variant, j->iters);
}

/* int8 GOP/s of the path's register-only MAC loop on every pool thread at
 * once; 0 if the path has no such loop. Like the GEMM timings it is the best
 * of many short (~5 ms) repetitions within `seconds`: on a shared machine
 * the best short window is the one where this process had its cores. */
static double measure_peak(tav_isa isa, int variant, tav_pool *pool, double seconds,
                           double *best_cpu)
{
    *best_cpu = 0.0;
    peak_job j = {.isa = isa, .variant = variant, .iters = 1000};
    if (tav_simd_peak_loop(isa, variant, 1) == 0.0)
        return 0.0;
    int nt = tav_pool_size(pool);
    for (;;) { /* calibrate: iterations for about 5 ms */
        double t0 = now_s();
        tav_simd_peak_loop(isa, variant, j.iters);
        double dt = now_s() - t0;
        if (dt > 0.005 || j.iters > (1L << 40))
            break;
        j.iters *= 2;
    }
    double best = 0.0, t_start = now_s();
    for (int rep = 0; rep < 10 || now_s() - t_start < seconds; rep++) {
        double t0 = now_s(), c0 = cpu_s();
        tav_pool_run_tiles(pool, nt, peak_tile, &j);
        double dt = now_s() - t0, dc = (cpu_s() - c0) / nt, ops = 0;
        for (int t = 0; t < nt; t++)
            ops += j.ops[t];
        if (ops / dt > best)
            best = ops / dt;
        if (dc > 0 && ops / dc * 1e-9 > *best_cpu)
            *best_cpu = ops / dc * 1e-9;
    }
    return best * 1e-9;
}

/* ---------------------------------------------------------------- gemm */

typedef struct gemm_shape {
    int m, k; /* output features (weight rows), input features */
} gemm_shape;

#define BENCH_TOKENS 1024 /* n: tokens per call (rows of the activations) */

/* Best-of wall time (and best-of process CPU time, into best_cpu) of stmt
 * over >= min_reps runs and >= min_seconds. */
#define TIME_BEST2(best, best_cpu, min_reps, min_seconds, stmt)               \
    do {                                                                      \
        double t_start_ = now_s();                                            \
        (best) = (best_cpu) = 1e30;                                           \
        for (int rep_ = 0; rep_ < (min_reps) || now_s() - t_start_ < (min_seconds); rep_++) { \
            double t0_ = now_s(), c0_ = cpu_s();                              \
            stmt;                                                             \
            double dt_ = now_s() - t0_, dc_ = cpu_s() - c0_;                  \
            if (dt_ < (best))                                                 \
                (best) = dt_;                                                 \
            if (dc_ > 0 && dc_ < (best_cpu))                                  \
                (best_cpu) = dc_;                                             \
        }                                                                     \
    } while (0)
#define TIME_BEST(best, min_reps, min_seconds, stmt)                          \
    do {                                                                      \
        double unused_cpu_;                                                   \
        TIME_BEST2(best, unused_cpu_, min_reps, min_seconds, stmt);           \
        (void)unused_cpu_;                                                    \
    } while (0)

static void fill_random(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

typedef struct gemm_bufs {
    float *x, *wf, *cf, *out, *ascale, *wscale;
    int8_t *xq, *wq;
    void *ws;
} gemm_bufs;

static void free_bufs(gemm_bufs *b)
{
    tav_free(b->x); tav_free(b->wf); tav_free(b->cf); tav_free(b->out);
    tav_free(b->ascale); tav_free(b->wscale); tav_free(b->xq); tav_free(b->wq);
    tav_free(b->ws);
}

static int alloc_bufs(gemm_bufs *b, int m, int k, int n)
{
    memset(b, 0, sizeof *b);
    b->x = tav_malloc_array((size_t)n * k, sizeof(float));
    b->wf = tav_malloc_array((size_t)m * k, sizeof(float));
    b->cf = tav_malloc_array((size_t)n * m, sizeof(float));
    b->out = tav_malloc_array((size_t)n * m, sizeof(float));
    b->ascale = tav_malloc_array((size_t)n, sizeof(float));
    b->wscale = tav_malloc_array((size_t)m, sizeof(float));
    b->xq = tav_malloc_array((size_t)n, (size_t)k);
    b->wq = tav_malloc_array((size_t)m, (size_t)k);
    if (!b->x || !b->wf || !b->cf || !b->out || !b->ascale || !b->wscale || !b->xq || !b->wq) {
        free_bufs(b);
        return -1;
    }
    fill_random(b->x, (size_t)n * k, 1);
    fill_random(b->wf, (size_t)m * k, 2);
    /* the weights, quantised per output channel like quant/ will */
    tav_ref_quant_rows(b->wq, b->wscale, b->wf, m, k);
    return 0;
}

/* The 1-minute load average: other jobs on the machine depress wall-clock
 * numbers, so every row says how loaded it was. -1 if unknown. */
static double load1(void)
{
    double la[1];
    return getloadavg(la, 1) == 1 ? la[0] : -1.0;
}

static void print_gemm_header(const bench_opts *o)
{
    if (o->json)
        return;
    printf("machine: %ld CPUs online, load average %.2f at the start\n",
           sysconf(_SC_NPROCESSORS_ONLN), load1());
    printf("int8 GEMM: out[n x m] = x[n x k] * W[m x k]^T, n = %d tokens; best of several runs.\n"
           "GOP/s counts 2*m*n*k; sgemm = OpenBLAS cblas_sgemm, same shape and threads;\n"
           "peak = the path's register-only int8 MAC loop (AVX2: the better of vpmaddubsw+\n"
           "vpmaddwd and vpmaddwd alone) on the same threads, measured just before each row.\n"
           "cpu GOP/s: ops per CPU-second of the process x threads (time preempted by other\n"
           "jobs on a shared machine does not count), and its %% of the peak measured the same way.\n\n",
           BENCH_TOKENS);
    printf("%-11s %3s %5s %5s %5s %9s %9s %7s %9s %7s %7s %9s %7s\n", "isa", "thr", "m", "k", "n",
           "GOP/s", "sgemm", "x sgemm", "peak", "% peak", "2t/1t", "cpu GOP/s", "% peak");
}

/* One measured row of the table. */
typedef struct gemm_row {
    tav_isa isa;
    int threads;
    double gops, peak, gemm_s, quant_s;
    double gops_cpu, peak_cpu; /* per thread-equivalent of CPU time, x threads */
} gemm_row;

/* Times the int8 GEMM of one path, shape and thread count (fp32 output, no
 * activation; the activations are quantised beforehand and that time is
 * reported apart as quant_ms). Returns 0, or -1 with a message. */
static int time_gemm(const bench_opts *o, const gemm_shape *s, tav_pool *pool, gemm_bufs *b,
                     gemm_row *r)
{
    const int m = s->m, k = s->k, n = BENCH_TOKENS;
    tav_gemm_weights *pw = NULL;
    if (tav_gemm_pack_weights(b->wq, b->wscale, NULL, m, k, r->isa, &pw) != TAV_OK) {
        fprintf(stderr, "tav bench: %s\n", tav_last_error());
        return -1;
    }
    tav_free(b->ws);
    b->ws = tav_malloc(tav_gemm_workspace_size(pw, n));
    if (!b->ws) {
        tav_gemm_free_weights(pw);
        fprintf(stderr, "tav bench: out of memory\n");
        return -1;
    }
    double reps_s = o->quick ? 0.15 : 0.4;
    tav_simd_set_isa(r->isa);
    TIME_BEST(r->quant_s, 3, reps_s / 4, tav_simd_quant_rows(b->xq, b->ascale, b->x, n, k));
    tav_gemm_s8(pw, b->xq, b->ascale, n, b->out, TAV_ACT_NONE, pool, b->ws); /* warm up */
    double gemm_cpu;
    TIME_BEST2(r->gemm_s, gemm_cpu, 5, reps_s,
               tav_gemm_s8(pw, b->xq, b->ascale, n, b->out, TAV_ACT_NONE, pool, b->ws));
    tav_gemm_free_weights(pw);
    r->gops = 2.0 * m * n * (double)k / r->gemm_s * 1e-9;
    r->gops_cpu = 2.0 * m * n * (double)k / (gemm_cpu / r->threads) * 1e-9;
    return 0;
}

static void print_row(const bench_opts *o, const gemm_shape *s, const gemm_row *r,
                      double sgemm_gflops, double gops1)
{
    const int n = BENCH_TOKENS;
    double pct = r->peak > 0 ? 100.0 * r->gops / r->peak : 0.0;
    if (o->json) {
        printf("{\"bench\":\"gemm\",\"isa\":\"%s\",\"threads\":%d,\"m\":%d,\"k\":%d,\"n\":%d,"
               "\"gops\":%.2f,\"sgemm_gflops\":%.2f,\"ratio_sgemm\":%.3f,\"peak_gops\":%.2f,"
               "\"pct_peak\":%.1f,\"gemm_ms\":%.3f,\"quant_ms\":%.3f,\"gops_cpu\":%.2f,"
               "\"peak_gops_cpu\":%.2f,\"pct_peak_cpu\":%.1f,\"load1\":%.2f",
               tav_simd_isa_name(r->isa), r->threads, s->m, s->k, n, r->gops, sgemm_gflops,
               r->gops / sgemm_gflops, r->peak, pct, r->gemm_s * 1e3, r->quant_s * 1e3,
               r->gops_cpu, r->peak_cpu, r->peak_cpu > 0 ? 100.0 * r->gops_cpu / r->peak_cpu : 0,
               load1());
        if (gops1 > 0)
            printf(",\"speedup_vs_1t\":%.3f", r->gops / gops1);
        printf("}\n");
    } else {
        printf("%-11s %3d %5d %5d %5d %9.1f %9.1f %7.2f %9.1f %6.1f%%", tav_simd_isa_name(r->isa),
               r->threads, s->m, s->k, n, r->gops, sgemm_gflops, r->gops / sgemm_gflops, r->peak,
               pct);
        if (gops1 > 0)
            printf(" %6.2fx", r->gops / gops1);
        else
            printf(" %7s", "");
        printf(" %9.1f %6.1f%%\n", r->gops_cpu,
               r->peak_cpu > 0 ? 100.0 * r->gops_cpu / r->peak_cpu : 0.0);
    }
}

/* OpenBLAS sgemm GFLOP/s on the same problem in fp32, best of several. */
static double time_sgemm(const bench_opts *o, const gemm_shape *s, int threads, gemm_bufs *b)
{
    double ts;
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, BENCH_TOKENS, s->m, s->k, 1.0f, b->x,
                s->k, b->wf, s->k, 0.0f, b->cf, s->m);
    TIME_BEST(ts, 5, o->quick ? 0.15 : 0.4,
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, BENCH_TOKENS, s->m, s->k, 1.0f,
                          b->x, s->k, b->wf, s->k, 0.0f, b->cf, s->m));
    openblas_set_num_threads(1);
    return 2.0 * s->m * (double)s->k * BENCH_TOKENS / ts * 1e-9;
}

static int bench_gemm(const bench_opts *o)
{
    static const gemm_shape full[] = {{256, 256}, {768, 768}, {1536, 384}, {384, 1536},
                                      {1024, 1024}, {1536, 1536}};
    static const gemm_shape quick[] = {{512, 512}};
    const gemm_shape *shapes = o->quick ? quick : full;
    int n_shapes = o->quick ? 1 : (int)(sizeof full / sizeof *full);
    static const int thread_counts[] = {1, 2};
    tav_pool *pools[2] = {NULL, NULL};
    for (int t = 0; t < 2; t++)
        if (tav_pool_init(thread_counts[t], &pools[t]) != TAV_OK) {
            fprintf(stderr, "tav bench: %s\n", tav_last_error());
            tav_pool_free(pools[0]);
            return TAV_EXIT_FAIL;
        }
    tav_isa initial = tav_simd_isa();
    print_gemm_header(o);

    int rc = TAV_EXIT_OK;
    for (int si = 0; si < n_shapes && rc == TAV_EXIT_OK; si++) {
        gemm_bufs b;
        const gemm_shape *s = &shapes[si];
        if (alloc_bufs(&b, s->m, s->k, BENCH_TOKENS)) {
            fprintf(stderr, "tav bench: out of memory\n");
            rc = TAV_EXIT_FAIL;
            break;
        }
        /* our paths first, OpenBLAS last: its idle threads spin for a while
         * after each call and would steal the cores from the next timing */
        gemm_row rows[2 * TAV_ISA_COUNT];
        int n_rows = 0;
        for (int i = 0; i < TAV_ISA_COUNT && rc == TAV_EXIT_OK; i++) {
            /* scalar is the portable fallback, orders of magnitude off: not benchmarked */
            if (i == TAV_ISA_SCALAR || !tav_simd_isa_supported((tav_isa)i) ||
                (o->isa >= 0 && o->isa != i))
                continue;
            for (int t = 0; t < 2 && rc == TAV_EXIT_OK; t++) {
                gemm_row *r = &rows[n_rows++];
                *r = (gemm_row){.isa = (tav_isa)i, .threads = thread_counts[t]};
                /* the peak right before the GEMM it judges, on the same pool */
                for (int v = 0; v < 2; v++) {
                    double pc, p = measure_peak(r->isa, v, pools[t], o->quick ? 0.05 : 0.15, &pc);
                    r->peak = p > r->peak ? p : r->peak;
                    r->peak_cpu = pc > r->peak_cpu ? pc : r->peak_cpu;
                }
                if (time_gemm(o, s, pools[t], &b, r))
                    rc = TAV_EXIT_FAIL;
            }
        }
        double sgemm[2] = {time_sgemm(o, s, 1, &b), time_sgemm(o, s, 2, &b)};
        for (int i = 0; i < n_rows && rc == TAV_EXIT_OK; i++)
            print_row(o, s, &rows[i], sgemm[rows[i].threads - 1],
                      rows[i].threads == 2 && i > 0 ? rows[i - 1].gops : 0);
        fflush(stdout);
        free_bufs(&b);
        struct timespec pause = {0, 200 * 1000 * 1000}; /* let OpenBLAS's threads go idle */
        nanosleep(&pause, NULL);
    }
    tav_simd_set_isa(initial);
    tav_pool_free(pools[0]);
    tav_pool_free(pools[1]);
    return rc;
}

/* core/bench_generate.c does the work (engine-owned). */
static int bench_generate(const bench_opts *o)
{
    return tav_bench_generate_run(o->model, o->json, o->quick);
}

/* ---------------------------------------------------------------- command */

static const struct {
    const char *name;
    bench_fn run;
    const char *summary;
} benches[] = {
    {"gemm", bench_gemm, "int8 GEMM per kernel path vs OpenBLAS sgemm and the int8 peak"},
    {"generate", bench_generate, "one generation per stage, RTF, peak RSS, vs PyTorch (-m FILE)"},
};
#define N_BENCHES (int)(sizeof benches / sizeof benches[0])

static void print_help(void)
{
    printf("usage: tav bench <name|all> [--json] [--quick] [--isa NAME]\n\nBenchmarks:\n");
    for (int i = 0; i < N_BENCHES; i++)
        printf("  %-9s %s\n", benches[i].name, benches[i].summary);
    printf("  %-9s every benchmark above\n", "all");
    printf("\nOptions:\n"
           "  --json       one JSON object per line (gemm: isa, threads, m, k, n, gops,\n"
           "               sgemm_gflops, ratio_sgemm, peak_gops, pct_peak, gemm_ms, quant_ms,\n"
           "               speedup_vs_1t)\n"
           "  --quick      fewer shapes and shorter timing (seconds, not a minute)\n"
           "  --isa NAME   only this kernel path (scalar, avx2, avx512vnni, neon, neondot)\n"
           "  -h, --help   this text\n"
           "\nThe kernel path in use by default follows TAV_ISA (see tav info --cpu).\n");
}

int tav_cmd_bench(int argc, char **argv)
{
    if (tav_cli_wants_help(argc, argv)) {
        print_help();
        return TAV_EXIT_OK;
    }
    bench_opts o = {.isa = -1};
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json"))
            o.json = 1;
        else if (!strcmp(a, "--quick"))
            o.quick = 1;
        else if (!strcmp(a, "-m") && i + 1 < argc)
            o.model = argv[++i];
        else if (!strcmp(a, "--isa")) {
            tav_isa isa;
            if (i + 1 >= argc)
                return tav_cli_usage_error("bench", "--isa needs a path name");
            if (tav_simd_parse_isa(argv[++i], &isa) != TAV_OK)
                return tav_cli_usage_error("bench", "%s", tav_last_error());
            o.isa = (int)isa;
        } else if (a[0] == '-')
            return tav_cli_usage_error("bench", "unknown option '%s'", a);
        else if (name)
            return tav_cli_usage_error("bench", "unexpected argument '%s'", a);
        else
            name = a;
    }
    if (!name)
        return tav_cli_usage_error("bench", "which benchmark? (%s, or all)", benches[0].name);
    int found = !strcmp(name, "all");
    for (int i = 0; i < N_BENCHES && !found; i++)
        found = !strcmp(name, benches[i].name);
    if (!found)
        return tav_cli_usage_error("bench", "unknown benchmark '%s'", name);
    if (tav_simd_init() != TAV_OK) {
        fprintf(stderr, "tav bench: %s\n", tav_last_error());
        return TAV_EXIT_FAIL;
    }
    if (o.isa >= 0 && !tav_simd_isa_supported((tav_isa)o.isa)) {
        tav_simd_set_isa((tav_isa)o.isa); /* records why */
        fprintf(stderr, "tav bench: %s\n", tav_last_error());
        return TAV_EXIT_FAIL;
    }
    int rc = TAV_EXIT_OK;
    for (int i = 0; i < N_BENCHES; i++)
        if (!strcmp(name, "all") || !strcmp(name, benches[i].name)) {
            int r = benches[i].run(&o);
            if (r != TAV_EXIT_OK)
                rc = r;
        }
    return rc;
}
