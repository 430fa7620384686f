/* status.c — status code words and the thread-local last-error message. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

const char *tav_status_str(tav_status st)
{
    switch (st) {
    case TAV_OK: return "ok";
    case TAV_ERR_INVALID_ARG: return "invalid argument";
    case TAV_ERR_IO: return "I/O error";
    case TAV_ERR_FORMAT: return "format error";
    case TAV_ERR_NOMEM: return "out of memory";
    case TAV_ERR_UNSUPPORTED: return "unsupported";
    case TAV_ERR_CHECKSUM: return "checksum mismatch";
    case TAV_ERR_VERSION: return "version mismatch";
    case TAV_ERR_CANCELLED: return "cancelled";
    case TAV_ERR_UNKNOWN_WORD: return "unknown word";
    case TAV_ERR_LIMIT: return "limit exceeded";
    case TAV_ERR_NOT_FOUND: return "not found";
    case TAV_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

tav_status tav_fail(tav_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

const char *tav_last_error(void) { return last_error; }

void tav_clear_error(void) { last_error[0] = '\0'; }
