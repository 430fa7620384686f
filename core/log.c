/* log.c — leveled logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static tav_log_level current_level = TAV_LOG_NORMAL;

void tav_log_set_level(tav_log_level lvl) { current_level = lvl; }

tav_log_level tav_log_get_level(void) { return current_level; }

void tav_log(tav_log_level lvl, const char *prefix, const char *fmt, ...)
{
    if (lvl > current_level)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* One fputs per message so lines from threads do not interleave. */
    char line[1100];
    snprintf(line, sizeof line, "tav: %s%s\n", prefix, buf);
    fputs(line, stderr);
}
