/* media.h — video files and images in and out: MP4 (H.264) writer, a video
 * reader for anything FFmpeg decodes, PNG contact sheets and frame dumps,
 * JPEG thumbnails.
 *
 *   // frame by frame
 *   tav_media_mp4 *w;
 *   tav_media_mp4_params mp = tav_media_mp4_default_params();
 *   if (tav_media_mp4_open("out.mp4", 128, 128, 8, &mp, &w) != TAV_OK) { ...tav_last_error()... }
 *   for (int i = 0; i < n; i++)
 *       if (tav_media_mp4_add_frame(w, rgb + i * 128 * 128 * 3) != TAV_OK) { tav_media_mp4_abort(w); ... }
 *   tav_status st = tav_media_mp4_close(w);      // out.mp4 appears only now
 *
 *   // or in one call, for a whole tav_video
 *   st = tav_media_write_mp4("out.mp4", &video, NULL);
 *
 *   // reading
 *   tav_media_reader *r;
 *   st = tav_media_reader_open("in.mp4", &r);
 *   const tav_media_info *info = tav_media_reader_info(r);   // width, height, fps, frame estimate
 *   const uint8_t *rgb;
 *   while ((st = tav_media_reader_next(r, &rgb)) == TAV_OK && rgb) { ...width*height*3 bytes... }
 *   tav_media_reader_close(r);
 *
 * Files: every output file is written to a temporary file in the target's own
 * directory ("<path>.tmp.XXXXXX") and renamed onto <path> only when complete,
 * so a reader never sees half a file and a failure (disk full, killed process
 * aside) leaves no partial file behind. Errors are recorded with tav_fail()
 * and name the path and the problem.
 *
 * Frames are packed RGB24: row-major, 3 bytes per pixel, no row padding
 * (stride = width * 3), frame after frame.
 *
 * Threading: objects are not shared between threads; separate objects may be
 * used from separate threads.
 */
#ifndef TAV_MEDIA_H
#define TAV_MEDIA_H

#include "core/pipeline.h"
#include "core/status.h"

#include <stdint.h>

/* ---------------------------------------------------------------- MP4 writer */

typedef struct tav_media_mp4 tav_media_mp4;

typedef struct tav_media_mp4_params {
    int crf;            /* x264 constant rate factor, 0 (lossless) .. 51; default 18 */
    const char *preset; /* x264 preset name; default "medium"                         */
} tav_media_mp4_params;

tav_media_mp4_params tav_media_mp4_default_params(void);

/* Starts an MP4 at `path`: H.264 (libx264) in yuv420p, `fps` frames per
 * second, the moov atom moved to the front (+faststart) so browsers can play
 * it while downloading. The encoder runs single-threaded with bit-exact
 * flags, so the same frames and params give the same bytes.
 *
 * width and height must be even (yuv420p halves both for chroma) and in
 * 2..16384; odd sizes are TAV_ERR_INVALID_ARG, not padded — callers that
 * want padding or cropping do it themselves so the frame size is explicit.
 * fps in 1..240. params may be NULL for the defaults.
 * Errors: TAV_ERR_INVALID_ARG, TAV_ERR_IO (the directory is missing or not
 * writable), TAV_ERR_UNSUPPORTED (no H.264 encoder in this FFmpeg),
 * TAV_ERR_NOMEM. On error *out is NULL and nothing is left on disk. */
tav_status tav_media_mp4_open(const char *path, int width, int height, int fps,
                              const tav_media_mp4_params *params, tav_media_mp4 **out);

/* Encodes one frame of width*height*3 bytes (packed RGB24). Errors:
 * TAV_ERR_IO (write failed, e.g. disk full), TAV_ERR_NOMEM. After an error
 * the writer still needs tav_media_mp4_abort(). */
tav_status tav_media_mp4_add_frame(tav_media_mp4 *w, const uint8_t *rgb);

/* Flushes the encoder, writes the trailer (and the faststart rewrite), syncs
 * and renames the temp file onto the target path. Always frees w; on error
 * the temp file is removed and the target path is untouched.
 * A writer with zero frames is TAV_ERR_INVALID_ARG (an empty MP4 plays nowhere). */
tav_status tav_media_mp4_close(tav_media_mp4 *w);

/* Discards the temp file and frees w. NULL is a no-op. */
void tav_media_mp4_abort(tav_media_mp4 *w);

/* One call: all of v's frames at v->fps. params may be NULL. Same errors as
 * above; on error nothing is left on disk. */
tav_status tav_media_write_mp4(const char *path, const tav_video *v,
                               const tav_media_mp4_params *params);

/* ---------------------------------------------------------------- reader */

typedef struct tav_media_reader tav_media_reader;

typedef struct tav_media_info {
    int width, height;   /* of the RGB frames returned: the stream's size, or what */
                         /* tav_media_reader_set_output_size asked for             */
    int src_width, src_height; /* the video stream's own size                      */
    double fps;          /* frame rate as the container states it (guessed if not) */
    long n_frames_est;   /* frame count from the container, or -1 if it says none; */
                         /* the true count is what tav_media_reader_next yields    */
    double duration_s;   /* from the container, or -1                              */
    const char *codec;   /* decoder name, e.g. "h264"; owned by FFmpeg             */
} tav_media_info;

/* Opens any video file FFmpeg's libraries read and picks its best video
 * stream. Memory is bounded: one decoded frame and one RGB frame at a time.
 * Errors: TAV_ERR_NOT_FOUND (no such file), TAV_ERR_IO (unreadable),
 * TAV_ERR_FORMAT (not a media file, or no video stream), TAV_ERR_UNSUPPORTED
 * (no decoder), TAV_ERR_NOMEM. */
tav_status tav_media_reader_open(const char *path, tav_media_reader **out);

/* Valid until tav_media_reader_close. */
const tav_media_info *tav_media_reader_info(const tav_media_reader *r);

/* Asks for frames scaled (area averaging) to width x height (1..16384)
 * instead of the stream's size: much cheaper than full-size RGB when the
 * consumer only needs thumbnails (the scene detector works at 128 px wide).
 * Call before the first tav_media_reader_next. Errors: TAV_ERR_INVALID_ARG
 * (bad size, or frames already read), TAV_ERR_NOMEM. */
tav_status tav_media_reader_set_output_size(tav_media_reader *r, int width, int height);

/* Decodes the next frame. On TAV_OK *rgb points at width*height*3 bytes
 * owned by the reader, valid until the next call; *rgb == NULL means the end
 * of the stream. Errors: TAV_ERR_FORMAT (corrupt stream), TAV_ERR_IO, TAV_ERR_NOMEM. */
tav_status tav_media_reader_next(tav_media_reader *r, const uint8_t **rgb);

/* Frames returned so far. */
long tav_media_reader_count(const tav_media_reader *r);

/* NULL is a no-op. */
void tav_media_reader_close(tav_media_reader *r);

/* Reads a whole video into v; v->rgb is owned by the caller (tav_video_free,
 * which is tav_free(v->rgb)). max_frames bounds memory (TAV_ERR_LIMIT beyond
 * it). v->fps is the rounded frame rate; v->n_scenes is 0. On error *v is
 * zeroed. For tests and short clips; long videos: use the reader. */
tav_status tav_media_read_video(const char *path, long max_frames, tav_video *v);

/* ---------------------------------------------------------------- images */

/* A key/value pair for PNG text chunks. Keys: 1..79 printable Latin-1
 * characters (PNG rule). Values: any UTF-8; ASCII values go in a tEXt chunk,
 * others in an iTXt chunk (tEXt is Latin-1 only). */
typedef struct tav_media_kv {
    const char *key;
    const char *value;
} tav_media_kv;

/* Writes a PNG contact sheet: one row per scene, `per_row` frames evenly
 * spaced through each scene (first .. last frame of the scene), each tile at
 * the frame size, separated by `TAV_SHEET_GAP` pixels of dark grey.
 * Scenes come from scene_start[0..n_scenes-1] (ascending, scene_start[0]
 * usually 0; a scene ends where the next starts, the last at n_frames);
 * n_scenes == 0 means one scene covering the whole video. kv (n_kv pairs,
 * may be 0) are stored as text chunks, e.g. {"prompt 1", "..."}, {"seed", "42"}.
 * rgb holds n_frames frames of width x height. per_row in 1..32.
 * Errors: TAV_ERR_INVALID_ARG, TAV_ERR_LIMIT (sheet over 16384 px a side),
 * TAV_ERR_IO, TAV_ERR_NOMEM. */
#define TAV_SHEET_GAP 2
tav_status tav_media_write_sheet_png(const char *path, const uint8_t *rgb, int width, int height,
                                     int n_frames, const int *scene_start, int n_scenes,
                                     int per_row, const tav_media_kv *kv, int n_kv);

/* Writes one frame as a PNG (temp-then-rename). kv may be NULL with n_kv 0. */
tav_status tav_media_write_png(const char *path, const uint8_t *rgb, int width, int height,
                               const tav_media_kv *kv, int n_kv);

/* Frame dump: writes each of v's frames as <dir>/<prefix>NNNNN.png (frame
 * number, 5 digits, from 0). dir must exist. Stops at the first error. */
tav_status tav_media_write_frames_png(const char *dir, const char *prefix, const tav_video *v);

/* JPEG thumbnail of one frame, scaled (area averaging) to out_width pixels
 * wide, the height following the aspect ratio (rounded, at least 1).
 * out_width in 1..4096; quality 1..100 (0 = 85).
 * Errors: TAV_ERR_INVALID_ARG, TAV_ERR_IO, TAV_ERR_NOMEM. */
tav_status tav_media_write_thumb_jpeg(const char *path, const uint8_t *rgb, int width, int height,
                                      int out_width, int quality);

#endif
