/* cli_generate.c — `tav generate`: scene prompts in, an MP4 (and optionally a
 * PNG contact sheet, a JPEG thumbnail and PNG frames) out, through
 * core/pipeline.h and core/media.h.
 *
 * Frames stream from the decoder into the MP4 writer as they are decoded;
 * they are only kept in memory when a sheet, thumbnail or frame dump asks for
 * them. The MP4 appears at its path only when complete (media.h's
 * temp-then-rename); Ctrl-C cancels within one sampler step and leaves
 * nothing behind. */
#include "cli.h"

#include "core/log.h"
#include "core/media.h"
#include "core/mem.h"
#include "core/model_file.h"
#include "core/pipeline.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHEET_PER_ROW 6
#define THUMB_WIDTH 160

typedef struct gen_opts {
    const char *model, *out, *sheet, *thumb, *frames_dir;
    char *scenes[TAV_MAX_SCENES];
    int n_scenes, too_many;
    long seed, steps, threads, fps;
    unsigned open_flags;
    const char *seconds_arg; /* --seconds "2,2,3" */
    float seconds[TAV_MAX_SCENES];
} gen_opts;

static void print_help(void)
{
    printf("usage: tav generate [-m MODEL] -p \"scene 1\" [-p \"scene 2\" ...] -o OUT.mp4 [options]\n"
           "\n"
           "Generates a video with one scene per prompt (at most %d scenes) from the model:\n"
           "noise from the seed, denoised by the DiT under the prompt, decoded frame by frame.\n"
           "A prompt may also hold several scenes separated by '|'. Words must come from the\n"
           "model's caption vocabulary (tav info --vocab MODEL lists it).\n"
           "\n"
           "Options:\n"
           "  -m, --model FILE   model file (default " TAV_DEFAULT_MODEL_INT8 ", else " TAV_DEFAULT_MODEL_FP32 ")\n"
           "  -p, --prompt TEXT  one scene's caption; repeat for each scene, in order\n"
           "  -o, --output FILE  the MP4 to write (H.264, yuv420p, faststart)\n"
           "  --seed S           noise seed (default 1); the same seed gives the same bytes\n"
           "  --steps K          sampler steps (default: the model's)\n"
           "  --threads N        worker threads (default: $TAV_THREADS or all cores);\n"
           "                     the output does not depend on it\n"
           "  --fps F            frames per second, 1..60 (default: the model's); scenes keep\n"
           "                     their duration, so the frame count scales with F\n"
           "  --seconds LIST     each scene's duration in seconds, comma-separated, one per\n"
           "                     scene (default: the model's frames per scene)\n"
           "  --sheet FILE       also write a PNG contact sheet (one row per scene)\n"
           "  --thumb FILE       also write a JPEG thumbnail (middle of the first scene)\n"
           "  --frames DIR       also write every frame as DIR/frame_NNNNN.png (DIR must exist)\n"
           "  --no-verify        skip the model checksum pass (tests)\n"
           "  -h, --help         this text\n"
           "\n"
           "A progress bar goes to stderr when it is a terminal. Exit status: 0 done,\n"
           "1 failure (unknown words, unreadable model, unwritable output; one line says why),\n"
           "2 bad usage.\n",
           TAV_MAX_SCENES);
}

/* ---------------------------------------------------------------- arguments */

static int add_prompt(gen_opts *o, const char *p)
{
    /* "a | b" holds two scenes (the prompt format of docs/data.md) */
    const char *s = p;
    for (;;) {
        const char *bar = strchr(s, '|');
        size_t n = bar ? (size_t)(bar - s) : strlen(s);
        int blank = 1;
        for (size_t i = 0; i < n; i++)
            blank &= s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
        if (!blank) {
            if (o->n_scenes == TAV_MAX_SCENES) {
                o->too_many++;
            } else {
                char *c = tav_malloc(n + 1);
                if (!c)
                    return -1;
                memcpy(c, s, n);
                c[n] = 0;
                o->scenes[o->n_scenes++] = c;
            }
        }
        if (!bar)
            return 0;
        s = bar + 1;
    }
}

static int parse_args(int argc, char **argv, gen_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VAL()                                                                    \
    do {                                                                              \
        if (!val)                                                                     \
            return tav_cli_usage_error("generate", "option '%s' needs a value", a);   \
        i++;                                                                          \
    } while (0)
#define NUM(dst, lo, hi)                                                              \
    do {                                                                              \
        NEED_VAL();                                                                   \
        if (tav_cli_parse_long(val, lo, hi, &(dst)))                                  \
            return tav_cli_usage_error("generate", "%s wants an integer in %ld..%ld, not '%s'", \
                                       a, (long)(lo), (long)(hi), val);               \
    } while (0)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEED_VAL();
            o->model = val;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            NEED_VAL();
            if (add_prompt(o, val))
                return TAV_EXIT_FAIL;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            NEED_VAL();
            o->out = val;
        } else if (!strcmp(a, "--sheet")) {
            NEED_VAL();
            o->sheet = val;
        } else if (!strcmp(a, "--thumb")) {
            NEED_VAL();
            o->thumb = val;
        } else if (!strcmp(a, "--frames")) {
            NEED_VAL();
            o->frames_dir = val;
        } else if (!strcmp(a, "--seed")) {
            NUM(o->seed, 0, 0x7fffffffffffffffL);
        } else if (!strcmp(a, "--steps")) {
            NUM(o->steps, 1, 1000);
        } else if (!strcmp(a, "--threads")) {
            NUM(o->threads, 1, 256);
        } else if (!strcmp(a, "--fps")) {
            NUM(o->fps, 1, 60);
        } else if (!strcmp(a, "--seconds")) {
            NEED_VAL();
            o->seconds_arg = val;
        } else if (!strcmp(a, "--no-verify")) {
            o->open_flags |= TAV_MODEL_NO_VERIFY;
        } else {
            return tav_cli_usage_error("generate", "unknown option '%s'", a);
        }
#undef NUM
#undef NEED_VAL
    }
    if (o->n_scenes == 0)
        return tav_cli_usage_error("generate", "give at least one scene prompt with -p");
    if (!o->out)
        return tav_cli_usage_error("generate", "give the output MP4 with -o");
    if (o->seconds_arg) {
        const char *s = o->seconds_arg;
        int n = 0;
        for (;;) {
            char *end;
            double v = strtod(s, &end);
            if (end == s || !(v > 0.0 && v <= 60.0) || n == TAV_MAX_SCENES)
                return tav_cli_usage_error("generate", "--seconds wants up to %d durations in "
                                           "(0, 60], comma-separated, not '%s'",
                                           TAV_MAX_SCENES, o->seconds_arg);
            o->seconds[n++] = (float)v;
            if (*end == 0)
                break;
            if (*end != ',')
                return tav_cli_usage_error("generate", "--seconds: unexpected '%c' in '%s'", *end,
                                           o->seconds_arg);
            s = end + 1;
        }
        if (n != o->n_scenes)
            return tav_cli_usage_error("generate", "--seconds gives %d durations for %d scenes", n,
                                       o->n_scenes);
    }
    return -1;
}

/* The directory of path exists and is writable; else prints why. */
static int check_writable(const char *what, const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    const char *dir = dirname(copy);
    struct stat st;
    int ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK) == 0;
    if (!ok)
        fprintf(stderr, "tav generate: cannot write the %s '%s': directory '%s' %s\n", what, path,
                dir, stat(dir, &st) != 0 ? "does not exist" : "is not writable");
    free(copy);
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- progress, cancel */

static atomic_int cancel_flag;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&cancel_flag, 1);
}

typedef struct bar_state {
    int tty;
    double t0;
} bar_state;

static int progress_bar(void *user, const char *stage, int step, int total, double eta)
{
    bar_state *b = user;
    if (!b->tty)
        return 0;
    int width = 30, fill = total > 0 ? step * width / total : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    char etas[32] = "";
    if (eta >= 0)
        snprintf(etas, sizeof etas, "ETA %.1fs", eta);
    fprintf(stderr, "\r%-8s [%s] %d/%d %s   ", stage, bar, step, total, etas);
    if (step == total)
        fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

typedef struct stream_ctx {
    tav_media_mp4 *mp4;
} stream_ctx;

static tav_status stream_frame(void *user, int index, const uint8_t *rgb, int w, int h)
{
    (void)index;
    (void)w;
    (void)h;
    return tav_media_mp4_add_frame(((stream_ctx *)user)->mp4, rgb);
}

/* ---------------------------------------------------------------- outputs */

static tav_status write_extras(const gen_opts *o, const tav_video *v, const char *checksum)
{
    tav_status st = TAV_OK;
    if (o->sheet) {
        char seed[32], steps[32], keys[TAV_MAX_SCENES][24];
        snprintf(seed, sizeof seed, "%ld", o->seed);
        snprintf(steps, sizeof steps, "%ld", o->steps);
        tav_media_kv kv[TAV_MAX_SCENES + 4];
        int n = 0;
        kv[n++] = (tav_media_kv){"seed", seed};
        kv[n++] = (tav_media_kv){"steps", o->steps ? steps : "model default"};
        kv[n++] = (tav_media_kv){"model sha256", checksum};
        for (int i = 0; i < o->n_scenes; i++) {
            snprintf(keys[i], sizeof keys[i], "prompt %d", i + 1);
            kv[n++] = (tav_media_kv){keys[i], o->scenes[i]};
        }
        st = tav_media_write_sheet_png(o->sheet, v->rgb, v->width, v->height, v->n_frames,
                                       v->scene_start, v->n_scenes, SHEET_PER_ROW, kv, n);
    }
    if (st == TAV_OK && o->thumb) {
        int end0 = v->n_scenes > 1 ? v->scene_start[1] : v->n_frames;
        int fr = end0 / 2 < v->n_frames ? end0 / 2 : v->n_frames - 1;
        st = tav_media_write_thumb_jpeg(o->thumb, v->rgb + (size_t)fr * v->width * v->height * 3,
                                        v->width, v->height, THUMB_WIDTH, 85);
    }
    if (st == TAV_OK && o->frames_dir)
        st = tav_media_write_frames_png(o->frames_dir, "frame_", v);
    return st;
}

static int fail(const char *what)
{
    fprintf(stderr, "tav generate: %s%s\n", what, tav_last_error());
    return TAV_EXIT_FAIL;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run(gen_opts *o)
{
    if (o->too_many) {
        fprintf(stderr, "tav generate: %d scenes given; at most %d scenes per video\n",
                o->n_scenes + o->too_many, TAV_MAX_SCENES);
        return TAV_EXIT_FAIL;
    }
    if (check_writable("video", o->out) || (o->sheet && check_writable("sheet", o->sheet)) ||
        (o->thumb && check_writable("thumbnail", o->thumb)))
        return TAV_EXIT_FAIL;
    struct stat sb;
    if (o->frames_dir && (stat(o->frames_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        fprintf(stderr, "tav generate: --frames directory '%s' does not exist\n", o->frames_dir);
        return TAV_EXIT_FAIL;
    }
    if (stat(o->model, &sb) != 0) {
        fprintf(stderr, "tav generate: model file '%s' does not exist%s\n", o->model,
                strcmp(o->model, TAV_DEFAULT_MODEL_FP32) == 0
                    ? "; make the shipped model with `make model` (or pass -m FILE)"
                    : "");
        return TAV_EXIT_FAIL;
    }
    double t0 = wall();
    tav_pipeline *p;
    if (tav_pipeline_open_flags(o->model, o->open_flags, &p) != TAV_OK)
        return fail("cannot use the model: ");
    int rc = TAV_EXIT_FAIL;
    tav_media_mp4 *mp4 = NULL;
    tav_video v = {0};
    const char *const *scenes = (const char *const *)o->scenes;
    tav_model_info mi;
    tav_pipeline_model_info(p, &mi);
    if (tav_pipeline_check_prompts(p, scenes, o->n_scenes) != TAV_OK) {
        fail("");
        goto out;
    }
    int fps = o->fps ? (int)o->fps : mi.fps;
    if (tav_media_mp4_open(o->out, mi.width, mi.height, fps, NULL, &mp4) != TAV_OK) {
        fail("");
        goto out;
    }
    bar_state bs = {isatty(STDERR_FILENO), t0};
    stream_ctx sc = {mp4};
    tav_gen_params gp = tav_gen_default_params();
    gp.scenes = scenes;
    gp.n_scenes = o->n_scenes;
    gp.seed = (uint64_t)o->seed;
    gp.steps = (int)o->steps;
    gp.threads = (int)o->threads;
    gp.fps = (int)o->fps;
    gp.scene_seconds = o->seconds_arg ? o->seconds : NULL;
    gp.progress = progress_bar;
    gp.progress_user = &bs;
    gp.cancel = &cancel_flag;
    gp.on_frame = stream_frame;
    gp.on_frame_user = &sc;
    gp.discard_frames = !(o->sheet || o->thumb || o->frames_dir);
    void (*old)(int) = signal(SIGINT, on_sigint);
    tav_status st = tav_pipeline_generate(p, &gp, &v);
    signal(SIGINT, old);
    if (bs.tty && st != TAV_OK)
        fputc('\n', stderr);
    if (st != TAV_OK) {
        tav_media_mp4_abort(mp4);
        mp4 = NULL;
        fail(st == TAV_ERR_CANCELLED ? "cancelled, nothing written: " : "");
        goto out;
    }
    st = tav_media_mp4_close(mp4);
    mp4 = NULL;
    if (st != TAV_OK || write_extras(o, &v, tav_pipeline_model_checksum(p)) != TAV_OK) {
        fail("");
        goto out;
    }
    tav_gen_stats gs;
    tav_pipeline_last_stats(p, &gs);
    printf("wrote %s: %d frames, %dx%d, %d fps, %d scene%s, seed %ld, %d steps, %.2f s\n", o->out,
           v.n_frames, v.width, v.height, v.fps, v.n_scenes, v.n_scenes > 1 ? "s" : "", o->seed,
           gs.steps, wall() - t0);
    if (o->sheet)
        printf("wrote %s (contact sheet)\n", o->sheet);
    if (o->thumb)
        printf("wrote %s (thumbnail)\n", o->thumb);
    if (o->frames_dir)
        printf("wrote %d frames to %s/\n", v.n_frames, o->frames_dir);
    rc = TAV_EXIT_OK;
out:
    tav_media_mp4_abort(mp4);
    tav_video_free(&v);
    tav_pipeline_close(p);
    return rc;
}

int tav_cmd_generate(int argc, char **argv)
{
    if (tav_cli_wants_help(argc, argv)) {
        print_help();
        return TAV_EXIT_OK;
    }
    gen_opts o = {.model = tav_pipeline_default_model(), .seed = 1};
    int rc = parse_args(argc, argv, &o);
    if (rc < 0)
        rc = run(&o);
    for (int i = 0; i < o.n_scenes; i++)
        tav_free(o.scenes[i]);
    return rc;
}
