/* model_file.c — the .tavm reader: map, validate everything, hand out views.
 *
 * Validation order: fixed header (magic, version, sizes against the file
 * size), metadata section, tensor table, tensor regions (bounds, alignment,
 * overlap), then the SHA-256 of the contents. Every count is bounded by the
 * bytes that would have to hold it before anything is allocated, so a hostile
 * header can make us allocate at most a small multiple of the file size.
 * The byte layout is in docs/model-format.md. */
#include "model_file.h"

#include "mem.h"
#include "model_file_priv.h"
#include "sha256.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensor data is used in place, so the host must share the file's byte order. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, ".tavm tensors are little-endian");

/* ---------------------------------------------------------------- types */

typedef struct meta_entry {
    const char *key;
    tav_meta_type type;
    int64_t i64;
    double f64;
    const char *str;
    const char *const *items; /* STR_ARRAY: points into tav_model.strs */
    size_t count;
    size_t array_pos; /* STR_ARRAY: file offset of the first item (second pass) */
} meta_entry;

struct tav_model {
    const uint8_t *base;
    size_t size;
    int mapped; /* 1: base is our mmap, unmap on close */
    size_t n_meta;
    meta_entry *meta;
    const char **strs; /* every string-array item, all arrays back to back */
    size_t n_tensors;
    tav_tensor_view *tensors;
    const tav_tensor_view **by_name; /* sorted by name for tav_model_tensor_find */
    char writer[TAV_MODEL_WRITER_BYTES + 1];
    char hex[TAV_SHA256_HEX_BYTES];
    int verified;
};

/* ---------------------------------------------------------------- dtypes */

size_t tav_dtype_size(tav_dtype dt)
{
    switch (dt) {
    case TAV_DTYPE_F32: return 4;
    case TAV_DTYPE_F16: return 2;
    case TAV_DTYPE_S8: return 1;
    }
    return 0;
}

const char *tav_dtype_name(tav_dtype dt)
{
    switch (dt) {
    case TAV_DTYPE_F32: return "f32";
    case TAV_DTYPE_F16: return "f16";
    case TAV_DTYPE_S8: return "s8";
    }
    return "?";
}

/* ---------------------------------------------------------------- shared rules */

int tavm_key_ok(const char *s, size_t n)
{
    if (n < 1 || n > TAV_MODEL_MAX_KEY)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int tavm_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > TAV_MODEL_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

int tavm_utf8_ok(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2; cp = c & 0x1f; min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3; cp = c & 0x0f; min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4; cp = c & 0x07; min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* ---------------------------------------------------------------- cursor
 * A read position inside one section [pos, end) of the file. Reads fail
 * (return -1) instead of crossing end; the caller names what was cut off. */

typedef struct cursor {
    const uint8_t *base;
    size_t pos, end;
} cursor;

static int cur_u32(cursor *c, uint32_t *v)
{
    if (c->end - c->pos < 4)
        return -1;
    *v = tavm_le32(c->base + c->pos);
    c->pos += 4;
    return 0;
}

static int cur_u64(cursor *c, uint64_t *v)
{
    if (c->end - c->pos < 8)
        return -1;
    *v = tavm_le64(c->base + c->pos);
    c->pos += 8;
    return 0;
}

typedef enum str_problem {
    STR_OK = 0,
    STR_CUT,      /* length field or bytes run past the section end */
    STR_TOO_LONG, /* longer than the field's limit */
    STR_NO_NUL,   /* the byte after the string is not 0 */
    STR_BAD,      /* bytes break the field's character rules */
} str_problem;

static const char *str_problem_words(str_problem p)
{
    switch (p) {
    case STR_OK: return "ok";
    case STR_CUT: return "runs past the end of its section";
    case STR_TOO_LONG: return "is longer than the limit";
    case STR_NO_NUL: return "is not followed by its NUL terminator";
    case STR_BAD: return "has bytes outside its allowed characters (or invalid UTF-8)";
    }
    return "?";
}

/* Reads "u32 len, len bytes, NUL"; checks = tavm_key_ok / tavm_name_ok / tavm_utf8_ok. */
static str_problem cur_str(cursor *c, size_t maxlen, int (*checks)(const char *, size_t),
                           const char **out, uint32_t *len_out)
{
    uint32_t len;
    if (cur_u32(c, &len))
        return STR_CUT;
    if (len > maxlen)
        return STR_TOO_LONG;
    if (c->end - c->pos < (size_t)len + 1)
        return STR_CUT;
    const char *s = (const char *)(c->base + c->pos);
    if (s[len] != '\0')
        return STR_NO_NUL;
    if (!checks(s, len))
        return STR_BAD;
    c->pos += (size_t)len + 1;
    *out = s;
    if (len_out)
        *len_out = len;
    return STR_OK;
}

/* ---------------------------------------------------------------- header */

/* The writer field, made printable for messages even when it is garbage. */
static void header_writer(const uint8_t *base, size_t size, char out[TAV_MODEL_WRITER_BYTES + 1])
{
    size_t n = 0;
    if (size >= TAVM_OFF_WRITER + TAV_MODEL_WRITER_BYTES)
        for (; n < TAV_MODEL_WRITER_BYTES && base[TAVM_OFF_WRITER + n]; n++)
            out[n] = (base[TAVM_OFF_WRITER + n] >= 0x20 && base[TAVM_OFF_WRITER + n] < 0x7f)
                         ? (char)base[TAVM_OFF_WRITER + n]
                         : '?';
    out[n] = '\0';
    if (n == 0)
        strcpy(out, "an unknown tool");
}

typedef struct header {
    uint32_t n_meta, n_tensors;
    uint64_t meta_size, table_size, data_offset, data_size;
} header;

static tav_status check_magic_version(const uint8_t *b, size_t size)
{
    if (size < 8 || memcmp(b, TAV_MODEL_MAGIC, 8) != 0)
        return tav_fail(TAV_ERR_FORMAT, "not a .tavm model file (%s)",
                        size < 8 ? "shorter than the 8-byte magic" : "magic bytes do not match");
    if (size < 12)
        return tav_fail(TAV_ERR_FORMAT, "file is %zu bytes: truncated inside the %u-byte header",
                        size, TAV_MODEL_HEADER_BYTES);
    uint32_t version = tavm_le32(b + TAVM_OFF_VERSION);
    if (version != TAV_MODEL_FORMAT_VERSION) {
        char w[TAV_MODEL_WRITER_BYTES + 1];
        header_writer(b, size, w);
        return tav_fail(TAV_ERR_VERSION,
                        "model file format version %u, written by %s; this tav (%s) reads "
                        "format version %u only: use the tool version that wrote it, or re-export",
                        version, w, TAV_VERSION_STRING, TAV_MODEL_FORMAT_VERSION);
    }
    return TAV_OK;
}

static tav_status parse_header(const uint8_t *b, size_t size, header *h, char *writer)
{
    tav_status st = check_magic_version(b, size);
    if (st)
        return st;
    if (size < TAV_MODEL_HEADER_BYTES)
        return tav_fail(TAV_ERR_FORMAT, "file is %zu bytes: truncated inside the %u-byte header",
                        size, TAV_MODEL_HEADER_BYTES);
    uint32_t hsize = tavm_le32(b + TAVM_OFF_HEADER_SIZE), flags = tavm_le32(b + TAVM_OFF_FLAGS);
    if (hsize != TAV_MODEL_HEADER_BYTES)
        return tav_fail(TAV_ERR_FORMAT, "header size field %u, expected %u", hsize,
                        TAV_MODEL_HEADER_BYTES);
    if (flags != 0 || tavm_le32(b + TAVM_OFF_RESERVED) != 0)
        return tav_fail(TAV_ERR_FORMAT, "header flags/reserved fields 0x%x/0x%x: must be 0", flags,
                        tavm_le32(b + TAVM_OFF_RESERVED));
    const uint8_t *w = b + TAVM_OFF_WRITER;
    size_t wn = 0;
    while (wn < TAV_MODEL_WRITER_BYTES && w[wn])
        wn++;
    int writer_ok = wn > 0 && wn < TAV_MODEL_WRITER_BYTES;
    for (size_t i = 0; i < TAV_MODEL_WRITER_BYTES; i++)
        if (i < wn ? (w[i] < 0x20 || w[i] > 0x7e) : w[i] != 0)
            writer_ok = 0;
    if (!writer_ok)
        return tav_fail(TAV_ERR_FORMAT, "header writer field (bytes 64..95) is not NUL-padded "
                                        "printable ASCII");
    memcpy(writer, w, wn);
    writer[wn] = '\0';

    h->n_meta = tavm_le32(b + TAVM_OFF_N_META);
    h->n_tensors = tavm_le32(b + TAVM_OFF_N_TENSORS);
    h->meta_size = tavm_le64(b + TAVM_OFF_META_SIZE);
    h->table_size = tavm_le64(b + TAVM_OFF_TABLE_SIZE);
    h->data_offset = tavm_le64(b + TAVM_OFF_DATA_OFFSET);
    h->data_size = tavm_le64(b + TAVM_OFF_DATA_SIZE);
    if (h->n_meta > TAV_MODEL_MAX_META_COUNT)
        return tav_fail(TAV_ERR_FORMAT, "metadata count %u exceeds the limit %u", h->n_meta,
                        TAV_MODEL_MAX_META_COUNT);
    if (h->n_tensors > TAV_MODEL_MAX_TENSORS)
        return tav_fail(TAV_ERR_FORMAT, "tensor count %u exceeds the limit %u", h->n_tensors,
                        TAV_MODEL_MAX_TENSORS);
    if (h->meta_size > TAV_MODEL_MAX_META_BYTES)
        return tav_fail(TAV_ERR_FORMAT, "metadata section size %llu exceeds the limit %u",
                        (unsigned long long)h->meta_size, TAV_MODEL_MAX_META_BYTES);
    if (h->table_size > TAV_MODEL_MAX_TABLE_BYTES)
        return tav_fail(TAV_ERR_FORMAT, "tensor table size %llu exceeds the limit %u",
                        (unsigned long long)h->table_size, TAV_MODEL_MAX_TABLE_BYTES);
    uint64_t described;
    int over = __builtin_add_overflow(h->data_offset, h->data_size, &described);
    if (!over && described > size)
        return tav_fail(TAV_ERR_FORMAT,
                        "file is truncated: %zu bytes, but its header describes %llu bytes", size,
                        (unsigned long long)described);
    if (over || described != size)
        return tav_fail(TAV_ERR_FORMAT,
                        "file is %zu bytes, but its header describes %s%llu bytes (data section of "
                        "%llu bytes at offset %llu): extra bytes or a bad size field",
                        size, over ? "more than " : "", (unsigned long long)described,
                        (unsigned long long)h->data_size, (unsigned long long)h->data_offset);
    /* Both sizes are bounded above, so these sums cannot overflow. */
    uint64_t table_end = TAV_MODEL_HEADER_BYTES + h->meta_size + h->table_size;
    if (table_end > size)
        return tav_fail(TAV_ERR_FORMAT,
                        "metadata and tensor table end at byte %llu, beyond file size %zu "
                        "(truncated?)",
                        (unsigned long long)table_end, size);
    if (h->data_offset != tavm_align(table_end))
        return tav_fail(TAV_ERR_FORMAT,
                        "data offset %llu, expected %llu (tensor table end %llu rounded up to %u)",
                        (unsigned long long)h->data_offset,
                        (unsigned long long)tavm_align(table_end), (unsigned long long)table_end,
                        TAV_MODEL_ALIGN);
    for (uint64_t i = table_end; i < h->data_offset; i++)
        if (b[i] != 0)
            return tav_fail(TAV_ERR_FORMAT, "padding byte at offset %llu before the data is not 0",
                            (unsigned long long)i);
    if ((uint64_t)h->n_meta * TAVM_MIN_META_ENTRY > h->meta_size)
        return tav_fail(TAV_ERR_FORMAT, "%u metadata entries cannot fit in a %llu-byte section",
                        h->n_meta, (unsigned long long)h->meta_size);
    if ((uint64_t)h->n_tensors * TAVM_MIN_TENSOR_ENTRY > h->table_size)
        return tav_fail(TAV_ERR_FORMAT, "%u tensors cannot fit in a %llu-byte tensor table",
                        h->n_tensors, (unsigned long long)h->table_size);
    return TAV_OK;
}

/* ---------------------------------------------------------------- metadata */

static const char *meta_type_name(uint32_t t)
{
    switch (t) {
    case TAV_META_I64: return "i64";
    case TAV_META_F64: return "f64";
    case TAV_META_STR: return "string";
    case TAV_META_STR_ARRAY: return "string array";
    }
    return "?";
}

/* Parses entry #i's value at c; counts array items into *n_items. */
static tav_status parse_meta_value(cursor *c, meta_entry *e, size_t i, size_t *n_items)
{
    uint64_t u;
    str_problem p;
    switch (e->type) {
    case TAV_META_I64:
    case TAV_META_F64:
        if (cur_u64(c, &u))
            return tav_fail(TAV_ERR_FORMAT,
                            "metadata entry #%zu ('%s'): value runs past the end of the metadata "
                            "section",
                            i, e->key);
        if (e->type == TAV_META_I64)
            e->i64 = (int64_t)u;
        else
            memcpy(&e->f64, &u, sizeof e->f64);
        return TAV_OK;
    case TAV_META_STR:
        p = cur_str(c, c->end, tavm_utf8_ok, &e->str, NULL);
        if (p)
            return tav_fail(TAV_ERR_FORMAT, "metadata entry #%zu ('%s'): string value %s", i,
                            e->key, str_problem_words(p));
        return TAV_OK;
    case TAV_META_STR_ARRAY: {
        uint32_t count;
        if (cur_u32(c, &count))
            return tav_fail(TAV_ERR_FORMAT,
                            "metadata entry #%zu ('%s'): array count runs past the end of the "
                            "metadata section",
                            i, e->key);
        if ((uint64_t)count * TAVM_MIN_ARRAY_ITEM > c->end - c->pos)
            return tav_fail(TAV_ERR_FORMAT,
                            "metadata entry #%zu ('%s'): %u strings cannot fit in the %zu bytes "
                            "left in the metadata section",
                            i, e->key, count, c->end - c->pos);
        e->count = count;
        e->array_pos = c->pos;
        for (uint32_t k = 0; k < count; k++) {
            const char *s;
            p = cur_str(c, c->end, tavm_utf8_ok, &s, NULL);
            if (p)
                return tav_fail(TAV_ERR_FORMAT, "metadata entry #%zu ('%s'): item %u %s", i,
                                e->key, k, str_problem_words(p));
        }
        *n_items += count;
        return TAV_OK;
    }
    }
    return tav_fail(TAV_ERR_INTERNAL, "metadata type %u", (unsigned)e->type);
}

static tav_status parse_meta(tav_model *m, const header *h)
{
    cursor c = {m->base, TAV_MODEL_HEADER_BYTES, TAV_MODEL_HEADER_BYTES + (size_t)h->meta_size};
    m->n_meta = h->n_meta;
    if (m->n_meta) {
        m->meta = tav_calloc(m->n_meta, sizeof *m->meta); /* n_meta * 14 <= meta_size */
        if (!m->meta)
            return tav_fail(TAV_ERR_NOMEM, "out of memory for %zu metadata entries", m->n_meta);
    }
    size_t n_items = 0;
    for (size_t i = 0; i < m->n_meta; i++) {
        meta_entry *e = &m->meta[i];
        str_problem p = cur_str(&c, TAV_MODEL_MAX_KEY, tavm_key_ok, &e->key, NULL);
        if (p)
            return tav_fail(TAV_ERR_FORMAT, "metadata entry #%zu: key %s (keys are 1..%u bytes of "
                                            "[A-Za-z0-9._-])",
                            i, str_problem_words(p), TAV_MODEL_MAX_KEY);
        if (i > 0 && strcmp(m->meta[i - 1].key, e->key) >= 0)
            return tav_fail(TAV_ERR_FORMAT,
                            "metadata entry #%zu: key '%s' is not after '%s' (keys must be unique "
                            "and sorted)",
                            i, e->key, m->meta[i - 1].key);
        uint32_t type;
        if (cur_u32(&c, &type))
            return tav_fail(TAV_ERR_FORMAT, "metadata entry #%zu ('%s'): type runs past the end of "
                                            "the metadata section",
                            i, e->key);
        if (type < TAV_META_I64 || type > TAV_META_STR_ARRAY)
            return tav_fail(TAV_ERR_FORMAT, "metadata entry #%zu ('%s'): unknown type %u", i,
                            e->key, type);
        e->type = (tav_meta_type)type;
        tav_status st = parse_meta_value(&c, e, i, &n_items);
        if (st)
            return st;
    }
    if (c.pos != c.end)
        return tav_fail(TAV_ERR_FORMAT, "metadata section has %zu bytes left after %zu entries",
                        c.end - c.pos, m->n_meta);
    /* Second pass: pointers to every array item (n_items * 5 <= meta_size). */
    if (n_items) {
        m->strs = tav_malloc_array(n_items, sizeof *m->strs);
        if (!m->strs)
            return tav_fail(TAV_ERR_NOMEM, "out of memory for %zu metadata strings", n_items);
    }
    size_t next = 0;
    for (size_t i = 0; i < m->n_meta; i++) {
        meta_entry *e = &m->meta[i];
        if (e->type != TAV_META_STR_ARRAY)
            continue;
        e->items = m->strs ? m->strs + next : NULL;
        size_t pos = e->array_pos;
        for (size_t k = 0; k < e->count; k++) {
            uint32_t len = tavm_le32(m->base + pos); /* validated in the first pass */
            m->strs[next++] = (const char *)m->base + pos + 4;
            pos += 4 + (size_t)len + 1;
        }
    }
    return TAV_OK;
}

/* ---------------------------------------------------------------- tensor table */

static tav_status parse_tensor(cursor *c, tav_tensor_view *t, size_t i, const header *h,
                               uint64_t *scale_off)
{
    str_problem p = cur_str(c, TAV_MODEL_MAX_NAME, tavm_name_ok, &t->name, NULL);
    if (p)
        return tav_fail(TAV_ERR_FORMAT, "tensor #%zu: name %s (names are 1..%u printable ASCII "
                                        "bytes, no spaces)",
                        i, str_problem_words(p), TAV_MODEL_MAX_NAME);
    uint32_t dtype = 0, ndim = 0;
    uint64_t shape[TAV_MODEL_MAX_DIMS] = {0}, off = 0, nbytes = 0;
    int cut = cur_u32(c, &dtype) || cur_u32(c, &ndim);
    for (int d = 0; d < TAV_MODEL_MAX_DIMS; d++)
        cut = cut || cur_u64(c, &shape[d]);
    cut = cut || cur_u64(c, &off) || cur_u64(c, &nbytes) || cur_u64(c, scale_off);
    if (cut)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): entry runs past the end of the "
                                        "tensor table",
                        t->name, i);
    if (tav_dtype_size((tav_dtype)dtype) == 0)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): unknown dtype %u", t->name, i, dtype);
    if (ndim < 1 || ndim > TAV_MODEL_MAX_DIMS)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): %u dims, must be 1..%d", t->name, i,
                        ndim, TAV_MODEL_MAX_DIMS);
    t->dtype = (tav_dtype)dtype;
    t->ndim = (int)ndim;
    uint64_t n = 1;
    for (int d = 0; d < TAV_MODEL_MAX_DIMS; d++) {
        int used = d < t->ndim;
        if (used ? (shape[d] < 1 || shape[d] > (uint64_t)TAV_MODEL_MAX_DIM) : shape[d] != 0)
            return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): dim %d is %llu (%s)", t->name, i,
                            d, (unsigned long long)shape[d],
                            used ? "must be 1..2147483647" : "unused dims must be 0");
        t->shape[d] = (int64_t)shape[d];
        if (used && __builtin_mul_overflow(n, shape[d], &n))
            n = UINT64_MAX;
        if (n > (uint64_t)TAV_MODEL_MAX_ELEMS)
            return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): more than 2^40 elements", t->name,
                            i);
    }
    t->n_elems = (size_t)n;
    t->n_bytes = (size_t)(n * tav_dtype_size(t->dtype)); /* <= 2^42 */
    if (nbytes != t->n_bytes)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): data size %llu, but %s x %zu "
                                        "elements is %zu bytes",
                        t->name, i, (unsigned long long)nbytes, tav_dtype_name(t->dtype),
                        t->n_elems, t->n_bytes);
    if (off % TAV_MODEL_ALIGN)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): data offset %llu is not a multiple "
                                        "of %u",
                        t->name, i, (unsigned long long)off, TAV_MODEL_ALIGN);
    if (off > h->data_size || nbytes > h->data_size - off)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): data %s %llu beyond data section "
                                        "size %llu",
                        t->name, i, off > h->data_size ? "offset" : "end",
                        (unsigned long long)(off > h->data_size ? off : off + nbytes),
                        (unsigned long long)h->data_size);
    t->offset = h->data_offset + off;
    if (t->dtype != TAV_DTYPE_S8) {
        if (*scale_off != 0)
            return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): scale offset %llu on a %s tensor "
                                            "(only s8 has scales; must be 0)",
                            t->name, i, (unsigned long long)*scale_off, tav_dtype_name(t->dtype));
        return TAV_OK;
    }
    uint64_t sbytes = (uint64_t)t->shape[0] * 4;
    if (*scale_off % TAV_MODEL_ALIGN)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): scale offset %llu is not a multiple "
                                        "of %u",
                        t->name, i, (unsigned long long)*scale_off, TAV_MODEL_ALIGN);
    if (*scale_off > h->data_size || sbytes > h->data_size - *scale_off)
        return tav_fail(TAV_ERR_FORMAT, "tensor '%s' (#%zu): scales %s %llu beyond data section "
                                        "size %llu",
                        t->name, i, *scale_off > h->data_size ? "offset" : "end",
                        (unsigned long long)(*scale_off > h->data_size ? *scale_off
                                                                       : *scale_off + sbytes),
                        (unsigned long long)h->data_size);
    return TAV_OK;
}

/* A byte range of the data section owned by one tensor's data or scales. */
typedef struct region {
    uint64_t start, end;
    size_t tensor;
    int is_scales;
} region;

static int region_cmp(const void *a, const void *b)
{
    const region *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int view_name_cmp(const void *a, const void *b)
{
    const tav_tensor_view *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Rejects overlapping regions and a data section longer than its last region. */
static tav_status check_regions(tav_model *m, region *r, size_t n, const header *h)
{
    if (n > 1)
        qsort(r, n, sizeof *r, region_cmp);
    for (size_t k = 1; k < n; k++) {
        if (r[k].start < r[k - 1].end) {
            const tav_tensor_view *a = &m->tensors[r[k - 1].tensor], *b = &m->tensors[r[k].tensor];
            return tav_fail(TAV_ERR_FORMAT,
                            "tensor '%s' (#%zu) %s [%llu, %llu) overlaps tensor '%s' (#%zu) %s "
                            "[%llu, %llu)",
                            b->name, r[k].tensor, r[k].is_scales ? "scales" : "data",
                            (unsigned long long)r[k].start, (unsigned long long)r[k].end, a->name,
                            r[k - 1].tensor, r[k - 1].is_scales ? "scales" : "data",
                            (unsigned long long)r[k - 1].start, (unsigned long long)r[k - 1].end);
        }
    }
    uint64_t last = n ? r[n - 1].end : 0;
    if (last != h->data_size)
        return tav_fail(TAV_ERR_FORMAT, "data section is %llu bytes but its last tensor ends at "
                                        "%llu (extra bytes)",
                        (unsigned long long)h->data_size, (unsigned long long)last);
    return TAV_OK;
}

static tav_status parse_table(tav_model *m, const header *h)
{
    size_t start = TAV_MODEL_HEADER_BYTES + (size_t)h->meta_size;
    cursor c = {m->base, start, start + (size_t)h->table_size};
    m->n_tensors = h->n_tensors;
    if (m->n_tensors == 0)
        return check_regions(m, NULL, 0, h);
    /* n_tensors * 70 <= table_size, so these are bounded by the file size. */
    m->tensors = tav_calloc(m->n_tensors, sizeof *m->tensors);
    m->by_name = tav_malloc_array(m->n_tensors, sizeof *m->by_name);
    region *r = tav_malloc_array(m->n_tensors, 2 * sizeof *r);
    if (!m->tensors || !m->by_name || !r) {
        tav_free(r);
        return tav_fail(TAV_ERR_NOMEM, "out of memory for %zu tensor entries", m->n_tensors);
    }
    size_t n_regions = 0;
    tav_status st = TAV_OK;
    for (size_t i = 0; i < m->n_tensors && st == TAV_OK; i++) {
        tav_tensor_view *t = &m->tensors[i];
        uint64_t soff = 0;
        st = parse_tensor(&c, t, i, h, &soff);
        if (st)
            break;
        uint64_t rel = t->offset - h->data_offset;
        t->data = m->base + t->offset;
        r[n_regions++] = (region){rel, rel + t->n_bytes, i, 0};
        if (t->dtype == TAV_DTYPE_S8) {
            t->scales = (const float *)(const void *)(m->base + h->data_offset + soff);
            r[n_regions++] = (region){soff, soff + (uint64_t)t->shape[0] * 4, i, 1};
        }
        m->by_name[i] = t;
    }
    if (st == TAV_OK && c.pos != c.end)
        st = tav_fail(TAV_ERR_FORMAT, "tensor table has %zu bytes left after %zu entries",
                      c.end - c.pos, m->n_tensors);
    if (st == TAV_OK)
        st = check_regions(m, r, n_regions, h);
    tav_free(r);
    if (st)
        return st;
    qsort(m->by_name, m->n_tensors, sizeof *m->by_name, view_name_cmp);
    for (size_t k = 1; k < m->n_tensors; k++)
        if (strcmp(m->by_name[k - 1]->name, m->by_name[k]->name) == 0)
            return tav_fail(TAV_ERR_FORMAT, "tensor name '%s' appears twice (#%zu and #%zu)",
                            m->by_name[k]->name, (size_t)(m->by_name[k - 1] - m->tensors),
                            (size_t)(m->by_name[k] - m->tensors));
    return TAV_OK;
}

/* ---------------------------------------------------------------- checksum */

static tav_status verify_checksum(tav_model *m, unsigned flags)
{
    const uint8_t *stored = m->base + TAVM_OFF_DIGEST;
    tav_sha256_hex(stored, m->hex);
    if (flags & TAV_MODEL_NO_VERIFY)
        return TAV_OK;
    tav_sha256_ctx c;
    uint8_t digest[TAV_SHA256_BYTES];
    tav_sha256_init(&c);
    tav_sha256_update(&c, m->base, TAVM_OFF_DIGEST);
    tav_sha256_update(&c, m->base + TAV_MODEL_HEADER_BYTES, m->size - TAV_MODEL_HEADER_BYTES);
    tav_sha256_final(&c, digest);
    if (memcmp(digest, stored, TAV_SHA256_BYTES) != 0) {
        char got[TAV_SHA256_HEX_BYTES];
        tav_sha256_hex(digest, got);
        return tav_fail(TAV_ERR_CHECKSUM,
                        "checksum mismatch: header says sha256 %.16s..., contents hash to "
                        "%.16s...: the file is corrupted (copy it again)",
                        m->hex, got);
    }
    m->verified = 1;
    return TAV_OK;
}

/* ---------------------------------------------------------------- open / close */

static tav_status open_mapped(const uint8_t *base, size_t size, int mapped, unsigned flags,
                              tav_model **out)
{
    tav_model *m = tav_calloc(1, sizeof *m);
    if (!m) {
        if (mapped)
            munmap((void *)base, size);
        return tav_fail(TAV_ERR_NOMEM, "out of memory opening a model");
    }
    m->base = base;
    m->size = size;
    m->mapped = mapped;
    header h;
    tav_status st = parse_header(base, size, &h, m->writer);
    if (st == TAV_OK)
        st = parse_meta(m, &h);
    if (st == TAV_OK)
        st = parse_table(m, &h);
    if (st == TAV_OK)
        st = verify_checksum(m, flags);
    if (st != TAV_OK) {
        tav_model_close(m);
        return st;
    }
    *out = m;
    return TAV_OK;
}

tav_status tav_model_open_memory(const void *buf, size_t size, unsigned flags, tav_model **out)
{
    if (!out)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_model_open_memory: out is NULL");
    *out = NULL;
    if ((!buf && size) || ((uintptr_t)buf % TAV_MODEL_ALIGN) != 0)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_model_open_memory: buffer must be 64-byte "
                                             "aligned");
    static const uint8_t empty[1];
    return open_mapped(buf ? buf : empty, size, 0, flags, out);
}

tav_status tav_model_open(const char *path, unsigned flags, tav_model **out)
{
    if (!path || !out)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_model_open: path or out is NULL");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tav_fail(TAV_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        return tav_fail(TAV_ERR_IO, "'%s' is not a regular file%s%s", path, e ? ": " : "",
                        e ? strerror(e) : "");
    }
    size_t size = (size_t)sb.st_size;
    if (size < TAV_MODEL_HEADER_BYTES) {
        /* Too small to map usefully; let the header checks name the problem. */
        uint8_t small[TAV_MODEL_HEADER_BYTES];
        ssize_t got = read(fd, small, sizeof small);
        close(fd);
        if (got < 0)
            return tav_fail(TAV_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        header h;
        char w[TAV_MODEL_WRITER_BYTES + 1];
        tav_status st = parse_header(small, (size_t)got, &h, w);
        return st ? st : tav_fail(TAV_ERR_INTERNAL, "short header accepted");
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return tav_fail(TAV_ERR_IO, "cannot map '%s' (%zu bytes): %s", path, size, strerror(e));
    return open_mapped(p, size, 1, flags, out);
}

void tav_model_close(tav_model *m)
{
    if (!m)
        return;
    if (m->mapped)
        munmap((void *)m->base, m->size);
    tav_free(m->meta);
    tav_free(m->strs);
    tav_free(m->tensors);
    tav_free(m->by_name);
    tav_free(m);
}

/* ---------------------------------------------------------------- accessors */

size_t tav_model_tensor_count(const tav_model *m) { return m->n_tensors; }

const tav_tensor_view *tav_model_tensor_at(const tav_model *m, size_t i)
{
    return i < m->n_tensors ? &m->tensors[i] : NULL;
}

const tav_tensor_view *tav_model_tensor_find(const tav_model *m, const char *name)
{
    size_t lo = 0, hi = m->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->by_name[mid]->name, name);
        if (c == 0)
            return m->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t tav_model_meta_count(const tav_model *m) { return m->n_meta; }

tav_status tav_model_meta_at(const tav_model *m, size_t i, const char **key, tav_meta_type *type)
{
    if (i >= m->n_meta)
        return tav_fail(TAV_ERR_INVALID_ARG, "metadata index %zu out of range (%zu entries)", i,
                        m->n_meta);
    if (key)
        *key = m->meta[i].key;
    if (type)
        *type = m->meta[i].type;
    return TAV_OK;
}

static const meta_entry *meta_find(const tav_model *m, const char *key, tav_meta_type want,
                                   tav_status *st)
{
    size_t lo = 0, hi = m->n_meta;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->meta[mid].key, key);
        if (c == 0) {
            if (m->meta[mid].type == want) {
                *st = TAV_OK;
                return &m->meta[mid];
            }
            *st = tav_fail(TAV_ERR_INVALID_ARG, "model metadata '%s' is a %s, not a %s", key,
                           meta_type_name(m->meta[mid].type), meta_type_name(want));
            return NULL;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *st = tav_fail(TAV_ERR_NOT_FOUND, "model metadata has no key '%s'", key);
    return NULL;
}

tav_status tav_model_meta_get_i64(const tav_model *m, const char *key, int64_t *out)
{
    tav_status st;
    const meta_entry *e = meta_find(m, key, TAV_META_I64, &st);
    if (e)
        *out = e->i64;
    return st;
}

tav_status tav_model_meta_get_f64(const tav_model *m, const char *key, double *out)
{
    tav_status st;
    const meta_entry *e = meta_find(m, key, TAV_META_F64, &st);
    if (e)
        *out = e->f64;
    return st;
}

tav_status tav_model_meta_get_str(const tav_model *m, const char *key, const char **out)
{
    tav_status st;
    const meta_entry *e = meta_find(m, key, TAV_META_STR, &st);
    if (e)
        *out = e->str;
    return st;
}

tav_status tav_model_meta_get_strs(const tav_model *m, const char *key, const char *const **items,
                                   size_t *count)
{
    tav_status st;
    const meta_entry *e = meta_find(m, key, TAV_META_STR_ARRAY, &st);
    if (e) {
        *items = e->items;
        *count = e->count;
    }
    return st;
}

const char *tav_model_checksum_hex(const tav_model *m) { return m->hex; }
int tav_model_checksum_verified(const tav_model *m) { return m->verified; }
const char *tav_model_writer_name(const tav_model *m) { return m->writer; }
size_t tav_model_file_size(const tav_model *m) { return m->size; }
