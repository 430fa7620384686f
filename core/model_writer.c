/* model_writer.c — builds a .tavm file in memory and writes it atomically.
 *
 * Layout decisions (all deterministic, mirrored byte for byte by
 * train/tavm.py): metadata sorted by key; tensors in the order added; each
 * tensor's data at the next 64-byte boundary of the data section, an s8
 * tensor's scales at the next boundary after its data; zero padding; no
 * bytes after the last region. See docs/model-format.md. */
#include "model_file.h"

#include "mem.h"
#include "model_file_priv.h"
#include "sha256.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- types */

typedef struct wmeta {
    char *key;
    tav_meta_type type;
    int64_t i64;
    double f64;
    char **strs; /* STR: one item; STR_ARRAY: count items */
    size_t count;
} wmeta;

typedef struct wtensor {
    char *name;
    tav_dtype dtype;
    int ndim;
    int64_t shape[TAV_MODEL_MAX_DIMS];
    size_t n_bytes;
    void *data;
    float *scales; /* S8 only */
    uint64_t off, scale_off; /* relative to the data section, set by layout() */
} wtensor;

struct tav_model_writer {
    wmeta *meta;
    size_t n_meta, cap_meta;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
};

/* ---------------------------------------------------------------- init / free */

tav_status tav_model_writer_init(tav_model_writer **out)
{
    if (!out)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_model_writer_init: out is NULL");
    *out = tav_calloc(1, sizeof **out);
    return *out ? TAV_OK : tav_fail(TAV_ERR_NOMEM, "out of memory for a model writer");
}

static void free_meta(wmeta *e)
{
    for (size_t k = 0; k < e->count; k++)
        tav_free(e->strs[k]);
    tav_free(e->strs);
    tav_free(e->key);
}

void tav_model_writer_free(tav_model_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_meta; i++)
        free_meta(&w->meta[i]);
    for (size_t i = 0; i < w->n_tensors; i++) {
        tav_free(w->tensors[i].name);
        tav_free(w->tensors[i].data);
        tav_free(w->tensors[i].scales);
    }
    tav_free(w->meta);
    tav_free(w->tensors);
    tav_free(w);
}

/* ---------------------------------------------------------------- metadata */

static char *dup_bytes(const void *p, size_t n)
{
    char *s = tav_malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Appends a new entry for key (validated, unique) and returns it, or NULL
 * with a tav_fail() status in *st. */
static wmeta *add_meta(tav_model_writer *w, const char *key, tav_meta_type type, tav_status *st)
{
    if (!w || !key || !tavm_key_ok(key, strlen(key))) {
        *st = tav_fail(TAV_ERR_INVALID_ARG, "metadata key '%s': keys are 1..%u bytes of "
                                            "[A-Za-z0-9._-]",
                       key ? key : "(null)", TAV_MODEL_MAX_KEY);
        return NULL;
    }
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            *st = tav_fail(TAV_ERR_INVALID_ARG, "metadata key '%s' is already set", key);
            return NULL;
        }
    if (w->n_meta >= TAV_MODEL_MAX_META_COUNT) {
        *st = tav_fail(TAV_ERR_LIMIT, "more than %u metadata keys", TAV_MODEL_MAX_META_COUNT);
        return NULL;
    }
    if (w->n_meta == w->cap_meta) {
        size_t cap = w->cap_meta ? 2 * w->cap_meta : 16;
        wmeta *p = tav_realloc(w->meta, cap * sizeof *p);
        if (!p) {
            *st = tav_fail(TAV_ERR_NOMEM, "out of memory for metadata");
            return NULL;
        }
        w->meta = p;
        w->cap_meta = cap;
    }
    wmeta *e = &w->meta[w->n_meta];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->key = dup_bytes(key, strlen(key));
    if (!e->key) {
        *st = tav_fail(TAV_ERR_NOMEM, "out of memory for metadata");
        return NULL;
    }
    w->n_meta++; /* committed; a later failure pops it with drop_last_meta */
    *st = TAV_OK;
    return e;
}

static tav_status drop_last_meta(tav_model_writer *w, tav_status st)
{
    free_meta(&w->meta[--w->n_meta]);
    return st;
}

tav_status tav_model_writer_set_i64(tav_model_writer *w, const char *key, int64_t v)
{
    tav_status st;
    wmeta *e = add_meta(w, key, TAV_META_I64, &st);
    if (e)
        e->i64 = v;
    return st;
}

tav_status tav_model_writer_set_f64(tav_model_writer *w, const char *key, double v)
{
    tav_status st;
    wmeta *e = add_meta(w, key, TAV_META_F64, &st);
    if (e)
        e->f64 = v;
    return st;
}

static tav_status set_strings(tav_model_writer *w, const char *key, tav_meta_type type,
                              const char *const *items, size_t count)
{
    if (count && !items)
        return tav_fail(TAV_ERR_INVALID_ARG, "metadata '%s': items is NULL", key ? key : "");
    for (size_t k = 0; k < count; k++)
        if (!items[k] || !tavm_utf8_ok(items[k], strlen(items[k])))
            return tav_fail(TAV_ERR_INVALID_ARG, "metadata '%s': string %zu is NULL or not "
                                                 "valid UTF-8",
                            key ? key : "", k);
    if (count > TAV_MODEL_MAX_META_BYTES / TAVM_MIN_ARRAY_ITEM)
        return tav_fail(TAV_ERR_LIMIT, "metadata '%s': %zu strings exceed the metadata limit",
                        key ? key : "", count);
    tav_status st;
    wmeta *e = add_meta(w, key, type, &st);
    if (!e)
        return st;
    if (count) {
        e->strs = tav_calloc(count, sizeof *e->strs);
        if (!e->strs)
            return drop_last_meta(w, tav_fail(TAV_ERR_NOMEM, "out of memory for '%s'", key));
    }
    for (size_t k = 0; k < count; k++) {
        e->strs[k] = dup_bytes(items[k], strlen(items[k]));
        if (!e->strs[k]) {
            e->count = k;
            return drop_last_meta(w, tav_fail(TAV_ERR_NOMEM, "out of memory for '%s'", key));
        }
    }
    e->count = count;
    return TAV_OK;
}

tav_status tav_model_writer_set_str(tav_model_writer *w, const char *key, const char *v)
{
    return set_strings(w, key, TAV_META_STR, &v, 1);
}

tav_status tav_model_writer_set_strs(tav_model_writer *w, const char *key, const char *const *items,
                                     size_t count)
{
    return set_strings(w, key, TAV_META_STR_ARRAY, items, count);
}

/* ---------------------------------------------------------------- tensors */

static tav_status check_tensor_args(const tav_model_writer *w, const char *name, tav_dtype dtype,
                                    int ndim, const int64_t *shape, const void *data,
                                    const float *scales, size_t *n_bytes)
{
    if (!w || !name || !tavm_name_ok(name, strlen(name)))
        return tav_fail(TAV_ERR_INVALID_ARG, "tensor name '%s': names are 1..%u printable ASCII "
                                             "bytes without spaces",
                        name ? name : "(null)", TAV_MODEL_MAX_NAME);
    if (tav_dtype_size(dtype) == 0 || ndim < 1 || ndim > TAV_MODEL_MAX_DIMS || !shape || !data)
        return tav_fail(TAV_ERR_INVALID_ARG, "tensor '%s': bad dtype %d, ndim %d, or NULL "
                                             "shape/data",
                        name, (int)dtype, ndim);
    if ((dtype == TAV_DTYPE_S8) != (scales != NULL))
        return tav_fail(TAV_ERR_INVALID_ARG, "tensor '%s': s8 tensors need scales, others must "
                                             "have none",
                        name);
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1 || shape[d] > TAV_MODEL_MAX_DIM)
            return tav_fail(TAV_ERR_INVALID_ARG, "tensor '%s': dim %d is %lld", name, d,
                            (long long)shape[d]);
        if (tav_mul_size(n, (size_t)shape[d], &n) || n > (size_t)TAV_MODEL_MAX_ELEMS)
            return tav_fail(TAV_ERR_LIMIT, "tensor '%s': more than 2^40 elements", name);
    }
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return tav_fail(TAV_ERR_INVALID_ARG, "tensor '%s' is already added", name);
    if (w->n_tensors >= TAV_MODEL_MAX_TENSORS)
        return tav_fail(TAV_ERR_LIMIT, "more than %u tensors", TAV_MODEL_MAX_TENSORS);
    *n_bytes = n * tav_dtype_size(dtype);
    return TAV_OK;
}

tav_status tav_model_writer_add_tensor(tav_model_writer *w, const char *name, tav_dtype dtype,
                                       int ndim, const int64_t *shape, const void *data,
                                       const float *scales)
{
    size_t n_bytes = 0;
    tav_status st = check_tensor_args(w, name, dtype, ndim, shape, data, scales, &n_bytes);
    if (st)
        return st;
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        wtensor *p = tav_realloc(w->tensors, cap * sizeof *p);
        if (!p)
            return tav_fail(TAV_ERR_NOMEM, "out of memory for the tensor list");
        w->tensors = p;
        w->cap_tensors = cap;
    }
    wtensor t = {0};
    t.dtype = dtype;
    t.ndim = ndim;
    t.n_bytes = n_bytes;
    for (int d = 0; d < ndim; d++)
        t.shape[d] = shape[d];
    t.name = dup_bytes(name, strlen(name));
    t.data = tav_malloc(n_bytes);
    if (scales)
        t.scales = tav_malloc_array((size_t)shape[0], sizeof(float));
    if (!t.name || !t.data || (scales && !t.scales)) {
        tav_free(t.name);
        tav_free(t.data);
        tav_free(t.scales);
        return tav_fail(TAV_ERR_NOMEM, "out of memory copying tensor '%s' (%zu bytes)", name,
                        n_bytes);
    }
    memcpy(t.data, data, n_bytes);
    if (scales)
        memcpy(t.scales, scales, (size_t)shape[0] * sizeof(float));
    w->tensors[w->n_tensors++] = t;
    return TAV_OK;
}

/* ---------------------------------------------------------------- serialisation */

/* A byte sink: hashing pass (f == NULL, buf == NULL), file, or memory. */
typedef struct sink {
    tav_sha256_ctx *sha; /* hash bytes outside the digest field */
    FILE *f;
    uint8_t *buf;
    size_t pos;
    int err;
} sink;

static void emit(sink *s, const void *p, size_t n)
{
    if (n == 0 || s->err)
        return;
    if (s->sha)
        tav_sha256_update(s->sha, p, n);
    if (s->f && fwrite(p, 1, n, s->f) != n)
        s->err = errno ? errno : EIO;
    if (s->buf)
        memcpy(s->buf + s->pos, p, n);
    s->pos += n;
}

static void emit_zeros(sink *s, size_t n)
{
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        emit(s, zeros, k);
        n -= k;
    }
}

static void emit_u32(sink *s, uint32_t v)
{
    uint8_t b[4];
    tavm_put32(b, v);
    emit(s, b, 4);
}

static void emit_u64(sink *s, uint64_t v)
{
    uint8_t b[8];
    tavm_put64(b, v);
    emit(s, b, 8);
}

static void emit_str(sink *s, const char *str)
{
    size_t n = strlen(str);
    emit_u32(s, (uint32_t)n);
    emit(s, str, n + 1); /* with its NUL */
}

static int wmeta_cmp(const void *a, const void *b)
{
    const wmeta *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

/* Sizes and offsets of one serialisation. */
typedef struct layout {
    const wmeta **sorted; /* metadata in key order */
    uint64_t meta_size, table_size, data_offset, data_size;
} layout;

static tav_status make_layout(const tav_model_writer *w, layout *L)
{
    memset(L, 0, sizeof *L);
    if (w->n_meta) {
        L->sorted = tav_malloc_array(w->n_meta, sizeof *L->sorted);
        if (!L->sorted)
            return tav_fail(TAV_ERR_NOMEM, "out of memory sorting metadata");
        for (size_t i = 0; i < w->n_meta; i++)
            L->sorted[i] = &w->meta[i];
        qsort(L->sorted, w->n_meta, sizeof *L->sorted, wmeta_cmp);
    }
    for (size_t i = 0; i < w->n_meta; i++) {
        const wmeta *e = &w->meta[i];
        L->meta_size += 4 + strlen(e->key) + 1 + 4;
        if (e->type == TAV_META_I64 || e->type == TAV_META_F64)
            L->meta_size += 8;
        else if (e->type == TAV_META_STR_ARRAY)
            L->meta_size += 4;
        for (size_t k = 0; k < e->count; k++)
            L->meta_size += 4 + strlen(e->strs[k]) + 1;
    }
    uint64_t pos = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        wtensor *t = &w->tensors[i];
        L->table_size += 4 + strlen(t->name) + 1 + 4 + 4 + 8 * TAV_MODEL_MAX_DIMS + 3 * 8;
        t->off = tavm_align(pos);
        pos = t->off + t->n_bytes;
        t->scale_off = 0;
        if (t->dtype == TAV_DTYPE_S8) {
            t->scale_off = tavm_align(pos);
            pos = t->scale_off + (uint64_t)t->shape[0] * 4;
        }
    }
    L->data_size = pos;
    L->data_offset = tavm_align(TAV_MODEL_HEADER_BYTES + L->meta_size + L->table_size);
    if (L->meta_size > TAV_MODEL_MAX_META_BYTES || L->table_size > TAV_MODEL_MAX_TABLE_BYTES) {
        tav_free(L->sorted);
        L->sorted = NULL;
        return tav_fail(TAV_ERR_LIMIT, "metadata (%llu bytes) or tensor table (%llu bytes) over "
                                       "the format's limits",
                        (unsigned long long)L->meta_size, (unsigned long long)L->table_size);
    }
    return TAV_OK;
}

static void emit_header(sink *s, const tav_model_writer *w, const layout *L, const uint8_t *digest)
{
    uint8_t h[TAV_MODEL_HEADER_BYTES] = {0};
    memcpy(h + TAVM_OFF_MAGIC, TAV_MODEL_MAGIC, 8);
    tavm_put32(h + TAVM_OFF_VERSION, TAV_MODEL_FORMAT_VERSION);
    tavm_put32(h + TAVM_OFF_HEADER_SIZE, TAV_MODEL_HEADER_BYTES);
    tavm_put32(h + TAVM_OFF_N_META, (uint32_t)w->n_meta);
    tavm_put32(h + TAVM_OFF_N_TENSORS, (uint32_t)w->n_tensors);
    tavm_put64(h + TAVM_OFF_META_SIZE, L->meta_size);
    tavm_put64(h + TAVM_OFF_TABLE_SIZE, L->table_size);
    tavm_put64(h + TAVM_OFF_DATA_OFFSET, L->data_offset);
    tavm_put64(h + TAVM_OFF_DATA_SIZE, L->data_size);
    memcpy(h + TAVM_OFF_WRITER, "tav-edge " TAV_VERSION_STRING,
           sizeof("tav-edge " TAV_VERSION_STRING) - 1);
    /* The digest covers everything except its own field. */
    tav_sha256_ctx *sha = s->sha;
    emit(s, h, TAVM_OFF_DIGEST);
    s->sha = NULL;
    if (digest)
        emit(s, digest, TAV_SHA256_BYTES);
    else
        emit_zeros(s, TAV_SHA256_BYTES);
    s->sha = sha;
}

static void emit_body(sink *s, const tav_model_writer *w, const layout *L)
{
    for (size_t i = 0; i < w->n_meta; i++) {
        const wmeta *e = L->sorted[i];
        emit_str(s, e->key);
        emit_u32(s, (uint32_t)e->type);
        uint64_t bits;
        switch (e->type) {
        case TAV_META_I64: emit_u64(s, (uint64_t)e->i64); break;
        case TAV_META_F64:
            memcpy(&bits, &e->f64, 8);
            emit_u64(s, bits);
            break;
        case TAV_META_STR: emit_str(s, e->strs[0]); break;
        case TAV_META_STR_ARRAY:
            emit_u32(s, (uint32_t)e->count);
            for (size_t k = 0; k < e->count; k++)
                emit_str(s, e->strs[k]);
            break;
        }
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        emit_str(s, t->name);
        emit_u32(s, (uint32_t)t->dtype);
        emit_u32(s, (uint32_t)t->ndim);
        for (int d = 0; d < TAV_MODEL_MAX_DIMS; d++)
            emit_u64(s, d < t->ndim ? (uint64_t)t->shape[d] : 0);
        emit_u64(s, t->off);
        emit_u64(s, t->n_bytes);
        emit_u64(s, t->scale_off);
    }
    emit_zeros(s, L->data_offset - s->pos);
    uint64_t base = L->data_offset;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        emit_zeros(s, base + t->off - s->pos);
        emit(s, t->data, t->n_bytes);
        if (t->dtype == TAV_DTYPE_S8) {
            emit_zeros(s, base + t->scale_off - s->pos);
            uint8_t b[4];
            for (int64_t r = 0; r < t->shape[0]; r++) { /* little-endian on any host */
                uint32_t u;
                memcpy(&u, &t->scales[r], 4);
                tavm_put32(b, u);
                emit(s, b, 4);
            }
        }
    }
}

/* Pass 1 hashes; pass 2 writes to out (file or memory) with the digest. */
static tav_status serialise(const tav_model_writer *w, sink *out)
{
    layout L;
    tav_status st = make_layout(w, &L);
    if (st)
        return st;
    tav_sha256_ctx sha;
    tav_sha256_init(&sha);
    sink hs = {.sha = &sha};
    emit_header(&hs, w, &L, NULL);
    emit_body(&hs, w, &L);
    uint8_t digest[TAV_SHA256_BYTES];
    tav_sha256_final(&sha, digest);
    emit_header(out, w, &L, digest);
    emit_body(out, w, &L);
    tav_free(L.sorted);
    return TAV_OK;
}

/* ---------------------------------------------------------------- output */

tav_status tav_model_writer_write_memory(const tav_model_writer *w, void **buf, size_t *size)
{
    if (!w || !buf || !size)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_model_writer_write_memory: NULL argument");
    layout L;
    tav_status st = make_layout(w, &L);
    if (st)
        return st;
    tav_free(L.sorted);
    size_t total = (size_t)(L.data_offset + L.data_size);
    sink s = {.buf = tav_malloc(total)};
    if (!s.buf)
        return tav_fail(TAV_ERR_NOMEM, "out of memory for a %zu-byte model", total);
    st = serialise(w, &s);
    if (st) {
        tav_free(s.buf);
        return st;
    }
    *buf = s.buf;
    *size = total;
    return TAV_OK;
}

/* Makes the rename durable: fsync the directory holding path (best effort;
 * some file systems refuse fsync on directories). */
static void sync_parent_dir(char *path)
{
    char *slash = strrchr(path, '/');
    const char *dir = ".";
    if (slash == path)
        dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = path;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

tav_status tav_model_writer_write(const tav_model_writer *w, const char *path)
{
    if (!w || !path)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_model_writer_write: NULL argument");
    size_t n = strlen(path);
    char *tmp = tav_malloc(n + 16);
    if (!tmp)
        return tav_fail(TAV_ERR_NOMEM, "out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        tav_status st = tav_fail(TAV_ERR_IO, "cannot create a temporary file beside '%s': %s",
                                 path, strerror(errno));
        tav_free(tmp);
        return st;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; a model file is read by every user */
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        tav_free(tmp);
        return tav_fail(TAV_ERR_IO, "fdopen: %s", strerror(errno));
    }
    errno = 0;
    sink s = {.f = f};
    tav_status st = serialise(w, &s);
    const char *step = "write";
    if (!st && !s.err && fflush(f) != 0)
        s.err = errno ? errno : EIO;
    if (!st && !s.err && fsync(fileno(f)) != 0) {
        s.err = errno;
        step = "fsync";
    }
    if (fclose(f) != 0 && !s.err)
        s.err = errno ? errno : EIO;
    if (!st && !s.err && rename(tmp, path) != 0) {
        s.err = errno;
        step = "rename";
    }
    if (!st && s.err)
        st = tav_fail(TAV_ERR_IO, "%s of '%s' failed: %s", step, path, strerror(s.err));
    if (st)
        unlink(tmp);
    else
        sync_parent_dir(tmp); /* tmp still holds the path's directory part */
    tav_free(tmp);
    return st;
}
