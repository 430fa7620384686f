/* media_file.c — temp-then-rename output files for the media writers.
 *
 * Writers never write their target path directly: they write
 * "<path>.tmp.XXXXXX" in the same directory (so rename() is atomic on one
 * file system) and rename it over the target only once the file is complete
 * and synced. A failure at any point removes the temp file. */
#include "core/media_internal.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = tav_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

tav_status tav_media_tmp_create(const char *path, int want_file, tav_media_tmp *t)
{
    memset(t, 0, sizeof *t);
    if (!path || !*path)
        return tav_fail(TAV_ERR_INVALID_ARG, "empty output path");
    size_t n = strlen(path);
    if (path[n - 1] == '/')
        return tav_fail(TAV_ERR_INVALID_ARG, "%s: output path names a directory", path);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return tav_fail(TAV_ERR_IO, "%s: is a directory", path);

    t->final_path = dup_str(path);
    t->tmp_path = tav_malloc(n + sizeof ".tmp.XXXXXX");
    if (!t->final_path || !t->tmp_path) {
        tav_media_tmp_discard(t);
        return tav_fail(TAV_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(t->tmp_path, path, n);
    memcpy(t->tmp_path + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(t->tmp_path);
    if (fd < 0) {
        int e = errno;
        tav_free(t->tmp_path); /* never created: nothing to unlink */
        t->tmp_path = NULL;
        tav_media_tmp_discard(t);
        return tav_fail(TAV_ERR_IO, "%s: cannot create a file in its directory: %s", path,
                        strerror(e));
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; outputs are meant to be shared */
    if (!want_file) {
        close(fd);
        return TAV_OK;
    }
    t->f = fdopen(fd, "wb");
    if (!t->f) {
        int e = errno;
        close(fd);
        tav_media_tmp_discard(t);
        return tav_fail(TAV_ERR_IO, "%s: %s", path, strerror(e));
    }
    return TAV_OK;
}

static void release(tav_media_tmp *t)
{
    tav_free(t->final_path);
    tav_free(t->tmp_path);
    t->final_path = t->tmp_path = NULL;
}

tav_status tav_media_tmp_commit(tav_media_tmp *t)
{
    const char *path = t->final_path ? t->final_path : "(null)";
    if (t->f) {
        int bad = fflush(t->f) != 0 || ferror(t->f);
        int e = errno;
        if (!bad && fsync(fileno(t->f)) != 0 && errno != EINVAL)
            bad = 1, e = errno;
        if (fclose(t->f) != 0 && !bad)
            bad = 1, e = errno;
        t->f = NULL;
        if (bad) {
            tav_status st = tav_fail(TAV_ERR_IO, "%s: write failed: %s", path, strerror(e));
            tav_media_tmp_discard(t);
            return st;
        }
    } else {
        /* Written by someone else (libavformat): sync it by name. */
        int fd = open(t->tmp_path, O_RDONLY);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
    }
    if (rename(t->tmp_path, t->final_path) != 0) {
        int e = errno;
        tav_status st = tav_fail(TAV_ERR_IO, "%s: cannot rename the finished file into place: %s",
                                 path, strerror(e));
        tav_media_tmp_discard(t);
        return st;
    }
    release(t);
    return TAV_OK;
}

void tav_media_tmp_discard(tav_media_tmp *t)
{
    if (t->f) {
        fclose(t->f);
        t->f = NULL;
    }
    if (t->tmp_path)
        unlink(t->tmp_path);
    release(t);
}
