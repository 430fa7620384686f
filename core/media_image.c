/* media_image.c — PNG contact sheets and frame dumps (libpng), JPEG
 * thumbnails (libjpeg-turbo); all written temp-then-rename. */
#include "core/media.h"
#include "core/media_internal.h"
#include "core/mem.h"

#include <errno.h>
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#define MAX_SIDE 16384
#define GAP_GREY 40 /* the gap colour between sheet tiles */

/* ---------------------------------------------------------------- PNG */

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

static tav_status check_kv(const char *path, const tav_media_kv *kv, int n_kv)
{
    if (n_kv < 0 || (n_kv > 0 && !kv))
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: bad text chunk list", path);
    for (int i = 0; i < n_kv; i++) {
        const char *k = kv[i].key;
        size_t n = k ? strlen(k) : 0;
        if (n < 1 || n > 79 || !kv[i].value)
            return tav_fail(TAV_ERR_INVALID_ARG, "%s: text key %d must be 1..79 characters", path,
                            i);
        for (size_t j = 0; j < n; j++) {
            unsigned char c = (unsigned char)k[j];
            if (c < 32 || c > 126)
                return tav_fail(TAV_ERR_INVALID_ARG,
                                "%s: text key '%s' must be printable ASCII", path, k);
        }
    }
    return TAV_OK;
}

struct png_job {
    const char *path;
    char msg[200];
};

static void png_error_fn(png_structp png, png_const_charp msg)
{
    struct png_job *job = png_get_error_ptr(png);
    int e = errno; /* libpng's stdio writer says only "Write Error" */
    if (e && strstr(msg, "Write Error"))
        snprintf(job->msg, sizeof job->msg, "%s: %s", msg, strerror(e));
    else
        snprintf(job->msg, sizeof job->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* Writes rows (h rows of w*3 bytes, stride) to t->f as an 8-bit RGB PNG. */
static tav_status png_encode(tav_media_tmp *t, const uint8_t *rgb, int w, int h, size_t stride,
                             const tav_media_kv *kv, int n_kv)
{
    struct png_job job = {.path = t->final_path, .msg = ""};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, png_error_fn,
                                              png_warn_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_textp text = n_kv ? tav_calloc((size_t)n_kv, sizeof *text) : NULL;
    if (!png || !info || (n_kv && !text)) {
        png_destroy_write_struct(&png, &info);
        tav_free(text);
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory (PNG)", t->final_path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        tav_free(text);
        return tav_fail(TAV_ERR_IO, "%s: PNG write failed: %s", t->final_path, job.msg);
    }
    png_init_io(png, t->f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int i = 0; i < n_kv; i++) {
        text[i].key = (png_charp)kv[i].key;
        text[i].text = (png_charp)kv[i].value;
        if (is_ascii(kv[i].value)) {
            text[i].compression = PNG_TEXT_COMPRESSION_NONE; /* tEXt */
            text[i].text_length = strlen(kv[i].value);
        } else {
            text[i].compression = PNG_ITXT_COMPRESSION_NONE; /* iTXt: UTF-8 */
            text[i].itxt_length = strlen(kv[i].value);
        }
    }
    if (n_kv)
        png_set_text(png, info, text, n_kv);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * stride));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    tav_free(text);
    return TAV_OK;
}

static tav_status write_png_file(const char *path, const uint8_t *rgb, int w, int h,
                                 const tav_media_kv *kv, int n_kv)
{
    tav_media_tmp t;
    tav_status st = tav_media_tmp_create(path, 1, &t);
    if (st != TAV_OK)
        return st;
    st = png_encode(&t, rgb, w, h, (size_t)w * 3, kv, n_kv);
    if (st != TAV_OK) {
        tav_media_tmp_discard(&t);
        return st;
    }
    return tav_media_tmp_commit(&t);
}

static tav_status check_frame(const char *path, const uint8_t *rgb, int w, int h)
{
    if (!path)
        return tav_fail(TAV_ERR_INVALID_ARG, "no output path");
    if (!rgb || w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE)
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: bad frame (%dx%d)", path, w, h);
    return TAV_OK;
}

tav_status tav_media_write_png(const char *path, const uint8_t *rgb, int width, int height,
                               const tav_media_kv *kv, int n_kv)
{
    tav_status st = check_frame(path, rgb, width, height);
    if (st == TAV_OK)
        st = check_kv(path, kv, n_kv);
    if (st != TAV_OK)
        return st;
    return write_png_file(path, rgb, width, height, kv, n_kv);
}

tav_status tav_media_write_frames_png(const char *dir, const char *prefix, const tav_video *v)
{
    if (!dir || !v)
        return tav_fail(TAV_ERR_INVALID_ARG, "frame dump: no directory or video");
    if (!prefix)
        prefix = "";
    size_t fb = (size_t)v->width * (size_t)v->height * 3;
    for (int i = 0; i < v->n_frames; i++) {
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/%s%05d.png", dir, prefix, i);
        if (n < 0 || (size_t)n >= sizeof path)
            return tav_fail(TAV_ERR_INVALID_ARG, "%s: path too long", dir);
        tav_status st = tav_media_write_png(path, v->rgb + (size_t)i * fb, v->width, v->height,
                                            NULL, 0);
        if (st != TAV_OK)
            return st;
    }
    return TAV_OK;
}

/* ---------------------------------------------------------------- contact sheet */

/* Copies frame `src` into the sheet at tile (row, col). */
static void blit(uint8_t *sheet, int sheet_w, const uint8_t *src, int w, int h, int row, int col)
{
    size_t x0 = (size_t)col * (size_t)(w + TAV_SHEET_GAP) + TAV_SHEET_GAP;
    size_t y0 = (size_t)row * (size_t)(h + TAV_SHEET_GAP) + TAV_SHEET_GAP;
    for (int y = 0; y < h; y++)
        memcpy(sheet + ((y0 + (size_t)y) * (size_t)sheet_w + x0) * 3, src + (size_t)y * w * 3,
               (size_t)w * 3);
}

tav_status tav_media_write_sheet_png(const char *path, const uint8_t *rgb, int width, int height,
                                     int n_frames, const int *scene_start, int n_scenes,
                                     int per_row, const tav_media_kv *kv, int n_kv)
{
    tav_status st = check_frame(path, rgb, width, height);
    if (st == TAV_OK)
        st = check_kv(path, kv, n_kv);
    if (st != TAV_OK)
        return st;
    if (n_frames < 1 || per_row < 1 || per_row > 32 || n_scenes < 0 || (n_scenes && !scene_start))
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: bad sheet layout (%d frames, %d scenes, %d per row)",
                        path, n_frames, n_scenes, per_row);
    for (int s = 0; s < n_scenes; s++) {
        int end = s + 1 < n_scenes ? scene_start[s + 1] : n_frames;
        if (scene_start[s] < 0 || scene_start[s] >= end || end > n_frames)
            return tav_fail(TAV_ERR_INVALID_ARG,
                            "%s: scene %d starts at frame %d; starts must ascend within 0..%d",
                            path, s, scene_start[s], n_frames - 1);
    }
    int rows = n_scenes ? n_scenes : 1;
    long sw = (long)per_row * (width + TAV_SHEET_GAP) + TAV_SHEET_GAP;
    long sh = (long)rows * (height + TAV_SHEET_GAP) + TAV_SHEET_GAP;
    if (sw > MAX_SIDE || sh > MAX_SIDE)
        return tav_fail(TAV_ERR_LIMIT, "%s: sheet would be %ldx%ld, over %d a side", path, sw, sh,
                        MAX_SIDE);
    uint8_t *sheet = tav_malloc_array((size_t)sw * (size_t)sh, 3);
    if (!sheet)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory (sheet %ldx%ld)", path, sw, sh);
    memset(sheet, GAP_GREY, (size_t)sw * (size_t)sh * 3);
    size_t fb = (size_t)width * (size_t)height * 3;
    for (int r = 0; r < rows; r++) {
        int a = n_scenes ? scene_start[r] : 0;
        int b = (n_scenes && r + 1 < n_scenes) ? scene_start[r + 1] : n_frames; /* [a, b) */
        for (int c = 0; c < per_row; c++) {
            /* evenly spaced from the scene's first to its last frame */
            long f = per_row == 1 ? a + (b - 1 - a) / 2
                                  : a + (long)(b - 1 - a) * c / (per_row - 1);
            blit(sheet, (int)sw, rgb + (size_t)f * fb, width, height, r, c);
        }
    }
    st = write_png_file(path, sheet, (int)sw, (int)sh, kv, n_kv);
    tav_free(sheet);
    return st;
}

/* ---------------------------------------------------------------- JPEG */

struct jpeg_job {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
};

static void jpeg_error_fn(j_common_ptr cinfo)
{
    struct jpeg_job *job = (struct jpeg_job *)cinfo->err;
    cinfo->err->format_message(cinfo, job->msg);
    longjmp(job->jb, 1);
}

/* Area-averaging downscale (or nearest-neighbour-ish upscale) of RGB24:
 * each output pixel averages the source pixels its footprint covers. */
static void scale_area(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
    for (int y = 0; y < dh; y++) {
        int y0 = (int)((long)y * sh / dh), y1 = (int)((long)(y + 1) * sh / dh);
        if (y1 <= y0)
            y1 = y0 + 1;
        for (int x = 0; x < dw; x++) {
            int x0 = (int)((long)x * sw / dw), x1 = (int)((long)(x + 1) * sw / dw);
            if (x1 <= x0)
                x1 = x0 + 1;
            unsigned long acc[3] = {0, 0, 0}, n = 0;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++, n++)
                    for (int k = 0; k < 3; k++)
                        acc[k] += src[((size_t)yy * sw + xx) * 3 + k];
            for (int k = 0; k < 3; k++)
                dst[((size_t)y * dw + x) * 3 + k] = (uint8_t)((acc[k] + n / 2) / n);
        }
    }
}

static tav_status jpeg_encode(tav_media_tmp *t, const uint8_t *img, int w, int h, int quality)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_job job;
    memset(&job, 0, sizeof job);
    cinfo.err = jpeg_std_error(&job.mgr);
    job.mgr.error_exit = jpeg_error_fn;
    if (setjmp(job.jb)) {
        jpeg_destroy_compress(&cinfo);
        return tav_fail(TAV_ERR_IO, "%s: JPEG write failed: %s", t->final_path, job.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, t->f);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(img + (size_t)cinfo.next_scanline * (size_t)w * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return TAV_OK;
}

tav_status tav_media_write_thumb_jpeg(const char *path, const uint8_t *rgb, int width, int height,
                                      int out_width, int quality)
{
    tav_status st = check_frame(path, rgb, width, height);
    if (st != TAV_OK)
        return st;
    if (out_width < 1 || out_width > 4096)
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: thumbnail width %d out of range 1..4096", path,
                        out_width);
    if (quality == 0)
        quality = 85;
    if (quality < 1 || quality > 100)
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: JPEG quality %d out of range 1..100", path,
                        quality);
    long oh = ((long)height * out_width + width / 2) / width;
    if (oh < 1)
        oh = 1;
    if (oh > 4096)
        return tav_fail(TAV_ERR_LIMIT, "%s: thumbnail would be %ld pixels high", path, oh);
    uint8_t *img = tav_malloc_array((size_t)out_width * (size_t)oh, 3);
    if (!img)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory (thumbnail)", path);
    scale_area(rgb, width, height, img, out_width, (int)oh);
    tav_media_tmp t;
    st = tav_media_tmp_create(path, 1, &t);
    if (st == TAV_OK) {
        st = jpeg_encode(&t, img, out_width, (int)oh, quality);
        if (st == TAV_OK)
            st = tav_media_tmp_commit(&t);
        else
            tav_media_tmp_discard(&t);
    }
    tav_free(img);
    return st;
}
