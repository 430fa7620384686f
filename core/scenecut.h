/* scenecut.h — content-based scene-cut detection on RGB frames, streaming.
 *
 *   tav_scenecut_params sp = tav_scenecut_default_params();
 *   sp.threshold = 30;                                   // optional tuning
 *   tav_scenecut *d;
 *   if (tav_scenecut_init(&sp, width, height, &d) != TAV_OK) { ...tav_last_error()... }
 *   for each frame:
 *       tav_scenecut_push_frame(d, rgb);                 // width*height*3 bytes
 *       tav_scenecut_cut c;
 *       while (tav_scenecut_pop_cut(d, &c)) printf("cut at %ld\n", c.frame);
 *   tav_scenecut_finish(d);                              // end of stream
 *   while (tav_scenecut_pop_cut(d, &c)) ...
 *   tav_scenecut_free(d);
 *
 * Method (PySceneDetect's ContentDetector, plus a dissolve detector):
 *  - Each frame is box-downscaled to at most max_width pixels wide and
 *    converted to HSV with OpenCV's 8-bit ranges (H 0..179, S and V 0..255).
 *  - Its score is the mean absolute difference against the previous frame of
 *    H (circular: the distance between hues 2 and 178 is 4), S and V,
 *    averaged over the three channels: 0 (same) .. ~170 (maximal).
 *  - Hard cut at frame i (the first frame of the new scene) when
 *    score(i) >= threshold and i is at least min_scene_len frames after the
 *    previous cut (frame 0 counts as a cut).
 *  - Dissolves spread their change over several frames, each below the
 *    threshold. So each frame is also compared against the frame
 *    dissolve_window frames back; a run of frames whose long-range score is
 *    >= dissolve_threshold while no single-frame score in the window reached
 *    the hard threshold is a dissolve candidate. Fast motion also builds up a
 *    long-range score, so the candidate must pass a blend test: the window's
 *    middle frame (RGB) must fit alpha*first + (1-alpha)*last with a residual
 *    at most dissolve_blend times its distance to the nearer end. A dissolve
 *    is reported at the middle of the transition (the run's first peak
 *    frame minus half the window). Set dissolve_window to 0 for the plain ContentDetector.
 *  - Hysteresis: after a cut, frames that keep changing at least half the
 *    threshold per frame belong to its transition (a dissolve can have several
 *    cut-sized steps), for at most 8 frames (2 * window if larger); during it
 *    a step is a new cut only if it is over twice the previous step.
 *  - Cuts come out in increasing frame order; a hard cut is known as soon as
 *    its frame is pushed, a dissolve about dissolve_window frames later.
 *
 * Memory: dissolve_window + 1 downscaled HSV and RGB frames; nothing grows with the
 * video's length. Not thread-safe per object.
 */
#ifndef TAV_SCENECUT_H
#define TAV_SCENECUT_H

#include "core/status.h"

#include <stdint.h>

typedef struct tav_scenecut tav_scenecut;

typedef struct tav_scenecut_params {
    float threshold;          /* hard-cut score threshold, 0..255; default see .c     */
    int min_scene_len;        /* frames between cuts, >= 1                             */
    int dissolve_window;      /* frames back for the dissolve score, 0 = off, <= 16   */
    float dissolve_threshold; /* long-range score threshold for a dissolve            */
    float dissolve_blend;     /* max blend residual ratio (0..1]: how well the middle */
                              /* frame must fit a cross-fade of the window's ends     */
    int max_width;            /* frames wider than this are box-downscaled, >= 16      */
} tav_scenecut_params;

typedef enum tav_cut_kind {
    TAV_CUT_HARD = 0,
    TAV_CUT_DISSOLVE = 1,
} tav_cut_kind;

typedef struct tav_scenecut_cut {
    long frame;        /* first frame of the new scene (0-based)    */
    tav_cut_kind kind;
    float score;       /* the score that triggered it               */
} tav_scenecut_cut;

/* Defaults tuned on synthetic TAV clips at 8 fps (see docs/scenecut.md). */
tav_scenecut_params tav_scenecut_default_params(void);

/* width, height: of the frames to be pushed (1..16384). params NULL = defaults.
 * Errors: TAV_ERR_INVALID_ARG (a parameter out of range, named), TAV_ERR_NOMEM. */
tav_status tav_scenecut_init(const tav_scenecut_params *params, int width, int height,
                             tav_scenecut **out);

/* Feeds the next frame (width*height*3 bytes, packed RGB24). Confirmed cuts
 * queue up for tav_scenecut_pop_cut. Errors: TAV_ERR_INVALID_ARG (NULL),
 * TAV_ERR_LIMIT (more than 64 cuts queued: pop them after each push). */
tav_status tav_scenecut_push_frame(tav_scenecut *d, const uint8_t *rgb);

/* Ends the stream: a dissolve still being measured is decided now. */
tav_status tav_scenecut_finish(tav_scenecut *d);

/* Takes the oldest queued cut into *out; returns 1, or 0 if none is queued. */
int tav_scenecut_pop_cut(tav_scenecut *d, tav_scenecut_cut *out);

/* The last pushed frame's score against its predecessor (0 for frame 0). */
float tav_scenecut_last_score(const tav_scenecut *d);

/* Frames pushed so far. */
long tav_scenecut_frame_count(const tav_scenecut *d);

/* NULL is a no-op. */
void tav_scenecut_free(tav_scenecut *d);

/* One call over frames in memory (n_frames frames of width*height*3): writes
 * up to max_cuts cut frames, ascending, into cuts and their number into
 * *n_cuts (the true count even if larger than max_cuts). */
tav_status tav_scenecut_detect(const tav_scenecut_params *params, const uint8_t *rgb, int width,
                               int height, int n_frames, long *cuts, int max_cuts, int *n_cuts);

#endif
