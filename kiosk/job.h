/* job.h — one kiosk job's generation parameters: bounds, JSON form, cache key.
 *
 *   tav_kiosk_job_params jp;
 *   if (tav_kiosk_job_params_from_json(tav_json_root(doc), &jp) != TAV_OK)
 *       reply_400(tav_last_error());                 // "steps must be 0..50" etc.
 *   char key[TAV_KIOSK_KEY_HEX];
 *   tav_kiosk_cache_key(&jp, model_checksum, key);   // 64 hex digits
 *   tav_buf b = {0}; tav_kiosk_job_params_to_json(&jp, &b);   // stored with the job
 *
 * Contracts:
 *   - from_json accepts untrusted input and checks every bound below; a
 *     missing member takes its default (seed has no default: the caller
 *     picks one before, so a re-run can repeat it).
 *   - to_json then from_json gives back equal params (a stored job re-runs
 *     exactly).
 *   - The cache key is SHA-256 over a canonical text form (see job.c) of the
 *     model checksum, the scene prompts and their durations, seed, steps,
 *     width, height, fps and the engine version (core/version.h): equal
 *     inputs give equal keys on any machine; changing any one input changes
 *     the key.
 */
#ifndef TAV_KIOSK_JOB_H
#define TAV_KIOSK_JOB_H

#include "core/status.h"
#include "kiosk/json.h"

#include <stdint.h>

#define TAV_KIOSK_MAX_SCENES 6      /* = TAV_MAX_SCENES (core/pipeline.h)        */
#define TAV_KIOSK_PROMPT_MAX 400    /* bytes per scene prompt                    */
#define TAV_KIOSK_MAX_STEPS 50      /* sampler steps; 0 = the model's default    */
#define TAV_KIOSK_MIN_SIZE 32       /* width/height when not 0 (model's native)  */
#define TAV_KIOSK_MAX_SIZE 512      /* a CPU terminal: bigger takes minutes      */
#define TAV_KIOSK_MAX_FPS 30
#define TAV_KIOSK_MAX_SEED 9007199254740991.0 /* 2^53-1: exact in JSON numbers */
#define TAV_KIOSK_KEY_HEX 65        /* 64 hex digits + NUL                       */

typedef struct tav_kiosk_job_params {
    char template_id[64];  /* the procedure it came from, or "" for free prompts */
    char summary[200];     /* one-line label for the history                    */
    int n_scenes;          /* 1..TAV_KIOSK_MAX_SCENES                            */
    char scenes[TAV_KIOSK_MAX_SCENES][TAV_KIOSK_PROMPT_MAX + 1];
    double seconds[TAV_KIOSK_MAX_SCENES]; /* 0 = model's choice, else 0.5..10  */
    uint64_t seed;         /* 0..2^53-1                                         */
    int steps;             /* 0..TAV_KIOSK_MAX_STEPS                            */
    int width, height;     /* 0, or 32..512 and a multiple of 16                */
    int fps;               /* 0, or 1..30                                       */
} tav_kiosk_job_params;

tav_kiosk_job_params tav_kiosk_job_default_params(void);

/* Reads {"template":..,"summary":..,"prompts":[..],"seconds":[..],"seed":..,
 * "steps":..,"width":..,"height":..,"fps":..} into *out. Unknown members are
 * ignored. Errors: TAV_ERR_INVALID_ARG / TAV_ERR_LIMIT with a message naming
 * the member and its bound. */
tav_status tav_kiosk_job_params_from_json(const tav_json *obj, tav_kiosk_job_params *out);

/* Reads only the numeric options (seed, steps, width, height, fps) of obj
 * into *p; absent members keep p's values. Same errors as above. */
tav_status tav_kiosk_job_options_from_json(const tav_json *obj, tav_kiosk_job_params *p);

/* Appends the params as one JSON object. */
void tav_kiosk_job_params_to_json(const tav_kiosk_job_params *p, tav_buf *b);

/* Checks one scene prompt: 1..TAV_KIOSK_PROMPT_MAX bytes, no control characters. */
tav_status tav_kiosk_check_prompt(const char *s, size_t len);

/* Writes the cache key as 64 lowercase hex digits + NUL. */
void tav_kiosk_cache_key(const tav_kiosk_job_params *p, const char *model_checksum,
                         char hex[TAV_KIOSK_KEY_HEX]);

#endif
