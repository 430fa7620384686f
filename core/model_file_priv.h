/* model_file_priv.h — rules shared by the .tavm reader (model_file.c) and
 * writer (model_writer.c), so the writer can never produce a file the reader
 * refuses. Not a public header: only those two files include it. */
#ifndef TAV_MODEL_FILE_PRIV_H
#define TAV_MODEL_FILE_PRIV_H

#include <stddef.h>
#include <stdint.h>

/* Byte offsets of the fixed header fields (docs/model-format.md). */
enum {
    TAVM_OFF_MAGIC = 0,
    TAVM_OFF_VERSION = 8,
    TAVM_OFF_HEADER_SIZE = 12,
    TAVM_OFF_FLAGS = 16,
    TAVM_OFF_N_META = 20,
    TAVM_OFF_N_TENSORS = 24,
    TAVM_OFF_RESERVED = 28,
    TAVM_OFF_META_SIZE = 32,
    TAVM_OFF_TABLE_SIZE = 40,
    TAVM_OFF_DATA_OFFSET = 48,
    TAVM_OFF_DATA_SIZE = 56,
    TAVM_OFF_WRITER = 64,
    TAVM_OFF_DIGEST = 96,
};

/* Smallest possible encodings, used to bound counts by section sizes before
 * anything is allocated: a string is u32 length + >= 1 byte + NUL. */
#define TAVM_MIN_META_ENTRY 14u  /* key(6) + type(4) + empty array count(4) */
#define TAVM_MIN_TENSOR_ENTRY 70u /* name(6) + dtype(4) + ndim(4) + shape(32) + 3 x u64 */
#define TAVM_MIN_ARRAY_ITEM 5u   /* u32 length + NUL of an empty string */

/* 1 if s[0..n) is a valid metadata key: [A-Za-z0-9._-], 1..TAV_MODEL_MAX_KEY. */
int tavm_key_ok(const char *s, size_t n);
/* 1 if s[0..n) is a valid tensor name: 0x21..0x7e, 1..TAV_MODEL_MAX_NAME. */
int tavm_name_ok(const char *s, size_t n);
/* 1 if s[0..n) is well-formed UTF-8 with no NUL byte. */
int tavm_utf8_ok(const char *s, size_t n);

static inline uint64_t tavm_align(uint64_t x) { return (x + 63u) & ~(uint64_t)63u; }

static inline uint32_t tavm_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t tavm_le64(const uint8_t *p)
{
    return (uint64_t)tavm_le32(p) | (uint64_t)tavm_le32(p + 4) << 32;
}
static inline void tavm_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tavm_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif
