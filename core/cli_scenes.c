/* cli_scenes.c — `tav scenes VIDEO`: scene cuts of any video FFmpeg reads. */
#include "core/cli.h"
#include "core/log.h"
#include "core/media.h"
#include "core/mem.h"
#include "core/scenecut.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: tav scenes VIDEO [--threshold T] [--min-scene-len N] [--dissolve-window K]\n"
    "                        [--dissolve-threshold D] [--json]\n"
    "\n"
    "Detects scene cuts in VIDEO (any file FFmpeg's libraries read) and prints the\n"
    "cut frames and times and the scene list. Frames are numbered from 0; a cut\n"
    "is the first frame of the new scene; scene ranges are [start, end).\n"
    "\n"
    "  --threshold T           hard-cut score threshold, 0 < T <= 255 (default %.0f)\n"
    "  --min-scene-len N       frames between cuts, >= 1 (default %d)\n"
    "  --dissolve-window K     frames back for the dissolve detector, 0 = off (default %d)\n"
    "  --dissolve-threshold D  dissolve score threshold (default %.0f)\n"
    "  --json                  one JSON object: video, fps, frames, width, height,\n"
    "                          cuts [{frame, time, kind, score}], cut_frames, cut_times,\n"
    "                          scenes [{start, end, start_time, end_time}]\n"
    "\n"
    "The score is the mean absolute HSV difference between consecutive frames\n"
    "(as PySceneDetect's ContentDetector); see docs/scenecut.md.\n"
    "Exit status: 0 ok, 1 unreadable or non-video file, 2 bad usage.\n";

/* ---------------------------------------------------------------- arguments */

static int parse_float(const char *s, float lo, float hi, float *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || *end || !(v > lo) || v > hi)
        return -1;
    *out = v;
    return 0;
}

typedef struct {
    const char *path;
    int json;
    tav_scenecut_params sp;
} scenes_args;

/* Returns -1 when the arguments are fine, else the exit status to return. */
static int parse_args(int argc, char **argv, scenes_args *a)
{
    a->path = NULL;
    a->json = 0;
    a->sp = tav_scenecut_default_params();
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!strcmp(o, "--json")) {
            a->json = 1;
        } else if (!strcmp(o, "--threshold")) {
            if (parse_float(val, 0.0f, 255.0f, &a->sp.threshold))
                return tav_cli_usage_error("scenes", "--threshold needs a number in (0, 255]");
            i++;
        } else if (!strcmp(o, "--dissolve-threshold")) {
            if (parse_float(val, 0.0f, 255.0f, &a->sp.dissolve_threshold))
                return tav_cli_usage_error("scenes",
                                           "--dissolve-threshold needs a number in (0, 255]");
            i++;
        } else if (!strcmp(o, "--min-scene-len")) {
            if (tav_cli_parse_long(val, 1, 100000, &n))
                return tav_cli_usage_error("scenes", "--min-scene-len needs an integer in 1..100000");
            a->sp.min_scene_len = (int)n;
            i++;
        } else if (!strcmp(o, "--dissolve-window")) {
            if (tav_cli_parse_long(val, 0, 16, &n))
                return tav_cli_usage_error("scenes", "--dissolve-window needs an integer in 0..16");
            a->sp.dissolve_window = (int)n;
            i++;
        } else if (!strcmp(o, "--")) {
            if (i + 1 < argc && !a->path)
                a->path = argv[++i];
            if (i + 1 < argc)
                return tav_cli_usage_error("scenes", "unexpected argument '%s'", argv[i + 1]);
            break;
        } else if (o[0] == '-' && o[1]) {
            return tav_cli_usage_error("scenes", "unknown option '%s'", o);
        } else if (a->path) {
            return tav_cli_usage_error("scenes", "unexpected argument '%s' (one VIDEO only)", o);
        } else {
            a->path = o;
        }
    }
    if (!a->path)
        return tav_cli_usage_error("scenes", "missing VIDEO");
    return -1;
}

/* ---------------------------------------------------------------- output */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_time(long frame, double fps)
{
    if (fps > 0)
        printf("%.4f", (double)frame / fps);
    else
        printf("null");
}

static void print_json(const char *path, const tav_media_info *in, long n_frames,
                       const tav_scenecut_cut *cuts, size_t n_cuts)
{
    printf("{\"video\": ");
    json_string(path);
    printf(", \"fps\": %.4f, \"frames\": %ld, \"width\": %d, \"height\": %d, \"cuts\": [", in->fps,
           n_frames, in->src_width, in->src_height);
    for (size_t i = 0; i < n_cuts; i++) {
        printf("%s{\"frame\": %ld, \"time\": ", i ? ", " : "", cuts[i].frame);
        json_time(cuts[i].frame, in->fps);
        printf(", \"kind\": \"%s\", \"score\": %.2f}",
               cuts[i].kind == TAV_CUT_DISSOLVE ? "dissolve" : "hard", (double)cuts[i].score);
    }
    printf("], \"cut_frames\": [");
    for (size_t i = 0; i < n_cuts; i++)
        printf("%s%ld", i ? ", " : "", cuts[i].frame);
    printf("], \"cut_times\": [");
    for (size_t i = 0; i < n_cuts; i++) {
        printf("%s", i ? ", " : "");
        json_time(cuts[i].frame, in->fps);
    }
    printf("], \"scenes\": [");
    for (size_t s = 0; s <= n_cuts && n_frames > 0; s++) {
        long a = s ? cuts[s - 1].frame : 0, b = s < n_cuts ? cuts[s].frame : n_frames;
        printf("%s{\"start\": %ld, \"end\": %ld, \"start_time\": ", s ? ", " : "", a, b);
        json_time(a, in->fps);
        printf(", \"end_time\": ");
        json_time(b, in->fps);
        printf("}");
    }
    printf("]}\n");
}

static void print_text(const char *path, const tav_media_info *in, long n_frames,
                       const tav_scenecut_cut *cuts, size_t n_cuts)
{
    printf("%s: %ld frame%s, %.3f fps, %dx%d (%s)\n", path, n_frames, n_frames == 1 ? "" : "s",
           in->fps, in->src_width, in->src_height, in->codec ? in->codec : "?");
    printf("%zu cut%s\n", n_cuts, n_cuts == 1 ? "" : "s");
    for (size_t i = 0; i < n_cuts; i++) {
        printf("  cut at frame %6ld", cuts[i].frame);
        if (in->fps > 0)
            printf("  %9.3f s", (double)cuts[i].frame / in->fps);
        printf("  %-8s score %.1f\n", cuts[i].kind == TAV_CUT_DISSOLVE ? "dissolve" : "hard",
               (double)cuts[i].score);
    }
    printf("%zu scene%s\n", n_frames > 0 ? n_cuts + 1 : 0, n_cuts == 0 ? "" : "s");
    for (size_t s = 0; s <= n_cuts && n_frames > 0; s++) {
        long a = s ? cuts[s - 1].frame : 0, b = s < n_cuts ? cuts[s].frame : n_frames;
        printf("  scene %zu: frames %ld..%ld", s + 1, a, b - 1);
        if (in->fps > 0)
            printf("  (%.3f s .. %.3f s)", (double)a / in->fps, (double)b / in->fps);
        printf("\n");
    }
}

/* ---------------------------------------------------------------- run */

typedef struct {
    tav_scenecut_cut *v;
    size_t n, cap;
} cut_list;

static tav_status drain(tav_scenecut *d, cut_list *l)
{
    tav_scenecut_cut c;
    while (tav_scenecut_pop_cut(d, &c)) {
        if (l->n == l->cap) {
            size_t ncap = l->cap ? 2 * l->cap : 64;
            tav_scenecut_cut *p = tav_realloc(l->v, ncap * sizeof *p);
            if (!p)
                return tav_fail(TAV_ERR_NOMEM, "out of memory (%zu cuts)", l->n);
            l->v = p;
            l->cap = ncap;
        }
        l->v[l->n++] = c;
    }
    return TAV_OK;
}

/* Streams the video through the detector: memory stays one frame plus the
 * detector's window, whatever the video's length. */
static tav_status detect(const scenes_args *a, tav_media_reader *r, cut_list *cuts, long *n_frames)
{
    const tav_media_info *in = tav_media_reader_info(r);
    tav_scenecut *d;
    tav_status st = tav_scenecut_init(&a->sp, in->width, in->height, &d);
    if (st != TAV_OK)
        return st;
    const uint8_t *rgb;
    while ((st = tav_media_reader_next(r, &rgb)) == TAV_OK && rgb) {
        st = tav_scenecut_push_frame(d, rgb);
        if (st == TAV_OK)
            st = drain(d, cuts);
        if (st != TAV_OK)
            break;
    }
    if (st == TAV_OK)
        st = tav_scenecut_finish(d);
    if (st == TAV_OK)
        st = drain(d, cuts);
    *n_frames = tav_scenecut_frame_count(d);
    tav_scenecut_free(d);
    return st;
}

int tav_cmd_scenes(int argc, char **argv)
{
    if (tav_cli_wants_help(argc, argv)) {
        tav_scenecut_params dp = tav_scenecut_default_params();
        printf(usage, (double)dp.threshold, dp.min_scene_len, dp.dissolve_window,
               (double)dp.dissolve_threshold);
        return TAV_EXIT_OK;
    }
    scenes_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;

    tav_media_reader *r;
    tav_status st = tav_media_reader_open(a.path, &r);
    if (st != TAV_OK) {
        fprintf(stderr, "tav scenes: %s\n", tav_last_error());
        return TAV_EXIT_FAIL;
    }
    /* The detector looks at frames at most max_width wide: let the reader
     * scale while converting (1080p: 3x faster than full-size RGB). */
    const tav_media_info *in0 = tav_media_reader_info(r);
    if (in0->src_width > a.sp.max_width) {
        int ow = a.sp.max_width;
        int oh = (int)(((long)in0->src_height * ow + in0->src_width / 2) / in0->src_width);
        st = tav_media_reader_set_output_size(r, ow, oh > 0 ? oh : 1);
        if (st != TAV_OK) {
            fprintf(stderr, "tav scenes: %s\n", tav_last_error());
            tav_media_reader_close(r);
            return TAV_EXIT_FAIL;
        }
    }
    cut_list cuts = {0};
    long n_frames = 0;
    st = detect(&a, r, &cuts, &n_frames);
    if (st == TAV_OK && n_frames == 0)
        st = tav_fail(TAV_ERR_FORMAT, "%s: no frames could be decoded", a.path);
    if (st != TAV_OK) {
        fprintf(stderr, "tav scenes: %s\n", tav_last_error());
    } else {
        const tav_media_info *in = tav_media_reader_info(r);
        if (a.json)
            print_json(a.path, in, n_frames, cuts.v, cuts.n);
        else
            print_text(a.path, in, n_frames, cuts.v, cuts.n);
        TAV_LOG_DEBUG("scenes: threshold %.1f, min scene %d, dissolve window %d",
                      (double)a.sp.threshold, a.sp.min_scene_len, a.sp.dissolve_window);
    }
    tav_free(cuts.v);
    tav_media_reader_close(r);
    return st == TAV_OK ? TAV_EXIT_OK : TAV_EXIT_FAIL;
}
