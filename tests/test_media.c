/* test_media.c — MP4 write/read round trip, ffprobe checks, determinism,
 * clean errors (odd size, unwritable paths, disk full), PNG sheets with text
 * chunks, frame dumps, JPEG thumbnails, reader errors. */
#include "check.h"
#include "core/media.h"
#include "core/mem.h"

#include <dirent.h>
#include <jpeglib.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define W 64
#define H 48
#define N 12
#define FPS 8
#define FB (W * H * 3)

/* Mean absolute difference per channel value after an H.264 round trip at
 * crf 18 with 4:2:0 chroma: measured 2.33 on these frames (smooth gradients
 * plus a hard-edged moving block at 64x48, ~10 kbit/s); 3.5 leaves room for
 * other x264 builds. A frame off by one gives ~10, a range mismatch ~3.3. */
#define MP4_MEAN_ABS_TOL 3.5
/* The moving saturated-red block's mean colour error per channel: measured
 * 2.35 at crf 18 and 2.33 at crf 0, i.e. the 8-bit limited-range 4:2:0
 * conversion itself (ffmpeg's own decoder gives (229,39,28) for (230,40,30)
 * too). A full/limited range mismatch would move red 230 by ~19. */
#define MP4_BLOCK_BIAS_TOL 3.0

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/tav-test-media-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static int count_entries(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(dp);
    return n;
}

static void remove_dir(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", d, e->d_name);
            unlink(p);
        }
    closedir(dp);
    rmdir(d);
}

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

/* Smooth gradients that move, plus a flat block that moves: frame i. */
static void synth(uint8_t *rgb, int w, int h, int n)
{
    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = rgb + (((size_t)i * h + y) * w + x) * 3;
                int bx = 4 + 3 * i;
                if (x >= bx && x < bx + 16 && y >= 12 && y < 28) {
                    p[0] = 230, p[1] = 40, p[2] = 30;
                } else {
                    p[0] = (uint8_t)(x * 255 / (w - 1));
                    p[1] = (uint8_t)(y * 255 / (h - 1));
                    p[2] = (uint8_t)((i * 20 + 60) & 255);
                }
            }
}

static tav_video synth_video(void)
{
    tav_video v = {.width = W, .height = H, .n_frames = N, .fps = FPS};
    v.rgb = malloc((size_t)N * FB);
    synth(v.rgb, W, H, N);
    v.n_scenes = 2;
    v.scene_start[0] = 0;
    v.scene_start[1] = 7;
    return v;
}

static long file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

/* ---------------------------------------------------------------- MP4 */

static void test_mp4_roundtrip(void)
{
    tav_video v = synth_video();
    char p[512];
    path_in(p, sizeof p, "rt.mp4");
    tav_media_mp4_params mp = tav_media_mp4_default_params();
    if (getenv("TAV_TEST_CRF"))
        mp.crf = atoi(getenv("TAV_TEST_CRF"));
    tav_status st = tav_media_write_mp4(p, &v, &mp);
    CHECK_EQ_INT(st, TAV_OK);
    if (st != TAV_OK)
        fprintf(stderr, "%s\n", tav_last_error());
    CHECK_EQ_INT(count_entries(dir), 1); /* no temp file left over */

    tav_video r;
    st = tav_media_read_video(p, 1000, &r);
    CHECK_EQ_INT(st, TAV_OK);
    if (st == TAV_OK) {
        CHECK_EQ_INT(r.n_frames, N);
        CHECK_EQ_INT(r.width, W);
        CHECK_EQ_INT(r.height, H);
        CHECK_EQ_INT(r.fps, FPS);
        double sum = 0, block[3] = {0, 0, 0};
        long n_block = 0;
        for (size_t i = 0; i < (size_t)N * FB; i++)
            sum += abs((int)r.rgb[i] - (int)v.rgb[i]);
        for (int i = 0; i < N; i++) /* block interior, 2 px from its edges */
            for (int y = 14; y < 26; y++)
                for (int x = 6 + 3 * i; x < 18 + 3 * i; x++, n_block++)
                    for (int k = 0; k < 3; k++) {
                        size_t o = (((size_t)i * H + y) * W + x) * 3 + k;
                        block[k] += (int)r.rgb[o] - (int)v.rgb[o];
                    }
        double mean = sum / ((double)N * FB), worst = 0;
        for (int k = 0; k < 3; k++)
            if (fabs(block[k] / n_block) > worst)
                worst = fabs(block[k] / n_block);
        printf("mp4 round trip %dx%d x %d frames: mean abs diff %.2f (tol %.1f), block colour bias %.2f (tol %.1f), %ld bytes\n",
               W, H, N, mean, MP4_MEAN_ABS_TOL, worst, MP4_BLOCK_BIAS_TOL, file_size(p));
        CHECK(mean <= MP4_MEAN_ABS_TOL);
        CHECK(worst <= MP4_BLOCK_BIAS_TOL);
        free(r.rgb);
    }
    free(v.rgb);
}

/* Top-level MP4 boxes in order: "ftyp moov mdat" for a faststart file. */
static int moov_before_mdat(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return -1;
    long moov = -1, mdat = -1, off = 0;
    unsigned char hdr[16];
    while (fread(hdr, 1, 8, f) == 8) {
        uint64_t size = (uint64_t)hdr[0] << 24 | (uint64_t)hdr[1] << 16 | (uint64_t)hdr[2] << 8 | hdr[3];
        if (size == 1) {
            if (fread(hdr + 8, 1, 8, f) != 8)
                break;
            size = 0;
            for (int i = 8; i < 16; i++)
                size = size << 8 | hdr[i];
        }
        if (!memcmp(hdr + 4, "moov", 4) && moov < 0)
            moov = off;
        if (!memcmp(hdr + 4, "mdat", 4) && mdat < 0)
            mdat = off;
        if (size < 8)
            break;
        off += (long)size;
        if (fseek(f, off, SEEK_SET))
            break;
    }
    fclose(f);
    return moov >= 0 && mdat >= 0 && moov < mdat;
}

static void test_mp4_ffprobe_h264_yuv420p_faststart(void)
{
    tav_video v = synth_video();
    char p[512], cmd[1024], out[256] = "";
    path_in(p, sizeof p, "probe.mp4");
    CHECK_EQ_INT(tav_media_write_mp4(p, &v, NULL), TAV_OK);
    free(v.rgb);
    CHECK_EQ_INT(moov_before_mdat(p), 1);
    if (system("command -v ffprobe >/dev/null 2>&1") != 0) {
        SKIP("ffprobe not installed (scripts/install-deps.sh test installs ffmpeg)");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -select_streams v:0 -show_entries "
             "stream=codec_name,pix_fmt,width,height,nb_frames,r_frame_rate -of csv=p=0 '%s'",
             p);
    FILE *pp = popen(cmd, "r");
    CHECK(pp != NULL);
    if (!pp)
        return;
    if (!fgets(out, sizeof out, pp))
        out[0] = '\0';
    pclose(pp);
    printf("ffprobe: %s", out);
    CHECK_STR_CONTAINS(out, "h264,");
    CHECK_STR_CONTAINS(out, ",yuv420p,");
    CHECK_STR_CONTAINS(out, "h264,64,48,yuv420p,8/1,12");
}

static void test_mp4_deterministic(void)
{
    tav_video v = synth_video();
    char a[512], b[512];
    path_in(a, sizeof a, "det_a.mp4");
    path_in(b, sizeof b, "det_b.mp4");
    CHECK_EQ_INT(tav_media_write_mp4(a, &v, NULL), TAV_OK);
    CHECK_EQ_INT(tav_media_write_mp4(b, &v, NULL), TAV_OK);
    free(v.rgb);
    long na = file_size(a), nb = file_size(b);
    CHECK(na > 0 && na == nb);
    if (na > 0 && na == nb) {
        char *x = malloc((size_t)na), *y = malloc((size_t)na);
        FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
        CHECK(fa && fb && fread(x, 1, (size_t)na, fa) == (size_t)na &&
              fread(y, 1, (size_t)na, fb) == (size_t)na);
        CHECK(memcmp(x, y, (size_t)na) == 0);
        if (fa)
            fclose(fa);
        if (fb)
            fclose(fb);
        free(x);
        free(y);
    }
}

static void test_mp4_frame_by_frame_and_abort(void)
{
    tav_video v = synth_video();
    char p[512];
    path_in(p, sizeof p, "fbf.mp4");
    int before = count_entries(dir);
    tav_media_mp4 *w;
    tav_media_mp4_params mp = tav_media_mp4_default_params();
    mp.preset = "veryfast";
    CHECK_EQ_INT(tav_media_mp4_open(p, W, H, FPS, &mp, &w), TAV_OK);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(tav_media_mp4_add_frame(w, v.rgb + (size_t)i * FB), TAV_OK);
    CHECK_EQ_INT(count_entries(dir), before + 1); /* the temp file only */
    CHECK(file_size(p) < 0);                       /* target not there yet */
    tav_media_mp4_abort(w);
    CHECK_EQ_INT(count_entries(dir), before);

    /* zero frames: an error, and nothing on disk */
    CHECK_EQ_INT(tav_media_mp4_open(p, W, H, FPS, NULL, &w), TAV_OK);
    CHECK_EQ_INT(tav_media_mp4_close(w), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(count_entries(dir), before);

    CHECK_EQ_INT(tav_media_mp4_open(p, W, H, FPS, &mp, &w), TAV_OK);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(tav_media_mp4_add_frame(w, v.rgb + (size_t)i * FB), TAV_OK);
    CHECK_EQ_INT(tav_media_mp4_close(w), TAV_OK);
    CHECK(file_size(p) > 0);
    CHECK_EQ_INT(count_entries(dir), before + 1);
    free(v.rgb);
}

static void test_mp4_odd_size_is_clean_error(void)
{
    char p[512];
    path_in(p, sizeof p, "odd.mp4");
    tav_media_mp4 *w = (tav_media_mp4 *)1;
    int before = count_entries(dir);
    CHECK_EQ_INT(tav_media_mp4_open(p, 63, 48, FPS, NULL, &w), TAV_ERR_INVALID_ARG);
    CHECK(w == NULL);
    CHECK_STR_CONTAINS(tav_last_error(), "odd");
    CHECK_STR_CONTAINS(tav_last_error(), p);
    CHECK_EQ_INT(tav_media_mp4_open(p, 64, 47, FPS, NULL, &w), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_media_mp4_open(p, 64, 48, 0, NULL, &w), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(count_entries(dir), before);
}

static void test_mp4_unwritable_paths(void)
{
    tav_video v = synth_video();
    char p[512];
    snprintf(p, sizeof p, "%s/no-such-dir/out.mp4", dir);
    CHECK_EQ_INT(tav_media_write_mp4(p, &v, NULL), TAV_ERR_IO);
    CHECK_STR_CONTAINS(tav_last_error(), "no-such-dir/out.mp4");
    CHECK_STR_CONTAINS(tav_last_error(), "No such file or directory");
    /* a regular file used as a directory */
    char f[512];
    path_in(f, sizeof f, "plainfile");
    FILE *fp = fopen(f, "w");
    if (fp)
        fclose(fp);
    snprintf(p, sizeof p, "%.400s/out.mp4", f);
    CHECK_EQ_INT(tav_media_write_mp4(p, &v, NULL), TAV_ERR_IO);
    /* the output path is a directory */
    CHECK_EQ_INT(tav_media_write_mp4(dir, &v, NULL), TAV_ERR_IO);
    unlink(f);
    free(v.rgb);
}

/* Disk full, simulated with a file-size limit in a child process: the
 * writer must fail with TAV_ERR_IO and leave no file at all behind. */
static void test_mp4_disk_full_leaves_nothing(void)
{
    char sub[512];
    path_in(sub, sizeof sub, "full");
    mkdir(sub, 0755);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* writes past the limit fail with EFBIG instead */
        struct rlimit rl = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
        setrlimit(RLIMIT_FSIZE, &rl);
        enum { BW = 256, BH = 256, BN = 24 };
        uint8_t *rgb = malloc((size_t)BW * BH * 3);
        char p[600];
        snprintf(p, sizeof p, "%s/big.mp4", sub);
        tav_media_mp4 *w;
        tav_media_mp4_params mp = tav_media_mp4_default_params();
        mp.preset = "ultrafast";
        tav_status st = tav_media_mp4_open(p, BW, BH, FPS, &mp, &w);
        uint32_t s = 1;
        for (int i = 0; i < BN && st == TAV_OK; i++) {
            for (size_t k = 0; k < (size_t)BW * BH * 3; k++) /* noise: incompressible */
                rgb[k] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
            st = tav_media_mp4_add_frame(w, rgb);
        }
        if (st == TAV_OK)
            st = tav_media_mp4_close(w);
        else
            tav_media_mp4_abort(w);
        fprintf(stderr, "disk-full child: %s: %s\n", tav_status_str(st), tav_last_error());
        /* the PNG writer too: a noise sheet of 5 x 256 px squares is ~1 MB */
        snprintf(p, sizeof p, "%s/sheet.png", sub);
        uint8_t *frames = malloc((size_t)5 * BW * BH * 3);
        for (size_t k = 0; k < (size_t)5 * BW * BH * 3; k++)
            frames[k] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
        tav_status st2 = tav_media_write_sheet_png(p, frames, BW, BH, 5, NULL, 0, 5, NULL, 0);
        fprintf(stderr, "disk-full child: %s: %s\n", tav_status_str(st2), tav_last_error());
        free(frames);
        free(rgb);
        _exit(st == TAV_ERR_IO && st2 == TAV_ERR_IO ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(count_entries(sub), 0);
    rmdir(sub);
}

/* Relative names that look like FFmpeg protocols stay file names: writing
 * "pipe:1.mp4" must not go to stdout, reading it must not read stdin. */
static void test_protocol_like_names_are_files(void)
{
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd) || chdir(dir) != 0) {
        CHECK(!"chdir");
        return;
    }
    tav_video v = synth_video();
    CHECK_EQ_INT(tav_media_write_mp4("pipe:1.mp4", &v, NULL), TAV_OK);
    CHECK(file_size("pipe:1.mp4") > 1000);
    tav_video r;
    CHECK_EQ_INT(tav_media_read_video("pipe:1.mp4", 100, &r), TAV_OK);
    CHECK_EQ_INT(r.n_frames, N);
    free(r.rgb);
    unlink("pipe:1.mp4");
    free(v.rgb);
    CHECK(chdir(cwd) == 0);
}

/* ---------------------------------------------------------------- reader */

static void test_reader_errors(void)
{
    tav_media_reader *r = (tav_media_reader *)1;
    char p[512];
    path_in(p, sizeof p, "missing.mp4");
    CHECK_EQ_INT(tav_media_reader_open(p, &r), TAV_ERR_NOT_FOUND);
    CHECK(r == NULL);
    CHECK_STR_CONTAINS(tav_last_error(), "missing.mp4");

    path_in(p, sizeof p, "notes.txt");
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("Replace the drill bit on press 4.\nThis is not a video.\n", f);
        fclose(f);
    }
    CHECK_EQ_INT(tav_media_reader_open(p, &r), TAV_ERR_FORMAT);
    CHECK_STR_CONTAINS(tav_last_error(), "notes.txt");
    unlink(p);

    path_in(p, sizeof p, "empty.mp4");
    f = fopen(p, "w");
    if (f)
        fclose(f);
    CHECK_EQ_INT(tav_media_reader_open(p, &r), TAV_ERR_FORMAT);
    unlink(p);

    path_in(p, sizeof p, "junk.mp4");
    f = fopen(p, "w");
    if (f) {
        for (int i = 0; i < 4096; i++)
            fputc((i * 7919) & 255, f);
        fclose(f);
    }
    CHECK(tav_media_reader_open(p, &r) != TAV_OK);
    unlink(p);

    CHECK_EQ_INT(tav_media_reader_open(dir, &r), TAV_ERR_IO);
}

static void test_reader_streams_frames(void)
{
    tav_video v = synth_video();
    char p[512];
    path_in(p, sizeof p, "stream.mp4");
    CHECK_EQ_INT(tav_media_write_mp4(p, &v, NULL), TAV_OK);
    free(v.rgb);
    tav_media_reader *r;
    CHECK_EQ_INT(tav_media_reader_open(p, &r), TAV_OK);
    if (!r)
        return;
    const tav_media_info *in = tav_media_reader_info(r);
    CHECK_EQ_INT(in->width, W);
    CHECK_EQ_INT(in->height, H);
    CHECK(in->fps > 7.99 && in->fps < 8.01);
    CHECK_EQ_INT(in->n_frames_est, N);
    CHECK(strcmp(in->codec, "h264") == 0);
    const uint8_t *rgb;
    int n = 0;
    while (tav_media_reader_next(r, &rgb) == TAV_OK && rgb)
        n++;
    CHECK_EQ_INT(n, N);
    CHECK_EQ_INT(tav_media_reader_count(r), N);
    /* after the end, next keeps saying "end" */
    CHECK_EQ_INT(tav_media_reader_next(r, &rgb), TAV_OK);
    CHECK(rgb == NULL);
    tav_media_reader_close(r);
}

static void test_reader_output_size(void)
{
    tav_video v = synth_video();
    char p[512];
    path_in(p, sizeof p, "scaled.mp4");
    CHECK_EQ_INT(tav_media_write_mp4(p, &v, NULL), TAV_OK);
    tav_media_reader *r;
    CHECK_EQ_INT(tav_media_reader_open(p, &r), TAV_OK);
    if (!r) {
        free(v.rgb);
        return;
    }
    CHECK_EQ_INT(tav_media_reader_set_output_size(r, 0, 5), TAV_ERR_INVALID_ARG);
    CHECK_EQ_INT(tav_media_reader_set_output_size(r, W / 4, H / 4), TAV_OK);
    const tav_media_info *in = tav_media_reader_info(r);
    CHECK_EQ_INT(in->width, W / 4);
    CHECK_EQ_INT(in->height, H / 4);
    CHECK_EQ_INT(in->src_width, W);
    CHECK_EQ_INT(in->src_height, H);
    const uint8_t *rgb;
    int n = 0;
    double err = 0;
    while (tav_media_reader_next(r, &rgb) == TAV_OK && rgb) {
        /* each 4x4 block's mean, compared with the small frame's pixel */
        for (int y = 0; y < H / 4; y++)
            for (int x = 0; x < W / 4; x++)
                for (int k = 0; k < 3; k++) {
                    int sum = 0;
                    for (int yy = 0; yy < 4; yy++)
                        for (int xx = 0; xx < 4; xx++)
                            sum += v.rgb[(((size_t)n * H + 4 * y + yy) * W + 4 * x + xx) * 3 + k];
                    err += fabs(sum / 16.0 - rgb[((size_t)y * (W / 4) + x) * 3 + k]);
                }
        n++;
    }
    err /= (double)N * (W / 4) * (H / 4) * 3;
    printf("reader scaled to %dx%d: mean abs diff to 4x4 block means %.2f\n", W / 4, H / 4, err);
    CHECK_EQ_INT(n, N);
    CHECK(err <= MP4_MEAN_ABS_TOL);
    CHECK_EQ_INT(tav_media_reader_set_output_size(r, 8, 8), TAV_ERR_INVALID_ARG); /* too late */
    tav_media_reader_close(r);
    free(v.rgb);
}

/* ---------------------------------------------------------------- PNG */

static void test_png_sheet_with_text(void)
{
    tav_video v = synth_video();
    char p[512];
    path_in(p, sizeof p, "sheet.png");
    tav_media_kv kv[] = {
        {"prompt 1", "a red gear moves along the conveyor"},
        {"seed", "42"},
        {"prompt 2", "the press stamps a blue plate \xc3\xa9"}, /* UTF-8: iTXt */
    };
    CHECK_EQ_INT(tav_media_write_sheet_png(p, v.rgb, W, H, N, v.scene_start, 2, 4, kv, 3), TAV_OK);
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL);
    if (!f) {
        free(v.rgb);
        return;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        CHECK(!"libpng failed to read the sheet");
    } else {
        png_init_io(png, f);
        png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
        CHECK_EQ_INT(png_get_image_width(png, info), 4 * (W + TAV_SHEET_GAP) + TAV_SHEET_GAP);
        CHECK_EQ_INT(png_get_image_height(png, info), 2 * (H + TAV_SHEET_GAP) + TAV_SHEET_GAP);
        png_textp text;
        int n_text = 0;
        png_get_text(png, info, &text, &n_text);
        CHECK_EQ_INT(n_text, 3);
        int seen_prompt = 0, seen_seed = 0, seen_utf8 = 0;
        for (int i = 0; i < n_text; i++) {
            if (!strcmp(text[i].key, "prompt 1") &&
                !strcmp(text[i].text, "a red gear moves along the conveyor") &&
                text[i].compression == PNG_TEXT_COMPRESSION_NONE)
                seen_prompt = 1;
            if (!strcmp(text[i].key, "seed") && !strcmp(text[i].text, "42"))
                seen_seed = 1;
            if (!strcmp(text[i].key, "prompt 2") && strstr(text[i].text, "\xc3\xa9") &&
                text[i].compression == PNG_ITXT_COMPRESSION_NONE)
                seen_utf8 = 1;
        }
        CHECK(seen_prompt && seen_seed && seen_utf8);
        /* tile (row 1, col 0) is the first frame of scene 2 (frame 7) */
        png_bytepp rows = png_get_rows(png, info);
        int y = H + 2 * TAV_SHEET_GAP + 5, x = TAV_SHEET_GAP + 5;
        const uint8_t *px = rows[y] + x * 3;
        const uint8_t *want = v.rgb + ((size_t)7 * W * H + (size_t)5 * W + 5) * 3;
        CHECK(px[0] == want[0] && px[1] == want[1] && px[2] == want[2]);
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);

    /* bad layouts are clean errors */
    int bad_starts[2] = {5, 3};
    CHECK_EQ_INT(tav_media_write_sheet_png(p, v.rgb, W, H, N, bad_starts, 2, 4, NULL, 0),
                 TAV_ERR_INVALID_ARG);
    tav_media_kv bad_kv[] = {{"", "x"}};
    CHECK_EQ_INT(tav_media_write_sheet_png(p, v.rgb, W, H, N, NULL, 0, 4, bad_kv, 1),
                 TAV_ERR_INVALID_ARG);
    free(v.rgb);
}

static void test_png_frame_dump(void)
{
    tav_video v = synth_video();
    char sub[512], p[600];
    path_in(sub, sizeof sub, "frames");
    mkdir(sub, 0755);
    CHECK_EQ_INT(tav_media_write_frames_png(sub, "f", &v), TAV_OK);
    CHECK_EQ_INT(count_entries(sub), N);
    snprintf(p, sizeof p, "%s/f00011.png", sub);
    CHECK(file_size(p) > 0);
    remove_dir(sub);
    free(v.rgb);
}

/* ---------------------------------------------------------------- JPEG */

struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
};
static void jerr_exit(j_common_ptr c) { longjmp(((struct jerr *)c->err)->jb, 1); }

static void test_jpeg_thumbnail(void)
{
    tav_video v = synth_video();
    char p[512];
    path_in(p, sizeof p, "thumb.jpg");
    CHECK_EQ_INT(tav_media_write_thumb_jpeg(p, v.rgb + 3 * FB, W, H, 32, 0), TAV_OK);
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL);
    if (f) {
        struct jpeg_decompress_struct c;
        struct jerr je;
        c.err = jpeg_std_error(&je.mgr);
        je.mgr.error_exit = jerr_exit;
        if (setjmp(je.jb)) {
            CHECK(!"libjpeg failed to decode the thumbnail");
        } else {
            jpeg_create_decompress(&c);
            jpeg_stdio_src(&c, f);
            jpeg_read_header(&c, TRUE);
            jpeg_start_decompress(&c);
            CHECK_EQ_INT(c.output_width, 32);
            CHECK_EQ_INT(c.output_height, 24);
            CHECK_EQ_INT(c.output_components, 3);
            uint8_t row[32 * 3];
            JSAMPROW rp = row;
            int y = 0;
            while (c.output_scanline < c.output_height) {
                jpeg_read_scanlines(&c, &rp, 1);
                if (y++ == 2) /* the top-left is the gradient: dark red, dark green */
                    CHECK(row[0] < 40 && row[1] < 60);
            }
            jpeg_finish_decompress(&c);
        }
        jpeg_destroy_decompress(&c);
        fclose(f);
    }
    CHECK_EQ_INT(tav_media_write_thumb_jpeg(p, v.rgb, W, H, 0, 0), TAV_ERR_INVALID_ARG);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/nope/t.jpg", dir);
    CHECK_EQ_INT(tav_media_write_thumb_jpeg(bad, v.rgb, W, H, 16, 90), TAV_ERR_IO);
    CHECK_STR_CONTAINS(tav_last_error(), "nope/t.jpg");
    free(v.rgb);
}

static void test_alloc_failures_are_clean(void)
{
    /* Every early allocation failing in turn gives an error, never a crash
     * or a leak (ASan checks), and leaves no file behind. */
    tav_video v = synth_video();
    char p[512];
    path_in(p, sizeof p, "nomem.png");
    int before = count_entries(dir), failures = 0;
    for (long nth = 1; nth <= 4; nth++) {
        tav_fault_alloc_fail_at(nth);
        tav_status st = tav_media_write_sheet_png(p, v.rgb, W, H, N, v.scene_start, 2, 3, NULL, 0);
        tav_fault_alloc_fail_at(0);
        if (st != TAV_OK) {
            failures++;
            CHECK_EQ_INT(count_entries(dir), before);
        } else {
            unlink(p);
        }
    }
    CHECK(failures >= 2);

    /* the MP4 writer's own allocations (writer, temp names, URL) */
    path_in(p, sizeof p, "nomem.mp4");
    for (long nth = 1; nth <= 4; nth++) {
        tav_media_mp4 *w = NULL;
        tav_fault_alloc_fail_at(nth);
        tav_status st = tav_media_mp4_open(p, W, H, FPS, NULL, &w);
        tav_fault_alloc_fail_at(0);
        if (st == TAV_OK)
            tav_media_mp4_abort(w);
        else
            CHECK(w == NULL);
        CHECK_EQ_INT(count_entries(dir), before);
    }
    free(v.rgb);
}

int main(void)
{
    make_dir();
    RUN(test_mp4_roundtrip);
    RUN(test_mp4_ffprobe_h264_yuv420p_faststart);
    RUN(test_mp4_deterministic);
    RUN(test_mp4_frame_by_frame_and_abort);
    RUN(test_mp4_odd_size_is_clean_error);
    RUN(test_mp4_unwritable_paths);
    RUN(test_mp4_disk_full_leaves_nothing);
    RUN(test_protocol_like_names_are_files);
    RUN(test_reader_errors);
    RUN(test_reader_streams_frames);
    RUN(test_reader_output_size);
    RUN(test_png_sheet_with_text);
    RUN(test_png_frame_dump);
    RUN(test_jpeg_thumbnail);
    RUN(test_alloc_failures_are_clean);
    remove_dir(dir);
    return check_summary();
}
