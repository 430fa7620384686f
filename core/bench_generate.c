/* bench_generate.c — `tav bench generate` (see bench_generate.h). */
#include "core/bench_generate.h"

#include "core/cli.h"
#include "core/media.h"
#include "core/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FALLBACK_MODEL "tests/data/tiny.tavm"
#define BENCH_SEED 7

/* Candidate prompt sets, tried in order until the model knows every word:
 * the demo procedure (drill-bit change), then the tiny model's words. */
static const char *const demo_prompts[] = {
    "drill press, wide view: the blue plate rotates",
    "the blue plate is drilled at the drill press in a close up",
    "drill press, close view: the blue plate spins",
    "the blue plate is inspected at the inspection camera in a close up"};
static const char *const tiny_prompts[] = {
    "a red gear moves along the conveyor", "the press stamps a blue plate",
    "the robot welds a plate", "close view of the drill"};

typedef struct bench_result {
    int ok, n_frames, fps, steps, threads, n_scenes, int8_layers, f32_layers;
    double text_s, denoise_s, decode_s, encode_s, engine_s;
    double engine_cpu_s; /* CPU seconds (all threads) of the fastest generation */
    char prompts[4][160];
    char error[256];
} bench_result;

/* CPU seconds of the whole process, all threads (user + system). */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The child: best of `reps` generations after a warm-up, then one MP4 encode. */
static void child_run(const char *model, int reps, bench_result *r)
{
    tav_pipeline *p;
    if (tav_pipeline_open(model, &p) != TAV_OK) {
        snprintf(r->error, sizeof r->error, "%s", tav_last_error());
        return;
    }
    /* the first set (and the most scenes, 4 down to 2) the model accepts */
    const char *const *sets[2] = {demo_prompts, tiny_prompts};
    const char *const *sc = NULL;
    int n_sc = 0;
    tav_model_info mi;
    tav_pipeline_model_info(p, &mi);
    for (int i = 0; i < 2 && !sc; i++)
        for (int n = mi.max_scenes < 4 ? mi.max_scenes : 4; n >= 2 && !sc; n--)
            if (tav_pipeline_check_prompts(p, sets[i], n) == TAV_OK) {
                sc = sets[i];
                n_sc = n;
            }
    if (!sc) {
        snprintf(r->error, sizeof r->error, "no built-in prompt set fits this model's vocabulary");
        tav_pipeline_close(p);
        return;
    }
    r->n_scenes = n_sc;
    for (int i = 0; i < r->n_scenes; i++)
        snprintf(r->prompts[i], sizeof r->prompts[i], "%s", sc[i]);
    tav_gen_params gp = tav_gen_default_params();
    gp.scenes = sc;
    gp.n_scenes = r->n_scenes;
    gp.seed = BENCH_SEED;
    tav_video v = {0};
    double best = 1e30;
    for (int rep = 0; rep <= reps; rep++) { /* rep 0 is the warm-up */
        tav_video_free(&v);
        double c0 = cpu_s();
        if (tav_pipeline_generate(p, &gp, &v) != TAV_OK) {
            snprintf(r->error, sizeof r->error, "%s", tav_last_error());
            tav_pipeline_close(p);
            return;
        }
        tav_gen_stats gs;
        tav_pipeline_last_stats(p, &gs);
        if (rep > 0 && gs.total_s < best) {
            best = gs.total_s;
            r->text_s = gs.text_s;
            r->denoise_s = gs.denoise_s;
            r->decode_s = gs.decode_s;
            r->engine_s = gs.total_s;
            r->engine_cpu_s = cpu_s() - c0;
            r->steps = gs.steps;
            r->threads = gs.threads;
        }
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/tav-bench-%d.mp4", (int)getpid());
    double t0 = now_s();
    tav_status st = tav_media_write_mp4(path, &v, NULL);
    r->encode_s = now_s() - t0;
    unlink(path);
    if (st != TAV_OK) {
        snprintf(r->error, sizeof r->error, "MP4 encode: %s", tav_last_error());
    } else {
        r->ok = 1;
        r->n_frames = v.n_frames;
        r->fps = v.fps;
        r->int8_layers = mi.int8_layers;
        r->f32_layers = mi.f32_layers;
    }
    tav_video_free(&v);
    tav_pipeline_close(p);
}

/* Runs the generation in a child so its peak RSS is its own. */
static int run_child(const char *model, int reps, bench_result *r, double *peak_mb)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[0]);
        bench_result res;
        memset(&res, 0, sizeof res);
        child_run(model, reps, &res);
        ssize_t w = write(fd[1], &res, sizeof res);
        _exit(w == (ssize_t)sizeof res ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = read(fd[0], (char *)r + got, sizeof *r - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || got != sizeof *r)
        return -1;
    *peak_mb = (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
    return 0;
}

/* The PyTorch reference on the same inputs with `threads` threads (torch's
 * intra-op pool and the OpenMP/OpenBLAS/MKL pools all set to it): its
 * text+denoise+decode seconds (and CPU seconds in *cpu), or -1. */
static double run_torch(const char *model, const bench_result *r, int threads, int reps, char *why,
                        size_t n, double *cpu)
{
    const char *py = getenv("PY") ? getenv("PY") : "/usr/bin/python3";
    char cmd[2048];
    int len = snprintf(cmd, sizeof cmd,
                       "OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=%d MKL_NUM_THREADS=%d "
                       "%s -m train.bench_reference --model '%s' --steps %d --seed %d "
                       "--threads %d --repeat %d",
                       threads, threads, threads, py, model, r->steps, BENCH_SEED, threads, reps);
    for (int i = 0; i < r->n_scenes && len < (int)sizeof cmd; i++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " --prompt '%s'", r->prompts[i]);
    if (len + 16 >= (int)sizeof cmd || strchr(model, '\'')) {
        snprintf(why, n, "command too long or model path has a quote");
        return -1;
    }
    strcat(cmd, " 2>/dev/null");
    FILE *f = popen(cmd, "r");
    if (!f) {
        snprintf(why, n, "cannot start %s", py);
        return -1;
    }
    char line[1024] = "";
    char *ok = fgets(line, sizeof line, f);
    int rc = pclose(f);
    const char *k = ok ? strstr(line, "\"total_s\":") : NULL;
    if (rc != 0 || !k) {
        snprintf(why, n, "the PyTorch reference did not run (%s -m train.bench_reference; needs torch)",
                 py);
        return -1;
    }
    const char *c = strstr(line, "\"cpu_s\":");
    *cpu = c ? atof(c + 8) : -1;
    return atof(k + 10);
}

int tav_bench_generate_run(const char *model, int json, int quick)
{
    struct stat sb;
    const char *note = "";
    if (!model) {
        model = tav_pipeline_default_model();
        if (stat(model, &sb) != 0) {
            model = FALLBACK_MODEL;
            note = " (assets/default.tavm is missing: `make model`; timing the tiny test model)";
        }
    }
    int reps = quick ? 1 : 3;
    bench_result r;
    double peak_mb = 0;
    memset(&r, 0, sizeof r);
    if (run_child(model, reps, &r, &peak_mb) != 0 || !r.ok) {
        fprintf(stderr, "tav bench generate: %s\n", r.error[0] ? r.error : "the benchmark child failed");
        return TAV_EXIT_FAIL;
    }
    /* PyTorch at its best on this machine: 1 thread and the engine's thread
     * count, the faster (wall) one is the reference (docs/benchmarks.md: on the
     * shared 2-core machine 1 thread often wins) */
    char why[256] = "";
    double torch_cpu = -1, torch_cpu_n = -1, torch_s_n = -1;
    double torch_s_1 = run_torch(model, &r, 1, reps, why, sizeof why, &torch_cpu);
    if (r.threads > 1 && torch_s_1 > 0)
        torch_s_n = run_torch(model, &r, r.threads, reps, why, sizeof why, &torch_cpu_n);
    double torch_s = torch_s_1;
    int torch_threads = 1;
    if (torch_s_n > 0 && torch_s_n < torch_s_1) {
        torch_s = torch_s_n;
        torch_cpu = torch_cpu_n;
        torch_threads = r.threads;
    }
    /* load-independent view: CPU seconds used, and the RTF the same work would
     * reach with the threads' cores to itself (perfect scaling assumed) */
    double cpu_ratio = torch_cpu > 0 && r.engine_cpu_s > 0 ? torch_cpu / r.engine_cpu_s : -1;
    double rtf_cpu = r.engine_cpu_s > 0 ? (double)r.n_frames / r.fps /
                                              (r.engine_cpu_s / r.threads + r.encode_s) : -1;
    double video_s = (double)r.n_frames / r.fps;
    double wall = r.engine_s + r.encode_s;
    double rtf = video_s / wall;
    double ratio = torch_s > 0 ? torch_s / r.engine_s : -1;
    if (json) {
        printf("{\"bench\":\"generate\",\"model\":\"%s\",\"scenes\":%d,\"frames\":%d,\"fps\":%d,"
               "\"video_s\":%.3f,\"threads\":%d,\"steps\":%d,\"int8_layers\":%d,\"f32_layers\":%d,"
               "\"text_s\":%.4f,\"denoise_s\":%.4f,\"denoise_step_s\":%.4f,\"decode_s\":%.4f,"
               "\"encode_s\":%.4f,\"seconds\":%.4f,\"rtf\":%.3f,\"peak_rss_mb\":%.1f,"
               "\"engine_cpu_s\":%.4f,\"rtf_if_idle\":%.3f,",
               model, r.n_scenes, r.n_frames, r.fps, video_s, r.threads, r.steps, r.int8_layers,
               r.f32_layers, r.text_s, r.denoise_s, r.denoise_s / r.steps, r.decode_s, r.encode_s,
               wall, rtf, peak_mb, r.engine_cpu_s, rtf_cpu);
        if (torch_s > 0)
            printf("\"torch_seconds\":%.4f,\"torch_ratio\":%.3f,\"torch_cpu_s\":%.4f,"
                   "\"torch_cpu_ratio\":%.3f,\"torch_threads\":%d,\"torch_seconds_1t\":%.4f,"
                   "\"torch_seconds_nt\":%.4f}\n",
                   torch_s, ratio, torch_cpu, cpu_ratio, torch_threads, torch_s_1, torch_s_n);
        else
            printf("\"torch_seconds\":null,\"torch_ratio\":null,\"torch_error\":\"%s\"}\n", why);
        return TAV_EXIT_OK;
    }
    printf("generate: %s%s\n", model, note);
    printf("  %d scenes, %d frames at %d fps (%.2f s of video), %d steps, %d threads, "
           "layers int8/f32 %d/%d\n",
           r.n_scenes, r.n_frames, r.fps, video_s, r.steps, r.threads, r.int8_layers, r.f32_layers);
    printf("  text      %8.4f s\n", r.text_s);
    printf("  denoise   %8.4f s  (%.4f s per step)\n", r.denoise_s, r.denoise_s / r.steps);
    printf("  decode    %8.4f s\n", r.decode_s);
    printf("  encode    %8.4f s  (MP4, libx264)\n", r.encode_s);
    printf("  total     %8.4f s  real-time factor %.2f (video s / wall s)\n", wall, rtf);
    printf("  peak RSS  %8.1f MB (the generation's own process)\n", peak_mb);
    printf("  CPU       %8.4f s on %d threads for text+denoise+decode; with the cores to itself\n"
           "            (perfect scaling) the real-time factor would be %.2f\n",
           r.engine_cpu_s, r.threads, rtf_cpu);
    if (torch_s > 0) {
        printf("  PyTorch reference %.4f s (%.4f CPU s) for text+denoise+decode: engine is %.2fx "
               "faster in wall time, %.2fx in CPU time\n", torch_s, torch_cpu, ratio, cpu_ratio);
        printf("            (PyTorch's faster setting: %d thread%s; 1 thread %.4f s",
               torch_threads, torch_threads == 1 ? "" : "s", torch_s_1);
        if (torch_s_n > 0)
            printf(", %d threads %.4f s", r.threads, torch_s_n);
        printf(")\n");
    }
    else
        printf("  PyTorch reference: not measured: %s\n", why);
    return TAV_EXIT_OK;
}
