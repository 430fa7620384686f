/* media_mp4.c — RGB24 frames → H.264 (libx264, yuv420p, BT.709 limited
 * range) in an MP4 with +faststart, written temp-then-rename.
 *
 * Determinism: the encoder runs with one thread and AV_CODEC_FLAG_BITEXACT,
 * the muxer with AVFMT_FLAG_BITEXACT (no library version string, no
 * creation time), so the same frames and params give the same bytes with the
 * same FFmpeg/x264 build (checked by tests/test_media.c). */
#include "core/media.h"
#include "core/media_internal.h"
#include "core/mem.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include <stdio.h>
#include <string.h>

struct tav_media_mp4 {
    tav_media_tmp tmp;
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int width, height;
    int64_t n_frames;
    int header_written;
    char *url; /* "file:" + temp path: never read as another protocol ("pipe:1") */
};

tav_media_mp4_params tav_media_mp4_default_params(void)
{
    tav_media_mp4_params p = {.crf = 18, .preset = "medium"};
    return p;
}

static const char *av_err(int err, char *buf, size_t n)
{
    av_strerror(err, buf, n);
    return buf;
}

/* ---------------------------------------------------------------- teardown */

static void free_writer(tav_media_mp4 *w)
{
    if (!w)
        return;
    if (w->oc) {
        if (w->oc->pb)
            avio_closep(&w->oc->pb);
        avformat_free_context(w->oc);
    }
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    tav_free(w->url);
    tav_media_tmp_discard(&w->tmp);
    tav_free(w);
}

void tav_media_mp4_abort(tav_media_mp4 *w) { free_writer(w); }

/* ---------------------------------------------------------------- open */

static tav_status open_encoder(tav_media_mp4 *w, const char *path, int fps, const tav_media_mp4_params *p)
{
    char eb[128];
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec)
        codec = avcodec_find_encoder(AV_CODEC_ID_H264);
    if (!codec)
        return tav_fail(TAV_ERR_UNSUPPORTED, "%s: this FFmpeg build has no H.264 encoder", path);
    w->enc = avcodec_alloc_context3(codec);
    if (!w->enc)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory (encoder)", path);
    AVCodecContext *c = w->enc;
    c->width = w->width;
    c->height = w->height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = (AVRational){1, fps};
    c->framerate = (AVRational){fps, 1};
    c->gop_size = 2 * fps; /* a keyframe every 2 s: seekable in the browser */
    c->thread_count = 1;   /* determinism: multi-threaded x264 is not bit-exact */
    c->flags |= AV_CODEC_FLAG_BITEXACT;
    c->color_range = AVCOL_RANGE_MPEG;
    c->colorspace = AVCOL_SPC_BT709;
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_BT709;
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER)
        c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (!strcmp(codec->name, "libx264")) {
        char crf[16];
        snprintf(crf, sizeof crf, "%d", p->crf);
        av_opt_set(c->priv_data, "preset", p->preset ? p->preset : "medium", 0);
        av_opt_set(c->priv_data, "crf", crf, 0);
    }
    int err = avcodec_open2(c, codec, NULL);
    if (err < 0)
        return tav_fail(TAV_ERR_UNSUPPORTED, "%s: cannot open the %s encoder: %s", path, codec->name,
                        av_err(err, eb, sizeof eb));
    return TAV_OK;
}

static tav_status open_stream(tav_media_mp4 *w, const char *path)
{
    char eb[128];
    w->st = avformat_new_stream(w->oc, NULL);
    if (!w->st)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory (stream)", path);
    w->st->time_base = w->enc->time_base;
    int err = avcodec_parameters_from_context(w->st->codecpar, w->enc);
    if (err < 0)
        return tav_fail(TAV_ERR_NOMEM, "%s: %s", path, av_err(err, eb, sizeof eb));

    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->frame || !w->pkt)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory (frame)", path);
    w->frame->format = AV_PIX_FMT_YUV420P;
    w->frame->width = w->width;
    w->frame->height = w->height;
    w->frame->color_range = AVCOL_RANGE_MPEG;
    w->frame->colorspace = AVCOL_SPC_BT709;
    if (av_frame_get_buffer(w->frame, 0) < 0)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory (frame buffer)", path);

    w->sws = sws_getContext(w->width, w->height, AV_PIX_FMT_RGB24, w->width, w->height,
                            AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL, NULL);
    if (!w->sws)
        return tav_fail(TAV_ERR_NOMEM, "%s: cannot set up RGB to YUV conversion", path);
    /* BT.709 matrix, full-range RGB in, limited-range YUV out (what we tag). */
    const int *k709 = sws_getCoefficients(SWS_CS_ITU709);
    sws_setColorspaceDetails(w->sws, k709, 1, k709, 0, 0, 1 << 16, 1 << 16);

    err = avio_open(&w->oc->pb, w->url, AVIO_FLAG_WRITE);
    if (err < 0)
        return tav_fail(TAV_ERR_IO, "%s: cannot open for writing: %s", path,
                        av_err(err, eb, sizeof eb));
    AVDictionary *mux = NULL;
    av_dict_set(&mux, "movflags", "+faststart", 0);
    err = avformat_write_header(w->oc, &mux);
    av_dict_free(&mux);
    if (err < 0)
        return tav_fail(TAV_ERR_IO, "%s: cannot write the MP4 header: %s", path,
                        av_err(err, eb, sizeof eb));
    w->header_written = 1;
    return TAV_OK;
}

tav_status tav_media_mp4_open(const char *path, int width, int height, int fps,
                              const tav_media_mp4_params *params, tav_media_mp4 **out)
{
    *out = NULL;
    if (!path)
        return tav_fail(TAV_ERR_INVALID_ARG, "MP4: no output path");
    if (width < 2 || height < 2 || width > 16384 || height > 16384)
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: frame size %dx%d out of range 2..16384", path,
                        width, height);
    if ((width | height) & 1)
        return tav_fail(TAV_ERR_INVALID_ARG,
                        "%s: frame size %dx%d is odd; H.264 yuv420p needs even width and height "
                        "(crop or pad the frames)",
                        path, width, height);
    if (fps < 1 || fps > 240)
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: fps %d out of range 1..240", path, fps);
    tav_media_quiet_ffmpeg();
    tav_media_mp4_params p = params ? *params : tav_media_mp4_default_params();
    if (p.crf < 0 || p.crf > 51)
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: crf %d out of range 0..51", path, p.crf);

    tav_media_mp4 *w = tav_calloc(1, sizeof *w);
    if (!w)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory", path);
    w->width = width;
    w->height = height;
    tav_status st = tav_media_tmp_create(path, 0, &w->tmp);
    if (st != TAV_OK) {
        tav_free(w);
        return st;
    }
    size_t ulen = strlen(w->tmp.tmp_path) + sizeof "file:";
    w->url = tav_malloc(ulen);
    if (!w->url) {
        free_writer(w);
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(w->url, ulen, "file:%s", w->tmp.tmp_path);
    /* the faststart pass reopens the file by this URL */
    if (avformat_alloc_output_context2(&w->oc, NULL, "mp4", w->url) < 0 || !w->oc) {
        free_writer(w);
        return tav_fail(TAV_ERR_NOMEM, "%s: cannot set up the MP4 muxer", path);
    }
    w->oc->flags |= AVFMT_FLAG_BITEXACT;
    st = open_encoder(w, path, fps, &p);
    if (st == TAV_OK)
        st = open_stream(w, path);
    if (st != TAV_OK) {
        free_writer(w);
        return st;
    }
    *out = w;
    return TAV_OK;
}

/* ---------------------------------------------------------------- encode */

/* Sends frame (NULL = flush) and writes every packet the encoder returns. */
static tav_status encode(tav_media_mp4 *w, AVFrame *frame)
{
    char eb[128];
    int err = avcodec_send_frame(w->enc, frame);
    if (err < 0)
        return tav_fail(TAV_ERR_INTERNAL, "%s: encoder refused a frame: %s", w->tmp.final_path,
                        av_err(err, eb, sizeof eb));
    for (;;) {
        err = avcodec_receive_packet(w->enc, w->pkt);
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
            return TAV_OK;
        if (err < 0)
            return tav_fail(TAV_ERR_INTERNAL, "%s: encoder failed: %s", w->tmp.final_path,
                            av_err(err, eb, sizeof eb));
        /* Without a duration the muxer's edit list ends before the last
         * frame and players drop it: every frame lasts 1/fps. */
        if (w->pkt->duration <= 0)
            w->pkt->duration = 1;
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        err = av_interleaved_write_frame(w->oc, w->pkt); /* takes the packet's data */
        if (err < 0)
            return tav_fail(TAV_ERR_IO, "%s: write failed: %s", w->tmp.final_path,
                            av_err(err, eb, sizeof eb));
    }
}

tav_status tav_media_mp4_add_frame(tav_media_mp4 *w, const uint8_t *rgb)
{
    if (!w || !rgb)
        return tav_fail(TAV_ERR_INVALID_ARG, "MP4: NULL writer or frame");
    if (av_frame_make_writable(w->frame) < 0)
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory (frame)", w->tmp.final_path);
    const uint8_t *src[1] = {rgb};
    const int src_stride[1] = {w->width * 3};
    sws_scale(w->sws, src, src_stride, 0, w->height, w->frame->data, w->frame->linesize);
    w->frame->pts = w->n_frames++;
    return encode(w, w->frame);
}

tav_status tav_media_mp4_close(tav_media_mp4 *w)
{
    if (!w)
        return tav_fail(TAV_ERR_INVALID_ARG, "MP4: NULL writer");
    char eb[128];
    if (w->n_frames == 0) {
        tav_status st = tav_fail(TAV_ERR_INVALID_ARG, "%s: no frames were added; nothing written",
                                 w->tmp.final_path);
        free_writer(w);
        return st;
    }
    tav_status st = encode(w, NULL);
    if (st == TAV_OK) {
        int err = av_write_trailer(w->oc); /* also the faststart rewrite */
        if (err < 0)
            st = tav_fail(TAV_ERR_IO, "%s: cannot finish the MP4: %s", w->tmp.final_path,
                          av_err(err, eb, sizeof eb));
    }
    if (st == TAV_OK) {
        int err = avio_closep(&w->oc->pb);
        if (err < 0)
            st = tav_fail(TAV_ERR_IO, "%s: write failed: %s", w->tmp.final_path,
                          av_err(err, eb, sizeof eb));
    }
    if (st == TAV_OK)
        st = tav_media_tmp_commit(&w->tmp); /* on error it removes the temp file */
    free_writer(w);
    return st;
}

tav_status tav_media_write_mp4(const char *path, const tav_video *v, const tav_media_mp4_params *params)
{
    if (!v || !v->rgb || v->n_frames < 1)
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: empty video", path ? path : "(null)");
    tav_media_mp4 *w;
    tav_status st = tav_media_mp4_open(path, v->width, v->height, v->fps, params, &w);
    if (st != TAV_OK)
        return st;
    size_t frame_bytes = (size_t)v->width * (size_t)v->height * 3;
    for (int i = 0; i < v->n_frames; i++) {
        st = tav_media_mp4_add_frame(w, v->rgb + (size_t)i * frame_bytes);
        if (st != TAV_OK) {
            tav_media_mp4_abort(w);
            return st;
        }
    }
    return tav_media_mp4_close(w);
}
