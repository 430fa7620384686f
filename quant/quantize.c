/* quantize.c — the rule for what goes int8, and the fp32 -> int8 model file conversion. */
#include "quant/quant_priv.h"

#include "core/mem.h"
#include "simd/simd.h"

#include <fnmatch.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

tav_quant_params tav_quant_default_params(void)
{
    tav_quant_params p = {
        .max_nmse = TAV_QUANT_DEFAULT_MAX_NMSE,
        .max_weight_nmse = TAV_QUANT_DEFAULT_MAX_WEIGHT_NMSE,
        .calibrate = 1,
    };
    return p;
}

/* ---------------------------------------------------------------- the static rule */

/* The model's first and last layers (docs/model.md): the DiT's patch
 * embedding and output projection, the decoder's input and output convs.
 * The first ones see the raw latents; the last ones write the velocity and
 * the pixels, so their errors reach the output with nothing after them to
 * average them out. Measured effect: docs/quantization.md. */
static const char *const first_last_layers[] = {
    "dit.patch_in.*", "dit.patch_out.*", "ae.dec.conv_in.*", "ae.dec.conv_out.*",
    "ae.enc.conv_in.*", "ae.enc.conv_out.*",
};
/* Lookup tables, not products: tok_emb, scene_emb, pos_emb, dit.pos_s. */
static const char *const table_patterns[] = {"*emb*", "*.pos_*"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int match_any(const char *name, const char *const *pats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pats[i] && fnmatch(pats[i], name, 0) == 0)
            return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int tav_quant_rule_check(const tav_tensor_view *t, const tav_quant_params *p, const char **reason)
{
    const char *why = "int8: Linear weight";
    int cand = 0;
    if (t->dtype == TAV_DTYPE_S8)
        why = "already int8";
    else if (t->dtype != TAV_DTYPE_F32 && t->dtype != TAV_DTYPE_F16)
        why = "unknown dtype";
    else if (t->ndim == 1)
        why = "1-D: norm, bias or statistics";
    else if (!(p && p->int8_first_last) &&
             match_any(t->name, first_last_layers, N_OF(first_last_layers)))
        why = "first/last layer";
    else if (match_any(t->name, table_patterns, N_OF(table_patterns)))
        why = "embedding or positional table";
    else if (p && p->keep && match_any(t->name, p->keep, p->n_keep))
        why = "--keep pattern";
    else if ((t->ndim != 2 && t->ndim != 4) || !ends_with(t->name, ".weight"))
        why = "not a Linear or conv weight";
    else if (t->n_elems / (size_t)t->shape[0] > TAV_GEMM_MAX_K || t->shape[0] > 0x7fffffff)
        why = "k beyond the int8 GEMM's exact range";
    else {
        cand = 1;
        if (t->ndim == 4)
            why = "int8: conv weight (im2col linear)";
    }
    if (reason)
        *reason = why;
    return cand;
}

/* ---------------------------------------------------------------- weights */

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0    ? ldexpf((float)m, -24)
              : e == 31 ? (m ? NAN : INFINITY)
                        : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* The tensor's values as floats: a tav_malloc'd copy (f16 converted). */
static float *tensor_floats(const tav_tensor_view *t)
{
    float *w = tav_malloc_array(t->n_elems, sizeof(float));
    if (!w)
        return NULL;
    if (t->dtype == TAV_DTYPE_F32) {
        memcpy(w, t->data, t->n_elems * sizeof(float));
    } else {
        const uint16_t *h = t->data;
        for (size_t i = 0; i < t->n_elems; i++)
            w[i] = half_to_float(h[i]);
    }
    return w;
}

/* Quantises a 2-D/4-D float tensor as rows = shape[0] output channels and
 * measures the weight NMSE, whole and per row. On success *q and *s own the
 * int8 rows and scales. */
static tav_status quantise_weight(const tav_tensor_view *t, tav_quant_layer *L, int8_t **q,
                                  float **s)
{
    size_t rows = (size_t)t->shape[0], k = t->n_elems / rows;
    float *w = tensor_floats(t);
    float *deq = tav_malloc_array(k, sizeof(float));
    *q = tav_malloc(t->n_elems);
    *s = tav_malloc_array(rows, sizeof(float));
    tav_status st = TAV_OK;
    if (!w || !deq || !*q || !*s) {
        st = tav_fail(TAV_ERR_NOMEM, "out of memory quantising '%s'", t->name);
        goto done;
    }
    st = tav_quant_encode_rows(*q, *s, w, rows, k);
    if (st) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", tav_last_error());
        st = tav_fail(st, "tensor '%s': %s", t->name, msg);
        goto done;
    }
    double err = 0.0, pow = 0.0, worst = 0.0;
    for (size_t r = 0; r < rows; r++) {
        tav_quant_decode_rows(deq, *q + r * k, *s + r, 1, k);
        double e = 0.0, pw = 0.0;
        for (size_t j = 0; j < k; j++) {
            double ref = w[r * k + j], d = (double)deq[j] - ref;
            e += d * d;
            pw += ref * ref;
        }
        double rn = pw == 0.0 ? (e == 0.0 ? 0.0 : INFINITY) : e / pw;
        worst = fmax(worst, rn);
        err += e;
        pow += pw;
    }
    L->weight_nmse = pow == 0.0 ? (err == 0.0 ? 0.0 : INFINITY) : err / pow;
    L->weight_nmse_max = worst;
done:
    if (st) {
        tav_free(*q);
        tav_free(*s);
        *q = NULL;
        *s = NULL;
    }
    tav_free(w);
    tav_free(deq);
    return st;
}

/* ---------------------------------------------------------------- checks */

static tav_status check_source(const tav_model *in)
{
    for (size_t i = 0; i < tav_model_meta_count(in); i++) {
        const char *key;
        tav_meta_type type;
        if (tav_model_meta_at(in, i, &key, &type) == TAV_OK && strncmp(key, "quant.", 6) == 0) {
            const char *ver = "?";
            tav_model_meta_get_str(in, "quant.version", &ver);
            tav_clear_error();
            return tav_fail(TAV_ERR_INVALID_ARG,
                            "the model is already quantised (metadata '%s', quantiser '%s'); "
                            "quantise the fp32 model file instead", key, ver);
        }
    }
    for (size_t i = 0; i < tav_model_tensor_count(in); i++) {
        const tav_tensor_view *t = tav_model_tensor_at(in, i);
        if (t->dtype == TAV_DTYPE_S8)
            return tav_fail(TAV_ERR_INVALID_ARG,
                            "the model is already quantised (tensor '%s' is s8); quantise the "
                            "fp32 model file instead", t->name);
    }
    return TAV_OK;
}

static tav_status check_params(const tav_quant_params *p)
{
    if (isnan(p->max_nmse) || isnan(p->max_weight_nmse))
        return tav_fail(TAV_ERR_INVALID_ARG, "NMSE thresholds must be numbers");
    if (p->n_keep && !p->keep)
        return tav_fail(TAV_ERR_INVALID_ARG, "n_keep is %zu but keep is NULL", p->n_keep);
    if (p->n_calib_prompts && !p->calib_prompts)
        return tav_fail(TAV_ERR_INVALID_ARG, "n_calib_prompts is %zu but calib_prompts is NULL",
                        p->n_calib_prompts);
    return TAV_OK;
}

/* ---------------------------------------------------------------- calibration */

/* The fp32 bias of weight tensor t ("x.weight" -> "x.bias"), or NULL. */
static const float *find_bias(const tav_model *in, const tav_tensor_view *t)
{
    char name[TAV_MODEL_MAX_NAME + 8];
    size_t n = strlen(t->name);
    if (n < 7 || n + 1 > sizeof name)
        return NULL;
    memcpy(name, t->name, n - 7);
    memcpy(name + n - 7, ".bias", 6);
    const tav_tensor_view *b = tav_model_tensor_find(in, name);
    if (b && b->dtype == TAV_DTYPE_F32 && b->ndim == 1 && b->shape[0] == t->shape[0])
        return b->data;
    return NULL;
}

/* Measures out_nmse of every candidate; applies p->max_nmse. */
static tav_status calibrate(const tav_model *in, const char *path, const tav_quant_params *p,
                            tav_quant_report *rep, int8_t **q, float **s, int *cand)
{
    if (!p->calibrate) {
        snprintf(rep->calib_note, sizeof rep->calib_note, "not run (disabled)");
        return TAV_OK;
    }
    tav_quant_calib *c;
    tav_status st = tav_quant_calib_init(&c);
    /* Every weight the engine may call as a linear is measured, kept ones
     * too: their out_nmse is what int8 would cost them (docs/quantization.md
     * uses it to justify the static clauses). */
    for (size_t i = 0; !st && i < rep->n_layers; i++) {
        const tav_tensor_view *t = tav_model_tensor_at(in, i);
        if (!q[i] || !ends_with(t->name, ".weight") ||
            t->n_elems / (size_t)t->shape[0] > TAV_GEMM_MAX_K || t->shape[0] > 0x7fffffff)
            continue;
        st = tav_quant_calib_add_layer(c, t->name, q[i], s[i], find_bias(in, t), (int)t->shape[0],
                                       (int)(t->n_elems / (size_t)t->shape[0]));
    }
    if (!st)
        st = tav_quant_calib_run(in, path, p, c, rep->calib_note, sizeof rep->calib_note);
    if (st == TAV_ERR_UNSUPPORTED) { /* no engine in this build: say so, measure nothing */
        tav_clear_error();
        tav_quant_calib_free(c);
        return TAV_OK;
    }
    for (size_t i = 0; !st && i < rep->n_layers; i++) {
        tav_quant_layer *L = &rep->layers[i];
        if (tav_quant_calib_result(c, L->name, &L->out_nmse, &L->out_calls) != TAV_OK) {
            tav_clear_error(); /* not a linear: stays NaN */
            L->out_nmse = NAN;
            L->out_calls = 0;
        }
        if (cand[i] && p->max_nmse > 0 && L->out_calls > 0 && !(L->out_nmse <= p->max_nmse)) {
            cand[i] = 0;
            L->reason = "output NMSE above --max-nmse";
        }
    }
    if (!st)
        rep->calibrated = 1;
    tav_quant_calib_free(c);
    return st;
}

/* ---------------------------------------------------------------- writing */

static tav_status copy_meta(const tav_model *in, tav_model_writer *w)
{
    tav_status st = TAV_OK;
    for (size_t i = 0; !st && i < tav_model_meta_count(in); i++) {
        const char *key;
        tav_meta_type type;
        st = tav_model_meta_at(in, i, &key, &type);
        if (st)
            break;
        if (type == TAV_META_I64) {
            int64_t v;
            st = tav_model_meta_get_i64(in, key, &v);
            if (!st)
                st = tav_model_writer_set_i64(w, key, v);
        } else if (type == TAV_META_F64) {
            double v;
            st = tav_model_meta_get_f64(in, key, &v);
            if (!st)
                st = tav_model_writer_set_f64(w, key, v);
        } else if (type == TAV_META_STR) {
            const char *v;
            st = tav_model_meta_get_str(in, key, &v);
            if (!st)
                st = tav_model_writer_set_str(w, key, v);
        } else {
            const char *const *items;
            size_t n;
            st = tav_model_meta_get_strs(in, key, &items, &n);
            if (!st)
                st = tav_model_writer_set_strs(w, key, items, n);
        }
    }
    return st;
}

static tav_status add_provenance(tav_model_writer *w, const tav_quant_params *p,
                                 const tav_quant_report *rep)
{
    char rule[2048];
    size_t n = (size_t)snprintf(
        rule, sizeof rule,
        "%s: fp32 = 1-D tensors (norms, biases, statistics), embedding/positional tables, "
        "first/last layers (dit.patch_in, dit.patch_out, ae.dec.conv_in, ae.dec.conv_out); "
        "s8 per output channel = other Linear and conv weights unless worst-row weight "
        "NMSE > %g or calibrated output NMSE > %g; keep:",
        TAV_QUANT_RULE_NAME, p->max_weight_nmse > 0 ? p->max_weight_nmse : INFINITY,
        p->max_nmse > 0 ? p->max_nmse : INFINITY);
    for (size_t i = 0; i < p->n_keep && n < sizeof rule; i++)
        n += (size_t)snprintf(rule + n, sizeof rule - n, " %s", p->keep[i]);
    if (p->n_keep == 0 && n < sizeof rule)
        n += (size_t)snprintf(rule + n, sizeof rule - n, " (none)");
    if (p->int8_first_last && n < sizeof rule)
        snprintf(rule + n, sizeof rule - n, "; first/last clause OFF (measurement build)");
    tav_status st = tav_model_writer_set_str(w, "quant.version", TAV_QUANT_VERSION);
    if (!st)
        st = tav_model_writer_set_str(w, "quant.rule", rule);
    if (!st)
        st = tav_model_writer_set_str(w, "quant.source_sha256", rep->source_sha256);
    if (!st)
        st = tav_model_writer_set_str(w, "quant.calibration", rep->calib_note);
    return st;
}

static tav_status add_tensors(const tav_model *in, tav_model_writer *w, tav_quant_report *rep,
                              int8_t **q, float **s, const int *cand)
{
    tav_status st = TAV_OK;
    for (size_t i = 0; !st && i < rep->n_layers; i++) {
        const tav_tensor_view *t = tav_model_tensor_at(in, i);
        tav_quant_layer *L = &rep->layers[i];
        if (cand[i]) {
            st = tav_model_writer_add_tensor(w, t->name, TAV_DTYPE_S8, t->ndim, t->shape, q[i],
                                             s[i]);
            L->dtype_out = TAV_DTYPE_S8;
            L->bytes_out = t->n_elems + (size_t)t->shape[0] * sizeof(float);
            rep->n_s8++;
        } else {
            st = tav_model_writer_add_tensor(w, t->name, t->dtype, t->ndim, t->shape, t->data,
                                             NULL);
            L->dtype_out = t->dtype;
            L->bytes_out = t->n_bytes;
        }
        rep->bytes_out += L->bytes_out;
    }
    return st;
}

/* ---------------------------------------------------------------- conversion */

static tav_status convert(const tav_model *in, const char *path, const tav_quant_params *p,
                          tav_model_writer *w, tav_quant_report *rep)
{
    tav_status st = check_params(p);
    if (!st)
        st = check_source(in);
    if (st)
        return st;
    size_t n = tav_model_tensor_count(in);
    snprintf(rep->source_sha256, sizeof rep->source_sha256, "%s", tav_model_checksum_hex(in));
    rep->layers = tav_calloc(n ? n : 1, sizeof *rep->layers);
    int8_t **q = tav_calloc(n ? n : 1, sizeof *q);
    float **s = tav_calloc(n ? n : 1, sizeof *s);
    int *cand = tav_calloc(n ? n : 1, sizeof *cand);
    if (!rep->layers || !q || !s || !cand) {
        st = tav_fail(TAV_ERR_NOMEM, "out of memory (quantiser tables)");
        goto done;
    }
    rep->n_layers = n;

    /* static rule + weight measurement */
    for (size_t i = 0; !st && i < n; i++) {
        const tav_tensor_view *t = tav_model_tensor_at(in, i);
        tav_quant_layer *L = &rep->layers[i];
        snprintf(L->name, sizeof L->name, "%s", t->name);
        L->ndim = t->ndim;
        memcpy(L->shape, t->shape, sizeof L->shape);
        L->dtype_in = L->dtype_out = t->dtype;
        L->bytes_in = t->n_bytes;
        L->weight_nmse = L->weight_nmse_max = L->out_nmse = NAN;
        rep->bytes_in += t->n_bytes;
        cand[i] = tav_quant_rule_check(t, p, &L->reason);
        if (t->ndim < 2 || (t->dtype != TAV_DTYPE_F32 && t->dtype != TAV_DTYPE_F16))
            continue;
        st = quantise_weight(t, L, &q[i], &s[i]);
        if (!st && cand[i] && p->max_weight_nmse > 0 && !(L->weight_nmse_max <= p->max_weight_nmse)) {
            cand[i] = 0;
            L->reason = "weight NMSE above --max-weight-nmse";
        }
    }
    /* measured rule on outputs */
    if (!st)
        st = calibrate(in, path, p, rep, q, s, cand);
    if (!st)
        st = copy_meta(in, w);
    if (!st)
        st = add_provenance(w, p, rep);
    if (!st)
        st = add_tensors(in, w, rep, q, s, cand);
done:
    for (size_t i = 0; q && s && i < n; i++) {
        tav_free(q[i]);
        tav_free(s[i]);
    }
    tav_free(q);
    tav_free(s);
    tav_free(cand);
    return st;
}

tav_status tav_quant_model_convert(const tav_model *in, const tav_quant_params *p,
                                   tav_model_writer *w, tav_quant_report *rep)
{
    if (!rep)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_model_convert: rep is NULL");
    memset(rep, 0, sizeof *rep);
    if (!in || !p || !w)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_model_convert: NULL argument");
    return convert(in, NULL, p, w, rep);
}

/* Re-fails with "input 'path': " before the current message. */
static tav_status fail_input(tav_status st, const char *path)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tav_last_error());
    return tav_fail(st, "input '%s': %s", path, msg);
}

tav_status tav_quant_file_convert(const char *in_path, const char *out_path,
                                  const tav_quant_params *p, tav_quant_report *rep)
{
    if (!rep)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_file_convert: rep is NULL");
    memset(rep, 0, sizeof *rep);
    if (!in_path || !out_path || !p)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_file_convert: NULL argument");
    struct stat a, b;
    if (stat(in_path, &a) == 0 && stat(out_path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return tav_fail(TAV_ERR_INVALID_ARG,
                        "output '%s' is the input file: write the int8 model to a new path",
                        out_path);
    tav_model *m = NULL;
    tav_status st = tav_model_open(in_path, 0, &m);
    if (st)
        return fail_input(st, in_path);
    tav_model_writer *w = NULL;
    st = tav_model_writer_init(&w);
    if (!st) {
        st = convert(m, in_path, p, w, rep);
        if (st && st != TAV_ERR_NOMEM)
            st = fail_input(st, in_path);
    }
    if (!st)
        st = tav_model_writer_write(w, out_path);
    tav_model_writer_free(w);
    if (!st)
        rep->file_bytes_in = tav_model_file_size(m);
    tav_model_close(m);
    if (st)
        return st;

    /* Read the result back: it must open, verify, and hold what we wrote. */
    tav_model *o = NULL;
    st = tav_model_open(out_path, 0, &o);
    if (st) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", tav_last_error());
        return tav_fail(TAV_ERR_INTERNAL, "the written file '%s' does not read back: %s",
                        out_path, msg);
    }
    size_t n_s8 = 0;
    for (size_t i = 0; i < tav_model_tensor_count(o); i++)
        n_s8 += tav_model_tensor_at(o, i)->dtype == TAV_DTYPE_S8;
    rep->file_bytes_out = tav_model_file_size(o);
    tav_model_close(o);
    if (n_s8 != rep->n_s8)
        return tav_fail(TAV_ERR_INTERNAL, "'%s' reads back with %zu s8 tensors, %zu written",
                        out_path, n_s8, rep->n_s8);
    return TAV_OK;
}
