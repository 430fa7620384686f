/* media_log.c — keeps FFmpeg's own logging in line with tav's level:
 * silent unless -v (our errors already say what failed, via tav_fail). */
#include "core/log.h"
#include "core/media_internal.h"

#include <libavutil/log.h>

void tav_media_quiet_ffmpeg(void)
{
    av_log_set_level(tav_log_get_level() >= TAV_LOG_DEBUG ? AV_LOG_INFO : AV_LOG_FATAL);
}
