/* test_scenecut.c — the cut detector on synthetic clips generated here:
 * flat-colour scenes with a moving block, per-pixel noise and a slow
 * brightness drift, joined by hard cuts and linear dissolves.
 * Prints precision / recall / F1 for hard cuts and dissolves, with and
 * without the dissolve detector (the before/after measurement). */
#include "check.h"
#include "core/scenecut.h"

#include <stdint.h>
#include <stdlib.h>

#define W 64
#define H 48
#define FB (W * H * 3)
#define MAX_FRAMES 200
#define MAX_SCENES 8

/* Matching tolerances (frames). A hard cut is one frame, but its detection
 * must land exactly there or one frame off (decoding can blur the frame at
 * a cut). A dissolve's "cut" is its middle; any report inside the dissolve
 * plus one frame either side counts. */
#define HARD_TOL 1
#define DISSOLVE_EXTRA_TOL 1

/* The targets on this synthetic set; measured values print with the result. */
#define MIN_HARD_F1 0.95
#define MIN_DISSOLVE_F1_WITH_DETECTOR 0.80

typedef struct {
    uint8_t bg[3], fg[3];
    int bx, by, bs, vx, vy; /* block position, size, velocity */
} scene_look;

typedef struct {
    int n_frames;
    int n_cuts;
    int cut[MAX_SCENES];    /* first frame of the new scene (hard) or middle (dissolve) */
    int lo[MAX_SCENES], hi[MAX_SCENES]; /* the frames a detection may land on */
    int dissolve[MAX_SCENES];
    uint8_t *rgb;
} clip;

static uint32_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}
static int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

static void random_look(scene_look *s)
{
    for (int k = 0; k < 3; k++) {
        s->bg[k] = (uint8_t)rnd_in(20, 235);
        s->fg[k] = (uint8_t)rnd_in(0, 255);
    }
    s->bs = rnd_in(8, 20);
    s->bx = rnd_in(0, W - s->bs);
    s->by = rnd_in(0, H - s->bs);
    s->vx = rnd_in(-3, 3);
    s->vy = rnd_in(-2, 2);
}

static uint8_t clamp8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* Renders frame t (counted from the scene's start) of a scene. */
static void render(const scene_look *s, int t, uint8_t *out)
{
    int bx = ((s->bx + s->vx * t) % (W - s->bs) + (W - s->bs)) % (W - s->bs);
    int by = ((s->by + s->vy * t) % (H - s->bs) + (H - s->bs)) % (H - s->bs);
    int drift = (t % 16) - 8; /* slow lighting change */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int in = x >= bx && x < bx + s->bs && y >= by && y < by + s->bs;
            const uint8_t *c = in ? s->fg : s->bg;
            for (int k = 0; k < 3; k++)
                out[(y * W + x) * 3 + k] = clamp8(c[k] + drift / 2 + (int)(rnd() % 7) - 3);
        }
}

/* Builds a clip of 2..6 scenes, 8..24 frames each; each transition is a
 * dissolve (2..4 frames) with probability p_dissolve, else a hard cut.
 * Consecutive scenes are re-drawn until they differ clearly in background,
 * as the TAV stations do. */
static void make_clip(clip *c, uint32_t seed, double p_dissolve)
{
    rng_state = seed;
    int n_scenes = rnd_in(2, 6);
    scene_look looks[MAX_SCENES];
    int len[MAX_SCENES], dis[MAX_SCENES] = {0};
    int total = 0;
    for (int s = 0; s < n_scenes; s++) {
        do
            random_look(&looks[s]);
        while (s > 0 && abs(looks[s].bg[0] - looks[s - 1].bg[0]) +
                                abs(looks[s].bg[1] - looks[s - 1].bg[1]) +
                                abs(looks[s].bg[2] - looks[s - 1].bg[2]) < 120);
        len[s] = rnd_in(8, 24);
        if (s > 0 && (double)(rnd() % 1000) / 1000.0 < p_dissolve)
            dis[s] = rnd_in(2, 4);
        total += len[s];
    }
    c->n_frames = total;
    c->n_cuts = 0;
    c->rgb = malloc((size_t)total * FB);
    uint8_t *tmp = malloc(FB);
    int start = 0;
    for (int s = 0; s < n_scenes; s++) {
        for (int t = 0; t < len[s]; t++)
            render(&looks[s], t, c->rgb + (size_t)(start + t) * FB);
        if (s > 0) {
            int L = dis[s];
            c->dissolve[c->n_cuts] = L > 0;
            if (L > 0) {
                /* frames start-L .. start-1 blend from the old scene into the new one,
                 * the new scene's content entering at weight j/(L+1) */
                for (int j = 1; j <= L; j++) {
                    uint8_t *f = c->rgb + (size_t)(start - L - 1 + j) * FB;
                    render(&looks[s], 0, tmp);
                    for (int p = 0; p < FB; p++)
                        f[p] = (uint8_t)((f[p] * (L + 1 - j) + tmp[p] * j + (L + 1) / 2) / (L + 1));
                }
                c->cut[c->n_cuts] = start - (L + 1) / 2;
                c->lo[c->n_cuts] = start - L - DISSOLVE_EXTRA_TOL;
                c->hi[c->n_cuts] = start + DISSOLVE_EXTRA_TOL;
            } else {
                c->cut[c->n_cuts] = start;
                c->lo[c->n_cuts] = start - HARD_TOL;
                c->hi[c->n_cuts] = start + HARD_TOL;
            }
            c->n_cuts++;
        }
        start += len[s];
    }
    free(tmp);
}

typedef struct {
    int tp, fp, fn;
} counts;

static double f1_of(counts c, double *prec, double *rec)
{
    *prec = c.tp + c.fp ? (double)c.tp / (c.tp + c.fp) : 1.0;
    *rec = c.tp + c.fn ? (double)c.tp / (c.tp + c.fn) : 1.0;
    return *prec + *rec > 0 ? 2 * *prec * *rec / (*prec + *rec) : 0.0;
}

/* Greedy one-to-one matching of detections to ground-truth cuts; false
 * positives are charged to the hard set (the usual case) unless they fall
 * next to a dissolve. */
static void score_clip(const clip *c, const long *det, int n_det, counts *hard, counts *diss)
{
    int used[MAX_SCENES] = {0};
    for (int i = 0; i < n_det; i++) {
        int hit = -1;
        for (int g = 0; g < c->n_cuts && hit < 0; g++)
            if (!used[g] && det[i] >= c->lo[g] && det[i] <= c->hi[g])
                hit = g;
        if (hit >= 0) {
            used[hit] = 1;
            (c->dissolve[hit] ? diss : hard)->tp++;
        } else {
            hard->fp++;
        }
    }
    for (int g = 0; g < c->n_cuts; g++)
        if (!used[g])
            (c->dissolve[g] ? diss : hard)->fn++;
}

static void run_set(const tav_scenecut_params *sp, int n_clips, double p_dissolve, counts *hard,
                    counts *diss)
{
    memset(hard, 0, sizeof *hard);
    memset(diss, 0, sizeof *diss);
    for (int k = 0; k < n_clips; k++) {
        clip c;
        make_clip(&c, 1000u + (uint32_t)k, p_dissolve);
        long det[64];
        int n_det = 0;
        tav_status st = tav_scenecut_detect(sp, c.rgb, W, H, c.n_frames, det, 64, &n_det);
        CHECK_EQ_INT(st, TAV_OK);
        score_clip(&c, det, n_det < 64 ? n_det : 64, hard, diss);
        if (getenv("SCENECUT_DEBUG")) { /* ground truth vs detections, per clip */
            fprintf(stderr, "clip %d (%d frames) truth:", k, c.n_frames);
            for (int g = 0; g < c.n_cuts; g++)
                fprintf(stderr, " %d%s", c.cut[g], c.dissolve[g] ? "d" : "");
            fprintf(stderr, " | detected:");
            for (int i = 0; i < n_det && i < 64; i++)
                fprintf(stderr, " %ld", det[i]);
            fprintf(stderr, "\n");
        }
        free(c.rgb);
    }
}

/* ---------------------------------------------------------------- cases */

static void test_hard_cuts_f1(void)
{
    tav_scenecut_params sp = tav_scenecut_default_params();
    counts hard, diss;
    run_set(&sp, 60, 0.0, &hard, &diss);
    double p, r, f1 = f1_of(hard, &p, &r);
    printf("synthetic hard cuts (60 clips): precision %.3f recall %.3f F1 %.3f (tp %d fp %d fn %d)\n",
           p, r, f1, hard.tp, hard.fp, hard.fn);
    CHECK(hard.tp > 100);
    CHECK(f1 >= MIN_HARD_F1);
}

static void test_dissolves_before_after(void)
{
    tav_scenecut_params with = tav_scenecut_default_params();
    tav_scenecut_params without = with;
    without.dissolve_window = 0;
    counts h0, d0, h1, d1;
    run_set(&without, 60, 0.5, &h0, &d0);
    run_set(&with, 60, 0.5, &h1, &d1);
    double p, r, f_h0 = f1_of(h0, &p, &r);
    double f_d0 = f1_of(d0, &p, &r);
    printf("without dissolve detector: hard F1 %.3f; dissolves precision/recall %.3f/%.3f F1 %.3f (tp %d fn %d; fp %d overall)\n",
           f_h0, p, r, f_d0, d0.tp, d0.fn, h0.fp);
    double f_h1 = f1_of(h1, &p, &r);
    double f_d1 = f1_of(d1, &p, &r);
    printf("with dissolve detector:    hard F1 %.3f; dissolves precision/recall %.3f/%.3f F1 %.3f (tp %d fn %d; fp %d overall)\n",
           f_h1, p, r, f_d1, d1.tp, d1.fn, h1.fp);
    CHECK(d1.tp + d1.fn > 50);
    CHECK(f_h1 >= MIN_HARD_F1);
    CHECK(f_d1 >= MIN_DISSOLVE_F1_WITH_DETECTOR);
    CHECK(f_d1 > f_d0);
}

static void test_streaming_matches_one_call(void)
{
    clip c;
    make_clip(&c, 77, 0.5);
    long det[64];
    int n_det;
    CHECK_EQ_INT(tav_scenecut_detect(NULL, c.rgb, W, H, c.n_frames, det, 64, &n_det), TAV_OK);
    tav_scenecut *d;
    CHECK_EQ_INT(tav_scenecut_init(NULL, W, H, &d), TAV_OK);
    int n = 0, ok = 1;
    long prev = 0;
    tav_scenecut_cut cut;
    for (int i = 0; i <= c.n_frames; i++) {
        if (i < c.n_frames)
            CHECK_EQ_INT(tav_scenecut_push_frame(d, c.rgb + (size_t)i * FB), TAV_OK);
        else
            CHECK_EQ_INT(tav_scenecut_finish(d), TAV_OK);
        while (tav_scenecut_pop_cut(d, &cut)) {
            ok &= n < n_det && cut.frame == det[n] && cut.frame > prev && cut.frame <= i;
            prev = cut.frame;
            n++;
        }
    }
    CHECK(ok);
    CHECK_EQ_INT(n, n_det);
    CHECK(n_det >= 1);
    CHECK_EQ_INT(tav_scenecut_frame_count(d), c.n_frames);
    tav_scenecut_free(d);
    free(c.rgb);
}

static void test_static_and_min_len(void)
{
    /* A still video: no cuts. A new flat colour every 3 frames with
     * min_scene_len 5: a cut every 6 frames (the first change at least 5
     * frames after the last cut). */
    enum { N = 40 };
    uint8_t *v = calloc((size_t)N, FB);
    long det[N];
    int n_det;
    CHECK_EQ_INT(tav_scenecut_detect(NULL, v, W, H, N, det, N, &n_det), TAV_OK);
    CHECK_EQ_INT(n_det, 0);
    for (int i = 0; i < N; i++)
        memset(v + (size_t)i * FB, ((i / 3) & 1) ? 255 : 0, FB);
    tav_scenecut_params sp = tav_scenecut_default_params();
    sp.min_scene_len = 5;
    CHECK_EQ_INT(tav_scenecut_detect(&sp, v, W, H, N, det, N, &n_det), TAV_OK);
    CHECK_EQ_INT(n_det, 6); /* 6, 12, ..., 36 */
    for (int i = 0; i < n_det && i < N; i++)
        CHECK_EQ_INT(det[i], 6 * (i + 1));
    free(v);
}

static void test_flashing_is_one_transition(void)
{
    /* Every frame flips black/white: one long transition, not a cut per
     * frame; cuts come at most once per 9 frames (the 8-frame transition cap). */
    enum { N = 40 };
    uint8_t *v = malloc((size_t)N * FB);
    for (int i = 0; i < N; i++)
        memset(v + (size_t)i * FB, (i & 1) ? 255 : 0, FB);
    long det[N];
    int n_det;
    CHECK_EQ_INT(tav_scenecut_detect(NULL, v, W, H, N, det, N, &n_det), TAV_OK);
    CHECK(n_det >= 1 && n_det <= 5);
    for (int i = 1; i < n_det && i < N; i++)
        CHECK(det[i] - det[i - 1] >= 9);
    free(v);
}

static void test_downscale_path(void)
{
    /* 300 px wide frames go through the box-downscaler; a cut still shows. */
    enum { BW = 300, BH = 20, N = 12 };
    uint8_t *v = malloc((size_t)N * BW * BH * 3);
    for (int i = 0; i < N; i++)
        for (int p = 0; p < BW * BH; p++) {
            uint8_t *px = v + ((size_t)i * BW * BH + p) * 3;
            px[0] = i < 6 ? 200 : 20;
            px[1] = i < 6 ? 30 : 180;
            px[2] = (uint8_t)(p % 50);
        }
    long det[4];
    int n_det;
    CHECK_EQ_INT(tav_scenecut_detect(NULL, v, BW, BH, N, det, 4, &n_det), TAV_OK);
    CHECK_EQ_INT(n_det, 1);
    CHECK_EQ_INT(det[0], 6);
    free(v);
}

static void test_bad_params(void)
{
    tav_scenecut *d = (tav_scenecut *)1;
    tav_scenecut_params sp = tav_scenecut_default_params();
    sp.threshold = 0;
    CHECK_EQ_INT(tav_scenecut_init(&sp, W, H, &d), TAV_ERR_INVALID_ARG);
    CHECK(d == NULL);
    CHECK_STR_CONTAINS(tav_last_error(), "threshold");
    sp = tav_scenecut_default_params();
    sp.min_scene_len = 0;
    CHECK_EQ_INT(tav_scenecut_init(&sp, W, H, &d), TAV_ERR_INVALID_ARG);
    sp = tav_scenecut_default_params();
    sp.dissolve_window = 99;
    CHECK_EQ_INT(tav_scenecut_init(&sp, W, H, &d), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_scenecut_init(NULL, 0, H, &d), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_scenecut_push_frame(NULL, NULL), TAV_ERR_INVALID_ARG);
}

int main(void)
{
    RUN(test_hard_cuts_f1);
    RUN(test_dissolves_before_after);
    RUN(test_streaming_matches_one_call);
    RUN(test_static_and_min_len);
    RUN(test_flashing_is_one_transition);
    RUN(test_downscale_path);
    RUN(test_bad_params);
    return check_summary();
}
