/* job.c — job parameter bounds, their JSON form and the cache key. */
#include "kiosk/job.h"

#include "core/sha256.h"
#include "core/version.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

tav_kiosk_job_params tav_kiosk_job_default_params(void)
{
    tav_kiosk_job_params p;
    memset(&p, 0, sizeof p);
    return p;
}

tav_status tav_kiosk_check_prompt(const char *s, size_t len)
{
    if (len == 0)
        return tav_fail(TAV_ERR_INVALID_ARG, "a scene prompt is empty");
    if (len > TAV_KIOSK_PROMPT_MAX)
        return tav_fail(TAV_ERR_LIMIT, "a scene prompt is longer than %d characters",
                        TAV_KIOSK_PROMPT_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return tav_fail(TAV_ERR_INVALID_ARG, "a scene prompt contains a control character");
    }
    return TAV_OK;
}

/* A whole number in [lo, hi] from an optional member; absent keeps *out. */
static tav_status get_int(const tav_json *obj, const char *key, double lo, double hi,
                          double *out)
{
    const tav_json *v = tav_json_get(obj, key);
    if (!v || v->type == TAV_JSON_NULL)
        return TAV_OK;
    if (v->type != TAV_JSON_NUMBER || v->num != floor(v->num))
        return tav_fail(TAV_ERR_INVALID_ARG, "%s must be a whole number", key);
    if (v->num < lo || v->num > hi)
        return tav_fail(TAV_ERR_LIMIT, "%s must be between %.0f and %.0f", key, lo, hi);
    *out = v->num;
    return TAV_OK;
}

static tav_status get_text(const tav_json *obj, const char *key, char *dst, size_t cap)
{
    const tav_json *v = tav_json_get(obj, key);
    if (!v || v->type == TAV_JSON_NULL)
        return TAV_OK;
    if (v->type != TAV_JSON_STRING)
        return tav_fail(TAV_ERR_INVALID_ARG, "%s must be a string", key);
    if (v->len >= cap)
        return tav_fail(TAV_ERR_LIMIT, "%s is longer than %zu characters", key, cap - 1);
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->str[i] < 0x20)
            return tav_fail(TAV_ERR_INVALID_ARG, "%s contains a control character", key);
    memcpy(dst, v->str, v->len + 1);
    return TAV_OK;
}

static tav_status check_size(const char *key, double v)
{
    if (v != 0 && ((int)v % 16 != 0 || v < TAV_KIOSK_MIN_SIZE))
        return tav_fail(TAV_ERR_INVALID_ARG, "%s must be 0 (the model's size) or a multiple of 16 from %d to %d",
                        key, TAV_KIOSK_MIN_SIZE, TAV_KIOSK_MAX_SIZE);
    return TAV_OK;
}

tav_status tav_kiosk_job_params_from_json(const tav_json *obj, tav_kiosk_job_params *out)
{
    *out = tav_kiosk_job_default_params();
    if (!obj || obj->type != TAV_JSON_OBJECT)
        return tav_fail(TAV_ERR_INVALID_ARG, "the job must be a JSON object");
    tav_status st;
    if ((st = get_text(obj, "template", out->template_id, sizeof out->template_id)) ||
        (st = get_text(obj, "summary", out->summary, sizeof out->summary)))
        return st;

    const tav_json *pr = tav_json_get(obj, "prompts");
    if (!pr || pr->type != TAV_JSON_ARRAY || pr->len == 0)
        return tav_fail(TAV_ERR_INVALID_ARG, "prompts must be a list of 1 to %d scene prompts",
                        TAV_KIOSK_MAX_SCENES);
    if (pr->len > TAV_KIOSK_MAX_SCENES)
        return tav_fail(TAV_ERR_LIMIT, "at most %d scenes (got %zu)", TAV_KIOSK_MAX_SCENES,
                        pr->len);
    int n = 0;
    for (const tav_json *c = pr->child; c; c = c->next, n++) {
        if (c->type != TAV_JSON_STRING)
            return tav_fail(TAV_ERR_INVALID_ARG, "prompt %d is not a string", n + 1);
        if ((st = tav_kiosk_check_prompt(c->str, c->len)) != TAV_OK) {
            char why[200]; /* tav_fail writes the buffer tav_last_error reads */
            snprintf(why, sizeof why, "%s", tav_last_error());
            return tav_fail(st, "prompt %d: %s", n + 1, why);
        }
        memcpy(out->scenes[n], c->str, c->len + 1);
    }
    out->n_scenes = n;

    const tav_json *sec = tav_json_get(obj, "seconds");
    if (sec && sec->type != TAV_JSON_NULL) {
        if (sec->type != TAV_JSON_ARRAY || sec->len != (size_t)n)
            return tav_fail(TAV_ERR_INVALID_ARG, "seconds must list one duration per prompt");
        int i = 0;
        for (const tav_json *c = sec->child; c; c = c->next, i++) {
            if (c->type != TAV_JSON_NUMBER || (c->num != 0 && (c->num < 0.5 || c->num > 10)))
                return tav_fail(TAV_ERR_LIMIT, "seconds must be 0 or from 0.5 to 10");
            out->seconds[i] = c->num;
        }
    }

    return tav_kiosk_job_options_from_json(obj, out);
}

tav_status tav_kiosk_job_options_from_json(const tav_json *obj, tav_kiosk_job_params *p)
{
    double seed = (double)p->seed, steps = p->steps, w = p->width, h = p->height, fps = p->fps;
    tav_status st;
    if ((st = get_int(obj, "seed", 0, TAV_KIOSK_MAX_SEED, &seed)) ||
        (st = get_int(obj, "steps", 0, TAV_KIOSK_MAX_STEPS, &steps)) ||
        (st = get_int(obj, "width", 0, TAV_KIOSK_MAX_SIZE, &w)) ||
        (st = get_int(obj, "height", 0, TAV_KIOSK_MAX_SIZE, &h)) ||
        (st = get_int(obj, "fps", 0, TAV_KIOSK_MAX_FPS, &fps)) || (st = check_size("width", w)) ||
        (st = check_size("height", h)))
        return st;
    p->seed = (uint64_t)seed;
    p->steps = (int)steps;
    p->width = (int)w;
    p->height = (int)h;
    p->fps = (int)fps;
    return TAV_OK;
}

void tav_kiosk_job_params_to_json(const tav_kiosk_job_params *p, tav_buf *b)
{
    tav_buf_puts(b, "{\"template\":");
    tav_json_put_string(b, p->template_id);
    tav_buf_puts(b, ",\"summary\":");
    tav_json_put_string(b, p->summary);
    tav_buf_puts(b, ",\"prompts\":[");
    for (int i = 0; i < p->n_scenes; i++) {
        if (i)
            tav_buf_puts(b, ",");
        tav_json_put_string(b, p->scenes[i]);
    }
    tav_buf_puts(b, "],\"seconds\":[");
    for (int i = 0; i < p->n_scenes; i++)
        tav_buf_printf(b, "%s%.17g", i ? "," : "", p->seconds[i]);
    tav_buf_printf(b, "],\"seed\":%llu,\"steps\":%d,\"width\":%d,\"height\":%d,\"fps\":%d}",
                   (unsigned long long)p->seed, p->steps, p->width, p->height, p->fps);
}

/* The canonical form hashed for the cache key. One "name=value" line per
 * input, prompts length-prefixed (so no prompt text can imitate a line),
 * numbers in fixed formats. Bump "tav-cache-v1" if this form changes. */
void tav_kiosk_cache_key(const tav_kiosk_job_params *p, const char *model_checksum,
                         char hex[TAV_KIOSK_KEY_HEX])
{
    tav_sha256_ctx c;
    tav_sha256_init(&c);
    char line[128];
    int n = snprintf(line, sizeof line, "tav-cache-v1\nengine=%s\nmodel=%zu:", TAV_VERSION_STRING,
                     strlen(model_checksum ? model_checksum : ""));
    tav_sha256_update(&c, line, (size_t)n);
    if (model_checksum)
        tav_sha256_update(&c, model_checksum, strlen(model_checksum));
    n = snprintf(line, sizeof line, "\nseed=%llu\nsteps=%d\nwidth=%d\nheight=%d\nfps=%d\nscenes=%d\n",
                 (unsigned long long)p->seed, p->steps, p->width, p->height, p->fps, p->n_scenes);
    tav_sha256_update(&c, line, (size_t)n);
    for (int i = 0; i < p->n_scenes; i++) {
        size_t len = strnlen(p->scenes[i], sizeof p->scenes[i]);
        n = snprintf(line, sizeof line, "scene=%.3f:%zu:", p->seconds[i], len);
        tav_sha256_update(&c, line, (size_t)n);
        tav_sha256_update(&c, p->scenes[i], len);
        tav_sha256_update(&c, "\n", 1);
    }
    uint8_t d[TAV_SHA256_BYTES];
    tav_sha256_final(&c, d);
    tav_sha256_hex(d, hex);
}
