/* sha256.h — SHA-256 (FIPS 180-4), for model-file checksums and cache keys.
 *
 *   tav_sha256_ctx c;
 *   tav_sha256_init(&c);
 *   tav_sha256_update(&c, buf, n);          // any number of times
 *   uint8_t digest[TAV_SHA256_BYTES];
 *   tav_sha256_final(&c, digest);
 *   char hex[TAV_SHA256_HEX_BYTES];         // 64 lowercase hex digits + NUL
 *   tav_sha256_hex(digest, hex);
 *
 * Gives the same digest as Python's hashlib.sha256, so files written by the
 * Python toolchain and the C writer carry checksums both sides can verify.
 * No allocation; a context is plain data that may live on the stack.
 */
#ifndef TAV_SHA256_H
#define TAV_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define TAV_SHA256_BYTES 32
#define TAV_SHA256_HEX_BYTES 65

typedef struct tav_sha256_ctx {
    uint32_t state[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t used; /* bytes waiting in block */
} tav_sha256_ctx;

void tav_sha256_init(tav_sha256_ctx *c);
/* Hashes n bytes of p (p may be NULL when n is 0). */
void tav_sha256_update(tav_sha256_ctx *c, const void *p, size_t n);
/* Writes the 32-byte digest; the context must be re-initialised before reuse. */
void tav_sha256_final(tav_sha256_ctx *c, uint8_t digest[TAV_SHA256_BYTES]);
/* Writes 64 lowercase hex digits and a NUL into hex. */
void tav_sha256_hex(const uint8_t digest[TAV_SHA256_BYTES], char hex[TAV_SHA256_HEX_BYTES]);

#endif
