/* log.h — leveled logging to stderr, used by every module.
 *
 *   tav_log_set_level(TAV_LOG_DEBUG);          // from -v
 *   TAV_LOG_INFO("loaded %zu tensors", n);
 *
 * Messages go to stderr prefixed by the level; the level is process-wide.
 */
#ifndef TAV_LOG_H
#define TAV_LOG_H

typedef enum tav_log_level {
    TAV_LOG_QUIET = 0, /* errors only (-q) */
    TAV_LOG_WARN = 1,
    TAV_LOG_NORMAL = 2, /* default: warnings and info */
    TAV_LOG_DEBUG = 3,  /* -v */
} tav_log_level;

void tav_log_set_level(tav_log_level lvl);
tav_log_level tav_log_get_level(void);

/* Prints "tav: <prefix>message\n" to stderr if lvl <= the current level.
 * Errors (lvl 0) are always printed. */
void tav_log(tav_log_level lvl, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TAV_LOG_ERROR(...) tav_log(TAV_LOG_QUIET, "error: ", __VA_ARGS__)
#define TAV_LOG_WARNING(...) tav_log(TAV_LOG_WARN, "warning: ", __VA_ARGS__)
#define TAV_LOG_INFO(...) tav_log(TAV_LOG_NORMAL, "", __VA_ARGS__)
#define TAV_LOG_DEBUG(...) tav_log(TAV_LOG_DEBUG, "debug: ", __VA_ARGS__)

#endif
