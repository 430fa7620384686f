/* status.h — status codes and the last-error message shared by every module.
 *
 *   tav_status st = tav_model_open(path, &m);
 *   if (st != TAV_OK) fprintf(stderr, "%s: %s\n", tav_status_str(st), tav_last_error());
 *
 * Fallible functions return a tav_status (0 ok, negative errors) and hand
 * results back through out-parameters. Where a failure has a specific cause
 * the function records it with tav_fail(), which stores a message in a
 * thread-local buffer (like errno + strerror, but with words).
 */
#ifndef TAV_STATUS_H
#define TAV_STATUS_H

#include <stddef.h>

typedef enum tav_status {
    TAV_OK = 0,
    TAV_ERR_INVALID_ARG = -1,  /* a caller passed something out of range      */
    TAV_ERR_IO = -2,           /* open/read/write/rename failed (see message)  */
    TAV_ERR_FORMAT = -3,       /* a file's contents are malformed              */
    TAV_ERR_NOMEM = -4,        /* an allocation failed                         */
    TAV_ERR_UNSUPPORTED = -5,  /* valid, but this build cannot do it           */
    TAV_ERR_CHECKSUM = -6,     /* payload checksum mismatch                    */
    TAV_ERR_VERSION = -7,      /* file written by an incompatible tool version */
    TAV_ERR_CANCELLED = -8,    /* a cancel flag was honoured                   */
    TAV_ERR_UNKNOWN_WORD = -9, /* a prompt uses words outside the vocabulary   */
    TAV_ERR_LIMIT = -10,       /* a request exceeds a configured bound         */
    TAV_ERR_NOT_FOUND = -11,   /* a named thing does not exist                 */
    TAV_ERR_INTERNAL = -12,    /* a bug: please report                         */
} tav_status;

/* Short words for a code ("format error"); never NULL. */
const char *tav_status_str(tav_status st);

/* Records a printf-style message for the calling thread and returns st,
 * so callers can write `return tav_fail(TAV_ERR_FORMAT, "bad dtype %d", d);` */
tav_status tav_fail(tav_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The calling thread's last tav_fail() message, or "" if none. */
const char *tav_last_error(void);

/* Clears the calling thread's message. */
void tav_clear_error(void);

#endif
