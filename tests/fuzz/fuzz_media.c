/* fuzz_media.c — libFuzzer harness for the video reader (core/media_read.c)
 * feeding the scene-cut detector (core/scenecut.c), as `tav scenes` does.
 *
 * The input is written to a temp file and opened as a video: whatever FFmpeg
 * makes of it, the reader must return a frame or a clean error, never crash,
 * and frames must go through the detector. At most 64 frames per input.
 *
 *   make test          replays tests/fuzz/corpus/media/ (tests/fuzz/replay.c)
 *   scripts/fuzz.sh 60 media
 *
 * fuzz-sources: core/media_read.c core/media_log.c core/scenecut.c core/status.c core/mem.c core/log.c -lavformat -lavcodec -lswscale -lavutil
 */
#include "core/media.h"
#include "core/scenecut.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *tav_fuzz_name = "media";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/tav-fuzz-media-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    tav_media_reader *r = NULL;
    if (tav_media_reader_open(path, &r) != TAV_OK) {
        if (r)
            abort(); /* an error must leave *out NULL */
        unlink(path);
        return 0;
    }
    const tav_media_info *in = tav_media_reader_info(r);
    if (in->width < 1 || in->height < 1)
        abort();
    tav_scenecut *d = NULL;
    if (tav_scenecut_init(NULL, in->width, in->height, &d) == TAV_OK) {
        const uint8_t *rgb;
        tav_scenecut_cut c;
        long last = 0;
        while (tav_media_reader_count(r) < 64 && tav_media_reader_next(r, &rgb) == TAV_OK && rgb) {
            if (tav_scenecut_push_frame(d, rgb) != TAV_OK)
                break;
            while (tav_scenecut_pop_cut(d, &c)) {
                if (c.frame <= last && last > 0)
                    abort(); /* cuts must ascend */
                last = c.frame;
            }
        }
        tav_scenecut_finish(d);
        tav_scenecut_free(d);
    }
    tav_media_reader_close(r);
    unlink(path);
    return 0;
}
