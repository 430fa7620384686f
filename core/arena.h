/* arena.h — a bump allocator for activations: sized once per run, no frees.
 *
 *   tav_arena a;
 *   if (tav_arena_init(&a, bytes) != TAV_OK) ...;      // the one allocation
 *   float *x = tav_arena_floats(&a, n);                  // 64-byte aligned, NULL if full
 *   size_t mark = tav_arena_mark(&a); ... tav_arena_reset(&a, mark);   // scoped scratch
 *   tav_arena_free(&a);
 *
 * Sizing: run the same carving code once against a "measuring" arena
 * (tav_arena_init_measure) to learn the bytes needed, then init for real. So
 * the plan and the allocation can never disagree, and nothing allocates
 * inside the sampling loop.
 */
#ifndef TAV_ARENA_H
#define TAV_ARENA_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

#define TAV_ARENA_ALIGN 64

typedef struct tav_arena {
    uint8_t *base; /* NULL for a measuring arena */
    size_t cap;    /* bytes available (SIZE_MAX when measuring) */
    size_t used;   /* bytes handed out so far (aligned) */
    size_t peak;   /* largest `used` seen */
} tav_arena;

/* Allocates `bytes` (tav_malloc). Errors: TAV_ERR_NOMEM. */
tav_status tav_arena_init(tav_arena *a, size_t bytes);
/* An arena that hands out no memory but counts: every tav_arena_alloc returns
 * a non-NULL dummy pointer that must not be dereferenced; a->peak is the size
 * a real arena needs. */
void tav_arena_init_measure(tav_arena *a);
void tav_arena_free(tav_arena *a);

/* n bytes, TAV_ARENA_ALIGN-aligned; NULL when the arena is full (or n
 * overflows). A measuring arena never fails. */
void *tav_arena_alloc(tav_arena *a, size_t n);
/* n floats (overflow-checked). */
float *tav_arena_floats(tav_arena *a, size_t n);

static inline size_t tav_arena_mark(const tav_arena *a) { return a->used; }
static inline void tav_arena_reset(tav_arena *a, size_t mark) { a->used = mark; }

#endif
