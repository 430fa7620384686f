/* model_file.h — the .tavm model file: a safe mmap reader and an atomic writer.
 *
 * The format (magic, version, typed metadata, tensor table, 64-byte-aligned
 * tensor data, SHA-256 of everything) is specified in docs/model-format.md.
 *
 * Reading:
 *
 *   tav_model *m;
 *   tav_status st = tav_model_open("model.tavm", 0, &m);   // or TAV_MODEL_NO_VERIFY
 *   if (st != TAV_OK) {
 *       fprintf(stderr, "%s: %s\n", tav_status_str(st), tav_last_error());
 *       return 1;
 *   }
 *   int64_t dim;
 *   if (tav_model_meta_get_i64(m, "dit.dim", &dim) != TAV_OK) { ... }
 *   const tav_tensor_view *wq = tav_model_tensor_find(m, "dit.blocks.0.attn.wq");
 *   if (wq && wq->dtype == TAV_DTYPE_S8) {
 *       const int8_t *w = wq->data;      // shape[0] rows (output channels)
 *       const float *s = wq->scales;     // one scale per row
 *   }
 *   printf("cache key: %s\n", tav_model_checksum_hex(m));
 *   tav_model_close(m);                  // every view dies here
 *
 * Writing (the quantiser, tests):
 *
 *   tav_model_writer *w;
 *   tav_model_writer_init(&w);
 *   tav_model_writer_set_i64(w, "dit.dim", 256);
 *   tav_model_writer_set_strs(w, "tokenizer.vocab", words, n_words);
 *   int64_t shape[2] = {256, 128};
 *   tav_model_writer_add_tensor(w, "dit.blocks.0.attn.wq", TAV_DTYPE_S8, 2, shape, q, scales);
 *   st = tav_model_writer_write(w, "out.tavm");          // temp file, fsync, rename
 *   tav_model_writer_free(w);
 *
 * Every validation failure returns TAV_ERR_FORMAT (or _VERSION, _CHECKSUM,
 * _IO, _NOMEM) with a tav_fail() message naming the problem, e.g.
 *   "tensor 'dit.blocks.0.attn.wq' (#12): data end 81920 beyond data section size 65536".
 * The reader never asserts on file contents and never allocates more than a
 * small multiple of the file size.
 */
#ifndef TAV_MODEL_FILE_H
#define TAV_MODEL_FILE_H

#include "status.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- format constants */

#define TAV_MODEL_MAGIC "TAVM\r\n\x1a\n" /* 8 bytes */
#define TAV_MODEL_FORMAT_VERSION 1u      /* the only version this reader reads */
#define TAV_MODEL_HEADER_BYTES 128u
#define TAV_MODEL_ALIGN 64u            /* tensor data and scales alignment */
#define TAV_MODEL_WRITER_BYTES 32u     /* header field naming the writing tool */
#define TAV_MODEL_MAX_DIMS 4
#define TAV_MODEL_MAX_KEY 128u         /* metadata key bytes */
#define TAV_MODEL_MAX_NAME 255u        /* tensor name bytes */
#define TAV_MODEL_MAX_META_COUNT 65535u
#define TAV_MODEL_MAX_META_BYTES (64u << 20)  /* metadata section */
#define TAV_MODEL_MAX_TENSORS 65535u
#define TAV_MODEL_MAX_TABLE_BYTES (32u << 20) /* tensor table section */
#define TAV_MODEL_MAX_DIM 0x7fffffffLL        /* each dimension fits an int32 */
#define TAV_MODEL_MAX_ELEMS (1LL << 40)       /* elements per tensor */

typedef enum tav_dtype {
    TAV_DTYPE_F32 = 1, /* IEEE binary32, little-endian */
    TAV_DTYPE_F16 = 2, /* IEEE binary16 bits (uint16_t), little-endian */
    TAV_DTYPE_S8 = 3,  /* int8; value = q * scales[row], row = index along shape[0] */
} tav_dtype;

typedef enum tav_meta_type {
    TAV_META_I64 = 1,
    TAV_META_F64 = 2,
    TAV_META_STR = 3,      /* UTF-8, no NUL bytes */
    TAV_META_STR_ARRAY = 4 /* e.g. the vocabulary: token id = index */
} tav_meta_type;

/* Flags for tav_model_open(). */
#define TAV_MODEL_NO_VERIFY 1u /* skip the SHA-256 pass (structure is still checked) */

/* Bytes per element of a dtype, or 0 for an unknown value. */
size_t tav_dtype_size(tav_dtype dt);
/* "f32", "f16", "s8", or "?" for an unknown value. */
const char *tav_dtype_name(tav_dtype dt);

/* ---------------------------------------------------------------- reading */

typedef struct tav_model tav_model;

/* A tensor inside an open model: every pointer points into the mapped file
 * and stays valid until tav_model_close(). Data is 64-byte aligned. */
typedef struct tav_tensor_view {
    const char *name;  /* NUL-terminated, printable ASCII */
    tav_dtype dtype;
    int ndim;          /* 1..4 */
    int64_t shape[TAV_MODEL_MAX_DIMS]; /* shape[i] >= 1 for i < ndim, 0 after */
    size_t n_elems;    /* product of the dims */
    size_t n_bytes;    /* n_elems * tav_dtype_size(dtype) */
    const void *data;  /* float / uint16_t (f16 bits) / int8_t, row-major */
    const float *scales; /* S8 only: shape[0] per-output-channel scales; NULL otherwise */
    uint64_t offset;   /* data offset in the file (for diagnostics) */
} tav_tensor_view;

/* Opens and validates a model file, mapping it read-only.
 * flags: 0 or TAV_MODEL_NO_VERIFY. On success *out owns the mapping; close it
 * with tav_model_close(). On failure *out is NULL and the return is
 * TAV_ERR_IO (cannot open/map), _FORMAT (malformed: the message names the
 * field, entry and limit), _VERSION (message names the writing tool),
 * _CHECKSUM, or _NOMEM. */
tav_status tav_model_open(const char *path, unsigned flags, tav_model **out);

/* As tav_model_open() on a caller-owned buffer, without copying it. buf must
 * be 64-byte aligned (TAV_ERR_INVALID_ARG otherwise) and outlive the model.
 * For tests and fuzzing. */
tav_status tav_model_open_memory(const void *buf, size_t size, unsigned flags, tav_model **out);

/* Unmaps and frees; NULL is fine. */
void tav_model_close(tav_model *m);

size_t tav_model_tensor_count(const tav_model *m);
/* The i-th tensor in file order, or NULL if i >= count. */
const tav_tensor_view *tav_model_tensor_at(const tav_model *m, size_t i);
/* The tensor called name (exact match, O(log n)), or NULL. */
const tav_tensor_view *tav_model_tensor_find(const tav_model *m, const char *name);

/* Metadata: keys are unique and stored in ascending byte order. */
size_t tav_model_meta_count(const tav_model *m);
/* Key and type of the i-th entry; TAV_ERR_INVALID_ARG if i >= count. */
tav_status tav_model_meta_at(const tav_model *m, size_t i, const char **key, tav_meta_type *type);
/* Typed getters: TAV_ERR_NOT_FOUND if key is absent, TAV_ERR_INVALID_ARG if
 * it has another type (both with a message). Strings point into the mapping. */
tav_status tav_model_meta_get_i64(const tav_model *m, const char *key, int64_t *out);
tav_status tav_model_meta_get_f64(const tav_model *m, const char *key, double *out);
tav_status tav_model_meta_get_str(const tav_model *m, const char *key, const char **out);
/* *items[i] is the i-th NUL-terminated string; *count may be 0. */
tav_status tav_model_meta_get_strs(const tav_model *m, const char *key, const char *const **items,
                                   size_t *count);

/* The file's SHA-256 as 64 lowercase hex digits: a stable cache key for the
 * model. It is the digest stored in the header; it was checked against the
 * contents unless the model was opened with TAV_MODEL_NO_VERIFY. */
const char *tav_model_checksum_hex(const tav_model *m);
/* 1 if the checksum was verified at open, 0 if skipped. */
int tav_model_checksum_verified(const tav_model *m);
/* The tool that wrote the file, e.g. "tav-edge 0.1.0" (from the header). */
const char *tav_model_writer_name(const tav_model *m);
/* File size in bytes. */
size_t tav_model_file_size(const tav_model *m);

/* ---------------------------------------------------------------- writing */

typedef struct tav_model_writer tav_model_writer;

/* The writer copies every key, string and tensor it is given, so callers may
 * free their buffers right after each call. Keys: 1..128 bytes of
 * [A-Za-z0-9._-]; tensor names: 1..255 bytes of printable ASCII without
 * spaces; strings: valid UTF-8 without NUL. Duplicates are refused
 * (TAV_ERR_INVALID_ARG). Output is deterministic: the same calls give the
 * same bytes, and the same bytes as train/tavm.py for the same content. */
tav_status tav_model_writer_init(tav_model_writer **out);
void tav_model_writer_free(tav_model_writer *w);

tav_status tav_model_writer_set_i64(tav_model_writer *w, const char *key, int64_t v);
tav_status tav_model_writer_set_f64(tav_model_writer *w, const char *key, double v);
tav_status tav_model_writer_set_str(tav_model_writer *w, const char *key, const char *v);
tav_status tav_model_writer_set_strs(tav_model_writer *w, const char *key, const char *const *items,
                                     size_t count);

/* Adds a tensor; tensors are written in the order added. data holds
 * product(shape) elements of dtype (f16 as uint16_t bits). scales: S8 only,
 * shape[0] floats; must be NULL for other dtypes. */
tav_status tav_model_writer_add_tensor(tav_model_writer *w, const char *name, tav_dtype dtype,
                                       int ndim, const int64_t *shape, const void *data,
                                       const float *scales);

/* Writes path atomically: a temporary file in the same directory, fsync,
 * rename over path. TAV_ERR_IO (message names the call and errno) or _NOMEM. */
tav_status tav_model_writer_write(const tav_model_writer *w, const char *path);

/* Serialises into a new tav_malloc'd buffer (*buf, *size); free with tav_free. */
tav_status tav_model_writer_write_memory(const tav_model_writer *w, void **buf, size_t *size);

#endif
