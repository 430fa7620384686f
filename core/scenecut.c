/* scenecut.c — streaming content-based cut detector (see scenecut.h). */
#include "core/scenecut.h"
#include "core/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WINDOW 16
#define QUEUE_CAP 64
/* During a transition a cut-level step counts as a new cut only if it is
 * this many times the previous step: a dissolve's steps are alike (measured
 * ratios 0.6..1.6 on TAV dissolves), a cut after fast motion jumps 5x+. */
#define TRANSITION_JUMP 2.0f

struct tav_scenecut {
    tav_scenecut_params p;
    int width, height;  /* input frames                       */
    int factor;         /* box-downscale factor (>= 1)        */
    int dw, dh;         /* working (downscaled) size          */
    int ring_n;         /* HSV frames kept: window + 1        */
    uint8_t *hsv;       /* ring_n * dw * dh * 3               */
    uint8_t *rgb;       /* the same frames downscaled, RGB (for the blend test) */
    uint32_t *acc;      /* dw * 3 row accumulator for downscaling */
    float s1[MAX_WINDOW + 1]; /* recent single-frame scores, by frame % (MAX_WINDOW+1) */
    long n;             /* frames pushed                      */
    long last_cut;      /* frame of the last cut (0 = start)  */
    long trans_start;   /* a cut's transition began here ...   */
    int in_transition;  /* ... and its frames still change fast */
    long settled;       /* first frame showing the scene after the last transition */
    float last_score;
    /* dissolve run being measured: frames [run_start, run_end] */
    int run_active;
    long run_start, run_end;
    float run_peak;
    long run_peak_at;   /* first frame with the run's highest long-range score */
    float run_blend;    /* best (lowest) blend residual ratio seen in the run */
    tav_scenecut_cut queue[QUEUE_CAP];
    int q_head, q_len;
};

tav_scenecut_params tav_scenecut_default_params(void)
{
    tav_scenecut_params p = {
        .threshold = 27.0f,          /* PySceneDetect's default; re-checked on TAV data */
        .min_scene_len = 4,          /* 0.5 s at 8 fps; TAV scenes are 1..3 s          */
        .dissolve_window = 4,        /* covers dissolves up to ~4 frames (0.5 s)       */
        .dissolve_threshold = 27.0f, /* a finished dissolve changes as much as a cut   */
        .dissolve_blend = 0.7f,      /* see tav_scenecut_params; swept 0.3..0.7        */
        .max_width = 128,
    };
    return p;
}

/* ---------------------------------------------------------------- setup */

tav_status tav_scenecut_init(const tav_scenecut_params *params, int width, int height,
                             tav_scenecut **out)
{
    *out = NULL;
    tav_scenecut_params p = params ? *params : tav_scenecut_default_params();
    if (width < 1 || height < 1 || width > 16384 || height > 16384)
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: frame size %dx%d out of range",
                        width, height);
    if (!(p.threshold > 0.0f && p.threshold <= 255.0f))
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: threshold %g not in (0, 255]",
                        (double)p.threshold);
    if (p.min_scene_len < 1 || p.min_scene_len > 100000)
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: min scene length %d not in 1..100000",
                        p.min_scene_len);
    if (p.dissolve_window < 0 || p.dissolve_window > MAX_WINDOW)
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: dissolve window %d not in 0..%d",
                        p.dissolve_window, MAX_WINDOW);
    if (p.dissolve_window > 0 && !(p.dissolve_threshold > 0.0f && p.dissolve_threshold <= 255.0f))
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: dissolve threshold %g not in (0, 255]",
                        (double)p.dissolve_threshold);
    if (p.dissolve_window > 0 && !(p.dissolve_blend > 0.0f && p.dissolve_blend <= 1.0f))
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: dissolve blend ratio %g not in (0, 1]",
                        (double)p.dissolve_blend);
    if (p.max_width < 16)
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: max width %d below 16", p.max_width);

    tav_scenecut *d = tav_calloc(1, sizeof *d);
    if (!d)
        return tav_fail(TAV_ERR_NOMEM, "scene detector: out of memory");
    d->p = p;
    d->width = width;
    d->height = height;
    d->factor = (width + p.max_width - 1) / p.max_width;
    d->dw = width / d->factor;
    d->dh = height / d->factor;
    if (d->dh < 1)
        d->dh = 1;
    d->ring_n = (p.dissolve_window > 1 ? p.dissolve_window : 1) + 1;
    d->hsv = tav_malloc_array((size_t)d->ring_n * (size_t)d->dw * (size_t)d->dh, 3);
    d->rgb = tav_malloc_array((size_t)d->ring_n * (size_t)d->dw * (size_t)d->dh, 3);
    d->acc = tav_malloc_array((size_t)d->dw, 3 * sizeof *d->acc);
    if (!d->hsv || !d->rgb || !d->acc) {
        tav_scenecut_free(d);
        return tav_fail(TAV_ERR_NOMEM, "scene detector: out of memory");
    }
    *out = d;
    return TAV_OK;
}

void tav_scenecut_free(tav_scenecut *d)
{
    if (!d)
        return;
    tav_free(d->hsv);
    tav_free(d->rgb);
    tav_free(d->acc);
    tav_free(d);
}

float tav_scenecut_last_score(const tav_scenecut *d) { return d->last_score; }

long tav_scenecut_frame_count(const tav_scenecut *d) { return d->n; }

/* ---------------------------------------------------------------- HSV */

/* OpenCV's 8-bit RGB → HSV: H in 0..179 (degrees / 2), S and V in 0..255. */
static void rgb_to_hsv(unsigned r, unsigned g, unsigned b, uint8_t *out)
{
    unsigned v = r > g ? (r > b ? r : b) : (g > b ? g : b);
    unsigned mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
    unsigned diff = v - mn;
    int h = 0;
    if (diff) {
        if (v == r)
            h = 60 * ((int)g - (int)b) / (int)diff;
        else if (v == g)
            h = 120 + 60 * ((int)b - (int)r) / (int)diff;
        else
            h = 240 + 60 * ((int)r - (int)g) / (int)diff;
        if (h < 0)
            h += 360;
    }
    out[0] = (uint8_t)(h / 2);
    out[1] = (uint8_t)(v ? (255 * diff + v / 2) / v : 0);
    out[2] = (uint8_t)v;
}

/* Box-downscales rgb by d->factor into small (dw*dh*3) and converts that to
 * HSV into dst. */
static void frame_to_hsv(tav_scenecut *d, const uint8_t *rgb, uint8_t *small, uint8_t *dst)
{
    int f = d->factor;
    unsigned area = (unsigned)(f * f);
    for (int y = 0; y < d->dh; y++) {
        memset(d->acc, 0, (size_t)d->dw * 3 * sizeof *d->acc);
        for (int yy = y * f; yy < y * f + f; yy++) {
            const uint8_t *row = rgb + (size_t)yy * (size_t)d->width * 3;
            for (int x = 0; x < d->dw * f; x++)
                for (int k = 0; k < 3; k++)
                    d->acc[(x / f) * 3 + k] += row[x * 3 + k];
        }
        for (int x = 0; x < d->dw; x++) {
            uint32_t *a = d->acc + x * 3;
            uint8_t *sp = small + ((size_t)y * d->dw + x) * 3;
            for (int k = 0; k < 3; k++)
                sp[k] = (uint8_t)((a[k] + area / 2) / area);
            rgb_to_hsv(sp[0], sp[1], sp[2], dst + ((size_t)y * d->dw + x) * 3);
        }
    }
}

/* Mean over pixels of |dH| (circular), |dS|, |dV|, averaged over channels. */
static float hsv_score(const tav_scenecut *d, const uint8_t *a, const uint8_t *b)
{
    size_t n = (size_t)d->dw * (size_t)d->dh;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        int dh = abs((int)a[3 * i] - (int)b[3 * i]);
        if (dh > 90)
            dh = 180 - dh;
        sum += (uint64_t)dh + (uint64_t)abs((int)a[3 * i + 1] - (int)b[3 * i + 1]) +
               (uint64_t)abs((int)a[3 * i + 2] - (int)b[3 * i + 2]);
    }
    return (float)((double)sum / (3.0 * (double)n));
}

/* Is m a cross-fade of a and b? Fits m ~ alpha*a + (1-alpha)*b (least
 * squares, RGB) and returns the mean absolute residual divided by m's mean
 * distance to the nearer of a and b: ~0 for a linear dissolve, ~1 or more
 * for motion (a moving object is somewhere new, not a ghost of both ends). */
static float blend_ratio(const tav_scenecut *d, const uint8_t *a, const uint8_t *m,
                         const uint8_t *b)
{
    size_t n = (size_t)d->dw * (size_t)d->dh * 3;
    double num = 0, den = 0, da = 0, db = 0;
    for (size_t i = 0; i < n; i++) {
        double ab = (double)a[i] - b[i], mb = (double)m[i] - b[i];
        num += mb * ab;
        den += ab * ab;
        da += fabs((double)m[i] - a[i]);
        db += fabs(mb);
    }
    double near = (da < db ? da : db) / (double)n;
    if (den <= 0 || near < 1.0)
        return 1.0f;
    double alpha = num / den, res = 0;
    if (alpha < 0.05 || alpha > 0.95) /* not between the two ends */
        return 1.0f;
    for (size_t i = 0; i < n; i++)
        res += fabs((double)m[i] - (alpha * a[i] + (1 - alpha) * b[i]));
    return (float)(res / (double)n / near);
}

/* ---------------------------------------------------------------- decisions */

static tav_status enqueue(tav_scenecut *d, long frame, tav_cut_kind kind, float score)
{
    if (d->q_len == QUEUE_CAP)
        return tav_fail(TAV_ERR_LIMIT, "scene detector: %d cuts queued; pop them after each push",
                        QUEUE_CAP);
    d->queue[(d->q_head + d->q_len) % QUEUE_CAP] = (tav_scenecut_cut){frame, kind, score};
    d->q_len++;
    d->last_cut = frame;
    d->in_transition = 1;
    d->trans_start = d->n - 1;
    return TAV_OK;
}

/* A dissolve run ended: report it at the middle of the transition. With the
 * window k spanning a transition from frame a (last of the old scene) to b
 * (first of the new), the long-range score peaks over [b, a+k]; the run's
 * first peak frame minus (k+1)/2 lands on the transition's middle for the
 * 2- and 4-frame dissolves of the TAV set. The peak, not the run's centre:
 * fast motion after a fade keeps the run going and would drag a centre
 * estimate into the next scene (measured: 5 more dissolves found in 200
 * clips, docs/scenecut.md). */
static tav_status end_run(tav_scenecut *d)
{
    if (!d->run_active)
        return TAV_OK;
    d->run_active = 0;
    long pos = d->run_peak_at - (d->p.dissolve_window + 1) / 2;
    if (d->run_blend > d->p.dissolve_blend) /* changed a lot, but not by fading */
        return TAV_OK;
    if (pos <= d->last_cut || pos - d->last_cut < d->p.min_scene_len)
        return TAV_OK;
    return enqueue(d, pos, TAV_CUT_DISSOLVE, d->run_peak);
}

tav_status tav_scenecut_push_frame(tav_scenecut *d, const uint8_t *rgb)
{
    if (!d || !rgb)
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: NULL frame");
    const size_t fb = (size_t)d->dw * (size_t)d->dh * 3;
    const long i = d->n;
    uint8_t *cur = d->hsv + (size_t)(i % d->ring_n) * fb;
    frame_to_hsv(d, rgb, d->rgb + (size_t)(i % d->ring_n) * fb, cur);
    d->n++;
    if (i == 0) {
        d->last_score = 0.0f;
        return TAV_OK;
    }
    float s1 = hsv_score(d, cur, d->hsv + (size_t)((i - 1) % d->ring_n) * fb);
    d->last_score = s1;
    float prev_s1 = i >= 2 ? d->s1[(i - 1) % (MAX_WINDOW + 1)] : 0.0f;
    d->s1[i % (MAX_WINDOW + 1)] = s1;
    int hard = s1 >= d->p.threshold;
    /* After a cut, frames that keep changing fast (a dissolve's steps, each
     * at cut level) belong to that transition, not to new cuts: hysteresis
     * down to half the threshold, for at most 2 * window (or 8) frames. */
    int max_trans = d->p.dissolve_window > 4 ? 2 * d->p.dissolve_window : 8;
    if (d->in_transition &&
        (s1 < 0.5f * d->p.threshold || i - d->trans_start > max_trans)) {
        d->in_transition = 0;
        d->settled = i - 1;
    }

    tav_status st = TAV_OK;
    const int k = d->p.dissolve_window;
    if (k > 0) {
        int candidate = 0;
        float sk = 0.0f;
        if (!d->in_transition && i - k >= d->last_cut && i - k >= d->settled) {
            int window_hard = 0; /* any single step in (i-k, i] at cut level? */
            for (long j = i - k + 1; j <= i; j++)
                if (d->s1[j % (MAX_WINDOW + 1)] >= d->p.threshold)
                    window_hard = 1;
            if (!window_hard) {
                sk = k == 1 ? s1 : hsv_score(d, cur, d->hsv + (size_t)((i - k) % d->ring_n) * fb);
                candidate = sk >= d->p.dissolve_threshold;
            }
        }
        if (candidate) {
            if (!d->run_active) {
                d->run_active = 1;
                d->run_start = i;
                d->run_peak = 0.0f;
                d->run_blend = 1e9f;
            }
            d->run_end = i;
            if (sk > d->run_peak) {
                d->run_peak = sk;
                d->run_peak_at = i;
            }
            if (k >= 2) { /* is the window's middle frame a blend of its ends? */
                const uint8_t *ra = d->rgb + (size_t)((i - k) % d->ring_n) * fb;
                const uint8_t *rm = d->rgb + (size_t)((i - k / 2) % d->ring_n) * fb;
                const uint8_t *rb = d->rgb + (size_t)(i % d->ring_n) * fb;
                float br = blend_ratio(d, ra, rm, rb);
                if (br < d->run_blend)
                    d->run_blend = br;
            } else {
                d->run_blend = 0.0f; /* no middle frame to test */
            }
        } else if (hard && d->run_active && i - d->run_start > k) {
            /* a cut well after the run began: the run was a dissolve of its
             * own (the motion after it kept the run going); report it first */
            st = end_run(d);
        } else if (hard) {
            /* the change arrived as a cut-sized step after all: the hard
             * rule below places it exactly, the dissolve estimate would not */
            d->run_active = 0;
        } else {
            st = end_run(d);
        }
    }
    int new_cut = !d->in_transition || s1 > TRANSITION_JUMP * prev_s1;
    if (st == TAV_OK && hard && new_cut && i - d->last_cut >= d->p.min_scene_len)
        st = enqueue(d, i, TAV_CUT_HARD, s1);
    return st;
}

tav_status tav_scenecut_finish(tav_scenecut *d)
{
    if (!d)
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: NULL");
    return end_run(d);
}

int tav_scenecut_pop_cut(tav_scenecut *d, tav_scenecut_cut *out)
{
    if (!d || d->q_len == 0)
        return 0;
    *out = d->queue[d->q_head];
    d->q_head = (d->q_head + 1) % QUEUE_CAP;
    d->q_len--;
    return 1;
}

/* ---------------------------------------------------------------- one call */

tav_status tav_scenecut_detect(const tav_scenecut_params *params, const uint8_t *rgb, int width,
                               int height, int n_frames, long *cuts, int max_cuts, int *n_cuts)
{
    *n_cuts = 0;
    if (!rgb || n_frames < 0 || max_cuts < 0 || (max_cuts > 0 && !cuts))
        return tav_fail(TAV_ERR_INVALID_ARG, "scene detector: bad arguments");
    tav_scenecut *d;
    tav_status st = tav_scenecut_init(params, width, height, &d);
    if (st != TAV_OK)
        return st;
    const size_t fb = (size_t)width * (size_t)height * 3;
    tav_scenecut_cut c;
    for (int i = 0; i <= n_frames && st == TAV_OK; i++) {
        st = i < n_frames ? tav_scenecut_push_frame(d, rgb + (size_t)i * fb) : tav_scenecut_finish(d);
        while (tav_scenecut_pop_cut(d, &c)) {
            if (*n_cuts < max_cuts)
                cuts[*n_cuts] = c.frame;
            (*n_cuts)++;
        }
    }
    tav_scenecut_free(d);
    return st;
}
