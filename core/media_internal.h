/* media_internal.h — private helpers shared by the core/media_*.c files.
 * Not a public header: use core/media.h. */
#ifndef TAV_MEDIA_INTERNAL_H
#define TAV_MEDIA_INTERNAL_H

#include "core/status.h"

#include <stdio.h>

/* A file being written beside its final path: "<path>.tmp.XXXXXX". */
typedef struct tav_media_tmp {
    char *final_path; /* owned copy of the target path   */
    char *tmp_path;   /* owned; the temp file on disk    */
    FILE *f;          /* open for writing, or NULL       */
} tav_media_tmp;

/* Creates the temp file (mode 0644) in path's directory. If want_file, opens
 * it as t->f; otherwise the file exists but is closed (for writers, such as
 * libavformat, that open it by name). Errors name the directory. */
tav_status tav_media_tmp_create(const char *path, int want_file, tav_media_tmp *t);

/* Flushes and closes t->f (if open), fsyncs, renames onto the final path.
 * On any failure removes the temp file. Always releases t's strings. */
tav_status tav_media_tmp_commit(tav_media_tmp *t);

/* Closes t->f if open, removes the temp file, releases t's strings. Safe to
 * call on a zeroed struct and twice. */
void tav_media_tmp_discard(tav_media_tmp *t);

/* Sets FFmpeg's log level from tav's (FFmpeg chatter only with -v). Cheap;
 * called whenever a writer or reader opens. */
void tav_media_quiet_ffmpeg(void);

#endif
