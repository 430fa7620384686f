/* server.c — HTTP routes of the kiosk: JSON API, SSE progress, job files, the page. */
#include "kiosk/server.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/version.h"
#include "kiosk/json.h"
#include "kiosk/template.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tav_kiosk_server {
    struct MHD_Daemon *d;
    tav_kiosk_store *store;
    tav_kiosk_worker *worker;
    char token[256];
    char web_dir[1024];
    char templates_dir[1024];
    char checksum[128];
    int engine_available;
    char engine_status[512];
    tav_kiosk_check_fn check;
    void *check_ctx;
    atomic_int stopping;
    int port;
};

tav_kiosk_server_params tav_kiosk_server_default_params(void)
{
    tav_kiosk_server_params p = {0};
    p.bind = "127.0.0.1";
    p.port = 8080;
    p.web_dir = "assets/web";
    p.templates_dir = "assets/templates";
    p.model_checksum = "none";
    p.engine_status = "engine not built yet";
    return p;
}

/* ---------------------------------------------------------------- replies */

typedef struct request {
    tav_buf body;
    int too_big;
} request;

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned code, const char *type,
                                const char *data, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(data ? data : ""), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, tav_buf *b)
{
    if (b->failed)
        return send_buf(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    return send_buf(c, code, "application/json", b->data, b->len);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
    tav_buf b = {0};
    tav_buf_puts(&b, "{\"error\":");
    tav_json_put_string(&b, msg);
    tav_buf_puts(&b, "}");
    enum MHD_Result r = send_json(c, code, &b);
    tav_buf_free(&b);
    return r;
}

static unsigned status_code(tav_status st)
{
    switch (st) {
    case TAV_ERR_NOT_FOUND: return 404;
    case TAV_ERR_INVALID_ARG:
    case TAV_ERR_FORMAT: return 400;
    case TAV_ERR_LIMIT: return 413;
    default: return 500;
    }
}

/* ---------------------------------------------------------------- JSON of things */

static void put_template(tav_buf *b, const tav_template *t)
{
    static const char *const types[] = {"text", "number", "choice"};
    tav_buf_puts(b, "{\"id\":");
    tav_json_put_string(b, t->id);
    tav_buf_puts(b, ",\"title\":");
    tav_json_put_string(b, t->title);
    tav_buf_puts(b, ",\"description\":");
    tav_json_put_string(b, t->description);
    tav_buf_puts(b, ",\"fields\":[");
    for (int i = 0; i < t->n_fields; i++) {
        const tav_template_field *f = &t->fields[i];
        tav_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        tav_json_put_string(b, f->name);
        tav_buf_puts(b, ",\"label\":");
        tav_json_put_string(b, f->label);
        tav_buf_printf(b, ",\"type\":\"%s\",\"required\":%s", types[f->type],
                       f->required ? "true" : "false");
        if (f->has_min)
            tav_buf_printf(b, ",\"min\":%.17g", f->min);
        if (f->has_max)
            tav_buf_printf(b, ",\"max\":%.17g", f->max);
        if (f->type == TAV_FIELD_NUMBER)
            tav_buf_printf(b, ",\"integer\":%s", f->integer ? "true" : "false");
        if (f->type == TAV_FIELD_TEXT)
            tav_buf_printf(b, ",\"max_length\":%d", f->max_length);
        if (f->pattern) {
            tav_buf_puts(b, ",\"pattern\":");
            tav_json_put_string(b, f->pattern);
        }
        if (f->n_choices) {
            tav_buf_puts(b, ",\"choices\":[");
            for (int k = 0; k < f->n_choices; k++) {
                if (k)
                    tav_buf_puts(b, ",");
                tav_json_put_string(b, f->choices[k]);
            }
            tav_buf_puts(b, "]");
        }
        tav_buf_puts(b, ",\"default\":");
        tav_json_put_string(b, f->default_value);
        tav_buf_puts(b, ",\"help\":");
        tav_json_put_string(b, f->help);
        tav_buf_puts(b, ",\"example\":");
        tav_json_put_string(b, f->example);
        tav_buf_puts(b, "}");
    }
    tav_buf_puts(b, "],\"steps\":[");
    for (int i = 0; i < t->n_steps; i++) {
        tav_buf_puts(b, i ? ",{\"caption\":" : "{\"caption\":");
        tav_json_put_string(b, t->steps[i].caption);
        tav_buf_printf(b, ",\"seconds\":%.17g}", t->steps[i].seconds);
    }
    tav_buf_puts(b, "]}");
}

static void put_job(tav_buf *b, tav_kiosk_server *srv, const tav_kiosk_job *j)
{
    tav_buf_printf(b, "{\"id\":%" PRId64 ",\"state\":\"%s\",\"template\":", j->id,
                   tav_job_state_str(j->state));
    tav_json_put_string(b, j->template_id);
    tav_buf_puts(b, ",\"summary\":");
    tav_json_put_string(b, j->summary);
    tav_buf_printf(b,
                   ",\"created\":%.3f,\"started\":%.3f,\"finished\":%.3f,\"attempts\":%d,"
                   "\"cache_hit\":%s,\"key\":\"%s\",\"error\":",
                   j->created, j->started, j->finished, j->attempts,
                   j->cache_hit ? "true" : "false", j->key);
    tav_json_put_string(b, j->state == TAV_JOB_FAILED || j->state == TAV_JOB_CANCELLED ? j->error
                                                                                        : "");
    /* params_json was written by tav_kiosk_job_params_to_json: valid JSON */
    tav_buf_puts(b, ",\"params\":");
    tav_buf_puts(b, j->params_json && j->params_json[0] ? j->params_json : "null");
    if (j->state == TAV_JOB_DONE && j->has_files)
        tav_buf_printf(b,
                       ",\"files\":{\"video\":\"/api/jobs/%" PRId64 "/video\",\"sheet\":"
                       "\"/api/jobs/%" PRId64 "/sheet\",\"thumb\":\"/api/jobs/%" PRId64 "/thumb\"}",
                       j->id, j->id, j->id);
    else
        tav_buf_puts(b, ",\"files\":null");
    tav_kiosk_progress p;
    if (j->state == TAV_JOB_RUNNING && tav_kiosk_worker_progress(srv->worker, j->id, &p))
        tav_buf_printf(b, ",\"progress\":{\"stage\":\"%s\",\"step\":%d,\"total\":%d,\"eta\":%.2f}",
                       p.stage, p.step, p.total, p.eta_seconds);
    if (j->state == TAV_JOB_PENDING) {
        int ahead = 0;
        tav_kiosk_store_queue_position(srv->store, j->id, &ahead);
        tav_buf_printf(b, ",\"queue_ahead\":%d", ahead);
    }
    tav_buf_puts(b, "}");
}

/* ---------------------------------------------------------------- templates */

static tav_status find_template(tav_kiosk_server *srv, const char *id, tav_template **out)
{
    *out = NULL;
    tav_template **list;
    int n;
    tav_status st = tav_template_load_dir(srv->templates_dir, &list, &n);
    if (st != TAV_OK)
        return st;
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i]->id, id)) {
            *out = list[i];
            list[i] = list[n - 1];
            n--;
            break;
        }
    tav_template_list_free(list, n);
    return *out ? TAV_OK : tav_fail(TAV_ERR_NOT_FOUND, "there is no procedure '%.64s'", id);
}

static enum MHD_Result api_templates(tav_kiosk_server *srv, struct MHD_Connection *c)
{
    tav_template **list;
    int n;
    if (tav_template_load_dir(srv->templates_dir, &list, &n) != TAV_OK)
        return send_error(c, 500, tav_last_error());
    tav_buf b = {0};
    tav_buf_puts(&b, "{\"templates\":[");
    for (int i = 0; i < n; i++) {
        if (i)
            tav_buf_puts(&b, ",");
        put_template(&b, list[i]);
    }
    tav_buf_puts(&b, "]}");
    tav_template_list_free(list, n);
    enum MHD_Result r = send_json(c, 200, &b);
    tav_buf_free(&b);
    return r;
}

/* Fills template `tid` with the "values" object; on field errors writes the
 * 422 reply body into err and returns TAV_ERR_INVALID_ARG. */
static tav_status fill_from_json(tav_kiosk_server *srv, const char *tid, const tav_json *values,
                                 tav_template_filled *f, tav_buf *err)
{
    memset(f, 0, sizeof *f);
    tav_template *t;
    tav_status st = find_template(srv, tid, &t);
    if (st != TAV_OK)
        return st;
    tav_template_kv kv[TAV_TEMPLATE_MAX_FIELDS + 8];
    char nums[TAV_TEMPLATE_MAX_FIELDS + 8][40];
    int n = 0;
    if (values && values->type == TAV_JSON_OBJECT) {
        for (const tav_json *v = values->child; v && n < TAV_TEMPLATE_MAX_FIELDS + 8; v = v->next) {
            kv[n].key = v->key;
            if (v->type == TAV_JSON_STRING)
                kv[n].value = v->str;
            else if (v->type == TAV_JSON_NUMBER) {
                snprintf(nums[n], sizeof nums[n], "%.17g", v->num);
                kv[n].value = nums[n];
            } else if (v->type == TAV_JSON_NULL)
                kv[n].value = "";
            else {
                tav_template_free(t);
                return tav_fail(TAV_ERR_INVALID_ARG, "value of '%.32s' must be text or a number", v->key);
            }
            n++;
        }
    } else if (values && values->type != TAV_JSON_NULL) {
        tav_template_free(t);
        return tav_fail(TAV_ERR_INVALID_ARG, "values must be an object of field: value");
    }
    st = tav_template_fill(t, kv, n, f);
    tav_template_free(t);
    if (st == TAV_ERR_INVALID_ARG && f->n_errors) {
        tav_buf_puts(err, "{\"error\":");
        tav_json_put_string(err, "Some fields need attention.");
        tav_buf_puts(err, ",\"errors\":[");
        for (int i = 0; i < f->n_errors; i++) {
            tav_buf_puts(err, i ? ",{\"field\":" : "{\"field\":");
            tav_json_put_string(err, f->errors[i].field);
            tav_buf_puts(err, ",\"message\":");
            tav_json_put_string(err, f->errors[i].message);
            tav_buf_puts(err, "}");
        }
        tav_buf_puts(err, "]}");
    }
    return st;
}

static const char *json_str(const tav_json *root, const char *key)
{
    const tav_json *v = tav_json_get(root, key);
    return v && v->type == TAV_JSON_STRING ? v->str : NULL;
}

static enum MHD_Result api_fill(tav_kiosk_server *srv, struct MHD_Connection *c,
                                const tav_json *root)
{
    const char *tid = json_str(root, "template");
    if (!tid)
        return send_error(c, 400, "template (the procedure's id) is missing");
    tav_template_filled f;
    tav_buf b = {0};
    tav_status st = fill_from_json(srv, tid, tav_json_get(root, "values"), &f, &b);
    enum MHD_Result r;
    if (st == TAV_OK) {
        tav_buf_puts(&b, "{\"prompts\":[");
        for (int i = 0; i < f.n_prompts; i++) {
            if (i)
                tav_buf_puts(&b, ",");
            tav_json_put_string(&b, f.prompts[i]);
        }
        tav_buf_puts(&b, "],\"seconds\":[");
        for (int i = 0; i < f.n_prompts; i++)
            tav_buf_printf(&b, "%s%.17g", i ? "," : "", f.seconds[i]);
        tav_buf_puts(&b, "],\"summary\":");
        tav_json_put_string(&b, f.summary);
        tav_buf_puts(&b, "}");
        r = send_json(c, 200, &b);
    } else if (b.len) {
        r = send_json(c, 422, &b);
    } else {
        r = send_error(c, status_code(st), tav_last_error());
    }
    tav_template_filled_free(&f);
    tav_buf_free(&b);
    return r;
}

/* ---------------------------------------------------------------- jobs */

static uint64_t random_seed(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    return v & 0x7fffffffu; /* short enough to read out and type back */
}

/* Job params from {"template", "values", options...}: fills the template.
 * On field errors writes the 422 body into err. */
static tav_status params_from_template(tav_kiosk_server *srv, const tav_json *root,
                                       const char *tid, tav_kiosk_job_params *jp, tav_buf *err)
{
    tav_template_filled f;
    tav_status st = fill_from_json(srv, tid, tav_json_get(root, "values"), &f, err);
    if (st != TAV_OK) {
        tav_template_filled_free(&f);
        return st;
    }
    /* Through the JSON form, so the bounds are checked exactly as for edited prompts. */
    tav_buf b = {0};
    tav_buf_puts(&b, "{\"prompts\":[");
    for (int i = 0; i < f.n_prompts; i++) {
        if (i)
            tav_buf_puts(&b, ",");
        tav_json_put_string(&b, f.prompts[i]);
    }
    tav_buf_puts(&b, "],\"seconds\":[");
    for (int i = 0; i < f.n_prompts; i++)
        tav_buf_printf(&b, "%s%.17g", i ? "," : "", f.seconds[i]);
    tav_buf_puts(&b, "]}");
    tav_json_doc *pd = NULL;
    st = b.failed ? tav_fail(TAV_ERR_NOMEM, "out of memory") : tav_json_parse(b.data, b.len, &pd);
    if (st == TAV_OK)
        st = tav_kiosk_job_params_from_json(tav_json_root(pd), jp);
    if (st == TAV_OK) {
        snprintf(jp->summary, sizeof jp->summary, "%s", f.summary);
        st = tav_kiosk_job_options_from_json(root, jp); /* seed, steps, size, fps */
    }
    tav_json_free(pd);
    tav_buf_free(&b);
    tav_template_filled_free(&f);
    return st;
}

static enum MHD_Result api_submit(tav_kiosk_server *srv, struct MHD_Connection *c,
                                  tav_json_doc *doc)
{
    const tav_json *root = tav_json_root(doc);
    if (root->type != TAV_JSON_OBJECT)
        return send_error(c, 400, "the job must be a JSON object");
    tav_kiosk_job_params jp;
    tav_buf b = {0};
    tav_status st;
    enum MHD_Result r;
    const char *tid = json_str(root, "template");
    if (!tav_json_get(root, "prompts")) {
        if (!tid)
            return send_error(c, 400, "give either prompts or a template with its values");
        if ((st = params_from_template(srv, root, tid, &jp, &b)) != TAV_OK) {
            r = b.len ? send_json(c, 422, &b) : send_error(c, status_code(st), tav_last_error());
            tav_buf_free(&b);
            return r;
        }
    } else {
        if ((st = tav_kiosk_job_params_from_json(root, &jp)) != TAV_OK)
            return send_error(c, status_code(st), tav_last_error());
        if (!jp.summary[0])
            snprintf(jp.summary, sizeof jp.summary, "%.190s", jp.scenes[0]);
    }
    const tav_json *seed = tav_json_get(root, "seed");
    if (!seed || seed->type == TAV_JSON_NULL)
        jp.seed = random_seed();
    if (tid)
        snprintf(jp.template_id, sizeof jp.template_id, "%s", tid);
    if (srv->check && (st = srv->check(srv->check_ctx, &jp)) != TAV_OK)
        return send_error(c, st == TAV_ERR_UNKNOWN_WORD ? 422 : status_code(st), tav_last_error());

    char key[TAV_KIOSK_KEY_HEX];
    tav_kiosk_cache_key(&jp, srv->checksum, key);
    tav_kiosk_job_params_to_json(&jp, &b);
    if (b.failed) {
        tav_buf_free(&b);
        return send_error(c, 500, "out of memory");
    }
    int64_t id;
    int hit;
    st = tav_kiosk_store_add_job(srv->store, &jp, b.data, key, &id, &hit);
    tav_buf_free(&b);
    if (st != TAV_OK)
        return send_error(c, 500, tav_last_error());
    if (!hit)
        tav_kiosk_worker_wake(srv->worker);
    tav_buf_printf(&b, "{\"id\":%" PRId64 ",\"state\":\"%s\",\"cache_hit\":%s,\"key\":\"%s\",\"seed\":%llu}",
                   id, hit ? "done" : "pending", hit ? "true" : "false", key,
                   (unsigned long long)jp.seed);
    r = send_json(c, 201, &b);
    tav_buf_free(&b);
    return r;
}

/* {"prompts": [...]} -> 200 {"ok": true} or 4xx naming the problem (unknown words,
 * bounds): lets the page check edited scenes before submitting. */
static enum MHD_Result api_check(tav_kiosk_server *srv, struct MHD_Connection *c,
                                 const tav_json *root)
{
    tav_kiosk_job_params jp;
    tav_status st = tav_kiosk_job_params_from_json(root, &jp);
    if (st == TAV_OK && srv->check)
        st = srv->check(srv->check_ctx, &jp);
    if (st != TAV_OK)
        return send_error(c, st == TAV_ERR_UNKNOWN_WORD ? 422 : status_code(st), tav_last_error());
    return send_buf(c, 200, "application/json", "{\"ok\":true}", 11);
}

static enum MHD_Result api_job(tav_kiosk_server *srv, struct MHD_Connection *c, int64_t id)
{
    tav_kiosk_job j;
    tav_status st = tav_kiosk_store_get_job(srv->store, id, &j);
    if (st != TAV_OK)
        return send_error(c, status_code(st), tav_last_error());
    tav_buf b = {0};
    put_job(&b, srv, &j);
    tav_kiosk_job_clear(&j);
    enum MHD_Result r = send_json(c, 200, &b);
    tav_buf_free(&b);
    return r;
}

static enum MHD_Result api_cancel(tav_kiosk_server *srv, struct MHD_Connection *c, int64_t id)
{
    tav_job_state now;
    tav_status st = tav_kiosk_store_cancel_job(srv->store, id, &now);
    if (st != TAV_OK)
        return send_error(c, status_code(st), tav_last_error());
    tav_buf b = {0};
    unsigned code = 200;
    if (now == TAV_JOB_RUNNING) {
        tav_kiosk_worker_cancel(srv->worker, id);
        tav_buf_printf(&b, "{\"id\":%" PRId64 ",\"state\":\"running\",\"cancelling\":true}", id);
        code = 202;
    } else if (now == TAV_JOB_CANCELLED) {
        tav_kiosk_worker_wake(srv->worker); /* event streams see it */
        tav_buf_printf(&b, "{\"id\":%" PRId64 ",\"state\":\"cancelled\"}", id);
    } else {
        tav_buf_printf(&b, "{\"id\":%" PRId64 ",\"state\":\"%s\",\"error\":\"the job has already ended\"}",
                       id, tav_job_state_str(now));
        code = 409;
    }
    enum MHD_Result r = send_json(c, code, &b);
    tav_buf_free(&b);
    return r;
}

static int query_int(struct MHD_Connection *c, const char *name, int dflt, int lo, int hi)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!v || !*v)
        return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi)
        return -1;
    return (int)n;
}

static enum MHD_Result api_history(tav_kiosk_server *srv, struct MHD_Connection *c)
{
    int offset = query_int(c, "offset", 0, 0, 1000000000);
    int limit = query_int(c, "limit", 20, 1, 100);
    if (offset < 0 || limit < 0)
        return send_error(c, 400, "offset must be >= 0 and limit from 1 to 100");
    tav_kiosk_job *jobs;
    int n, total;
    tav_status st = tav_kiosk_store_history(srv->store, offset, limit, &jobs, &n, &total);
    if (st != TAV_OK)
        return send_error(c, status_code(st), tav_last_error());
    tav_buf b = {0};
    tav_buf_printf(&b, "{\"total\":%d,\"offset\":%d,\"limit\":%d,\"jobs\":[", total, offset, limit);
    for (int i = 0; i < n; i++) {
        if (i)
            tav_buf_puts(&b, ",");
        put_job(&b, srv, &jobs[i]);
        tav_kiosk_job_clear(&jobs[i]);
    }
    tav_free(jobs);
    tav_buf_puts(&b, "]}");
    enum MHD_Result r = send_json(c, 200, &b);
    tav_buf_free(&b);
    return r;
}

static enum MHD_Result api_status(tav_kiosk_server *srv, struct MHD_Connection *c)
{
    int64_t bytes = 0;
    int entries = 0;
    tav_kiosk_store_cache_usage(srv->store, &bytes, &entries);
    tav_buf b = {0};
    tav_buf_printf(&b, "{\"version\":\"%s\",\"engine\":%s,\"engine_status\":", TAV_VERSION_STRING,
                   srv->engine_available ? "true" : "false");
    tav_json_put_string(&b, srv->engine_status);
    tav_buf_printf(&b, ",\"cache_bytes\":%" PRId64 ",\"cache_entries\":%d,\"model\":", bytes, entries);
    tav_json_put_string(&b, srv->checksum);
    tav_buf_puts(&b, "}");
    enum MHD_Result r = send_json(c, 200, &b);
    tav_buf_free(&b);
    return r;
}

/* ---------------------------------------------------------------- files */

static enum MHD_Result send_file(struct MHD_Connection *c, const char *path, const char *type,
                                 int allow_range)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return send_error(c, 404, "the file is not there");
    }
    uint64_t size = (uint64_t)st.st_size, from = 0, to = size ? size - 1 : 0;
    unsigned code = 200;
    const char *range = allow_range ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range") : NULL;
    if (range && size > 0) {
        unsigned long long a = 0, z = 0;
        int n = 0;
        if (sscanf(range, "bytes=%llu-%n", &a, &n) == 1 && n > 0) {
            if (range[n] && sscanf(range + n, "%llu", &z) == 1 && z < size)
                to = z;
            if (a <= to) {
                from = a;
                code = 206;
            }
        }
        if (code != 206) {
            close(fd);
            struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
            MHD_add_response_header(r, "Content-Range", cr);
            enum MHD_Result ok = MHD_queue_response(c, 416, r);
            MHD_destroy_response(r);
            return ok;
        }
    }
    struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(to - from + 1 - (size == 0), fd, from);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (allow_range) {
        MHD_add_response_header(r, "Accept-Ranges", "bytes");
        MHD_add_response_header(r, "Cache-Control", "private, max-age=3600");
    } else {
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; media-src 'self'; "
                                "object-src 'none'; frame-ancestors 'none'");
    }
    if (code == 206) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from,
                 (unsigned long long)to, (unsigned long long)size);
        MHD_add_response_header(r, "Content-Range", cr);
    }
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result job_file(tav_kiosk_server *srv, struct MHD_Connection *c, int64_t id,
                                const char *what)
{
    tav_kiosk_file f;
    const char *type;
    if (!strcmp(what, "video")) {
        f = TAV_KIOSK_FILE_VIDEO;
        type = "video/mp4";
    } else if (!strcmp(what, "sheet")) {
        f = TAV_KIOSK_FILE_SHEET;
        type = "image/png";
    } else {
        f = TAV_KIOSK_FILE_THUMB;
        type = "image/jpeg";
    }
    char path[3200];
    tav_status st = tav_kiosk_store_job_file(srv->store, id, f, path, sizeof path);
    if (st != TAV_OK)
        return send_error(c, status_code(st), tav_last_error());
    return send_file(c, path, type, 1);
}

/* The page's own files: a fixed name pattern, never a path. */
static enum MHD_Result static_file(tav_kiosk_server *srv, struct MHD_Connection *c, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return send_error(c, 404, "no such page");
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
              ch == '.'))
            return send_error(c, 404, "no such page");
    }
    if (name[0] == '.' || strstr(name, ".."))
        return send_error(c, 404, "no such page");
    const char *dot = strrchr(name, '.');
    const char *type = NULL;
    if (dot && !strcmp(dot, ".html"))
        type = "text/html; charset=utf-8";
    else if (dot && !strcmp(dot, ".css"))
        type = "text/css; charset=utf-8";
    else if (dot && !strcmp(dot, ".js"))
        type = "text/javascript; charset=utf-8";
    else if (dot && !strcmp(dot, ".svg"))
        type = "image/svg+xml";
    else if (dot && !strcmp(dot, ".png"))
        type = "image/png";
    if (!type)
        return send_error(c, 404, "no such page");
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", srv->web_dir, name);
    return send_file(c, path, type, 0);
}

/* ---------------------------------------------------------------- SSE */

typedef struct sse {
    tav_kiosk_server *srv;
    int64_t job;
    tav_buf out;
    size_t sent;
    uint64_t seq;
    int last_step, last_total, last_ahead, ended;
    time_t last_write;
} sse;

/* Appends whatever changed since the last look at the job. */
static void sse_poll(sse *s)
{
    tav_kiosk_job j;
    if (tav_kiosk_store_get_job(s->srv->store, s->job, &j) != TAV_OK) {
        tav_buf_printf(&s->out, "event: failed\ndata: {\"job\":%" PRId64 ",\"error\":", s->job);
        tav_json_put_string(&s->out, tav_last_error());
        tav_buf_puts(&s->out, "}\n\n");
        s->ended = 1;
        return;
    }
    switch (j.state) {
    case TAV_JOB_PENDING: {
        int ahead = 0;
        tav_kiosk_store_queue_position(s->srv->store, j.id, &ahead);
        if (ahead != s->last_ahead)
            tav_buf_printf(&s->out, "event: queued\ndata: {\"job\":%" PRId64 ",\"ahead\":%d}\n\n",
                           j.id, ahead);
        s->last_ahead = ahead;
        break;
    }
    case TAV_JOB_RUNNING: {
        tav_kiosk_progress p;
        if (!tav_kiosk_worker_progress(s->srv->worker, j.id, &p))
            memset(&p, 0, sizeof p), p.eta_seconds = -1;
        if (p.step != s->last_step || p.total != s->last_total)
            tav_buf_printf(&s->out,
                           "event: progress\ndata: {\"job\":%" PRId64 ",\"stage\":\"%s\",\"step\":%d,"
                           "\"total\":%d,\"eta\":%.2f}\n\n",
                           j.id, p.stage, p.step, p.total, p.eta_seconds);
        s->last_step = p.step;
        s->last_total = p.total;
        break;
    }
    case TAV_JOB_DONE:
        tav_buf_printf(&s->out,
                       "event: done\ndata: {\"job\":%" PRId64 ",\"cache_hit\":%s,\"video\":\"/api/jobs/%" PRId64
                       "/video\",\"sheet\":\"/api/jobs/%" PRId64 "/sheet\",\"thumb\":\"/api/jobs/%" PRId64
                       "/thumb\"}\n\n",
                       j.id, j.cache_hit ? "true" : "false", j.id, j.id, j.id);
        s->ended = 1;
        break;
    case TAV_JOB_FAILED:
    case TAV_JOB_CANCELLED:
        tav_buf_printf(&s->out, "event: %s\ndata: {\"job\":%" PRId64 ",\"error\":",
                       tav_job_state_str(j.state), j.id);
        tav_json_put_string(&s->out, j.error);
        tav_buf_puts(&s->out, "}\n\n");
        s->ended = 1;
        break;
    }
    tav_kiosk_job_clear(&j);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse *s = cls;
    for (;;) {
        if (s->out.failed)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (s->sent < s->out.len) {
            size_t n = s->out.len - s->sent;
            if (n > max)
                n = max;
            memcpy(buf, s->out.data + s->sent, n);
            s->sent += n;
            s->last_write = time(NULL);
            return (ssize_t)n;
        }
        s->out.len = 0;
        s->sent = 0;
        if (s->ended || atomic_load(&s->srv->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        sse_poll(s);
        if (s->out.len)
            continue;
        s->seq = tav_kiosk_worker_wait(s->srv->worker, s->seq, 1000);
        if (time(NULL) - s->last_write >= 5) /* also finds hung-up clients */
            tav_buf_puts(&s->out, ": keep-alive\n\n");
    }
}

static void sse_free(void *cls)
{
    sse *s = cls;
    tav_buf_free(&s->out);
    tav_free(s);
}

static enum MHD_Result api_events(tav_kiosk_server *srv, struct MHD_Connection *c, int64_t id)
{
    tav_kiosk_job j;
    tav_status st = tav_kiosk_store_get_job(srv->store, id, &j);
    if (st != TAV_OK)
        return send_error(c, status_code(st), tav_last_error());
    tav_kiosk_job_clear(&j);
    sse *s = tav_calloc(1, sizeof *s);
    if (!s)
        return send_error(c, 500, "out of memory");
    s->srv = srv;
    s->job = id;
    s->last_step = s->last_total = s->last_ahead = -1;
    s->last_write = time(NULL);
    tav_buf_puts(&s->out, "retry: 2000\n\n");
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
    if (!r) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---------------------------------------------------------------- routing */

static int token_ok(tav_kiosk_server *srv, struct MHD_Connection *c)
{
    if (!srv->token[0])
        return 1;
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Tav-Token");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!t && auth && !strncmp(auth, "Bearer ", 7))
        t = auth + 7;
    if (!t)
        t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (!t)
        return 0;
    size_t a = strlen(t), b = strlen(srv->token);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < b; i++) /* constant time in the token's length */
        diff |= (unsigned)(unsigned char)srv->token[i] ^ (unsigned)(unsigned char)(i < a ? t[i] : 0);
    return diff == 0;
}

/* "/api/jobs/123[/rest]": parses the id, points *rest at "" or "rest". */
static int parse_job_url(const char *url, int64_t *id, const char **rest)
{
    const char *p = url + strlen("/api/jobs/");
    int64_t v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 15) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (!digits || v <= 0)
        return 0;
    if (*p == '/')
        p++;
    else if (*p)
        return 0;
    *id = v;
    *rest = p;
    return 1;
}

static enum MHD_Result route(tav_kiosk_server *srv, struct MHD_Connection *c, const char *url,
                             const char *method, request *req)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int post = !strcmp(method, "POST");
    if (!token_ok(srv, c))
        return send_error(c, 401, "this kiosk needs its access token (ask the supervisor)");
    if (req->too_big)
        return send_error(c, 413, "the request is too large");
    if (post) {
        /* Only JSON is accepted: a page from elsewhere cannot send that type
         * cross-origin without a CORS preflight, which this server never grants. */
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16) != 0)
            return send_error(c, 415, "send JSON (Content-Type: application/json)");
    }

    if (get && (!strcmp(url, "/") || !strcmp(url, "/index.html")))
        return static_file(srv, c, "index.html");
    if (get && !strcmp(url, "/api/status"))
        return api_status(srv, c);
    if (get && !strcmp(url, "/api/templates"))
        return api_templates(srv, c);
    if (get && !strcmp(url, "/api/history"))
        return api_history(srv, c);
    if (!strncmp(url, "/api/jobs/", 10)) {
        int64_t id;
        const char *rest;
        if (!parse_job_url(url, &id, &rest))
            return send_error(c, 404, "no such job");
        if (get && !*rest)
            return api_job(srv, c, id);
        if (get && !strcmp(rest, "events"))
            return api_events(srv, c, id);
        if (get && (!strcmp(rest, "video") || !strcmp(rest, "sheet") || !strcmp(rest, "thumb")))
            return job_file(srv, c, id, rest);
        if (post && !strcmp(rest, "cancel"))
            return api_cancel(srv, c, id);
        return send_error(c, 404, "no such address");
    }
    if (post && (!strcmp(url, "/api/fill") || !strcmp(url, "/api/jobs") ||
                 !strcmp(url, "/api/check"))) {
        tav_json_doc *doc;
        if (tav_json_parse(req->body.data ? req->body.data : "", req->body.len, &doc) != TAV_OK)
            return send_error(c, 400, tav_last_error());
        enum MHD_Result r = !strcmp(url, "/api/fill")    ? api_fill(srv, c, tav_json_root(doc))
                            : !strcmp(url, "/api/check") ? api_check(srv, c, tav_json_root(doc))
                                                         : api_submit(srv, c, doc);
        tav_json_free(doc);
        return r;
    }
    if (get && !strncmp(url, "/api/", 5))
        return send_error(c, 404, "no such address");
    if (get && url[0] == '/' && !strchr(url + 1, '/'))
        return static_file(srv, c, url + 1);
    if (!get && !post)
        return send_error(c, 405, "method not allowed");
    return send_error(c, 404, "no such page");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    tav_kiosk_server *srv = cls;
    request *req = *con_cls;
    if (!req) {
        req = tav_calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!req->too_big && req->body.len + *upload_size <= TAV_KIOSK_MAX_BODY)
            tav_buf_append(&req->body, upload, *upload_size);
        else
            req->too_big = 1; /* keep reading, answer 413 at the end */
        *upload_size = 0;
        return MHD_YES;
    }
    return route(srv, c, url, method, req);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request *req = *con_cls;
    if (!req)
        return;
    tav_buf_free(&req->body);
    tav_free(req);
    *con_cls = NULL;
}

/* ---------------------------------------------------------------- start / stop */

/* libmicrohttpd's own messages (clients that hang up early, ...) at debug level. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    if (tav_log_get_level() < TAV_LOG_DEBUG)
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    TAV_LOG_DEBUG("http: %s", msg);
}

tav_status tav_kiosk_server_start(const tav_kiosk_server_params *hp, tav_kiosk_store *store,
                                  tav_kiosk_worker *worker, tav_kiosk_server **out)
{
    *out = NULL;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    const char *bind_addr = hp->bind ? hp->bind : "127.0.0.1";
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
        return tav_fail(TAV_ERR_INVALID_ARG, "'%s' is not an IPv4 address", bind_addr);
    if (hp->port < 0 || hp->port > 65535)
        return tav_fail(TAV_ERR_INVALID_ARG, "port must be 0..65535");
    sa.sin_port = htons((uint16_t)hp->port);
    int loopback = (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
    const char *token = hp->token ? hp->token : "";
    if (!loopback && !token[0])
        return tav_fail(TAV_ERR_INVALID_ARG,
                        "binding %s makes the kiosk reachable from the network: give --token", bind_addr);
    if (strlen(token) >= 256)
        return tav_fail(TAV_ERR_INVALID_ARG, "the token is longer than 255 characters");

    tav_kiosk_server *srv = tav_calloc(1, sizeof *srv);
    if (!srv)
        return tav_fail(TAV_ERR_NOMEM, "out of memory starting the server");
    srv->store = store;
    srv->worker = worker;
    snprintf(srv->token, sizeof srv->token, "%s", token);
    snprintf(srv->web_dir, sizeof srv->web_dir, "%s", hp->web_dir ? hp->web_dir : "assets/web");
    snprintf(srv->templates_dir, sizeof srv->templates_dir, "%s",
             hp->templates_dir ? hp->templates_dir : "assets/templates");
    snprintf(srv->checksum, sizeof srv->checksum, "%s", hp->model_checksum ? hp->model_checksum : "none");
    srv->engine_available = hp->engine_available;
    srv->check = hp->check;
    srv->check_ctx = hp->check_ctx;
    snprintf(srv->engine_status, sizeof srv->engine_status, "%s",
             hp->engine_status ? hp->engine_status : "");
    atomic_init(&srv->stopping, 0);

    srv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                  MHD_USE_ERROR_LOG,
                              (uint16_t)hp->port, NULL, NULL, on_request, srv,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)TAV_KIOSK_MAX_CONNECTIONS,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                              MHD_OPTION_END);
    if (!srv->d) {
        tav_free(srv);
        return tav_fail(TAV_ERR_IO, "cannot listen on %s:%d (port in use, or not allowed)",
                        bind_addr, hp->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : hp->port;
    *out = srv;
    return TAV_OK;
}

int tav_kiosk_server_port(const tav_kiosk_server *srv) { return srv->port; }

void tav_kiosk_server_stop(tav_kiosk_server *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->stopping, 1);
    MHD_stop_daemon(srv->d);
    tav_free(srv);
}
