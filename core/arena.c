/* arena.c — bump allocator for activations (see arena.h). */
#include "core/arena.h"

#include "core/mem.h"

#include <stdint.h>

tav_status tav_arena_init(tav_arena *a, size_t bytes)
{
    *a = (tav_arena){0};
    size_t total;
    if (tav_add_size(bytes, TAV_ARENA_ALIGN, &total))
        return tav_fail(TAV_ERR_NOMEM, "activation arena of %zu bytes is too large", bytes);
    a->base = tav_malloc(total);
    if (!a->base)
        return tav_fail(TAV_ERR_NOMEM, "out of memory allocating the %zu-byte activation arena",
                        bytes);
    a->cap = bytes;
    return TAV_OK;
}

void tav_arena_init_measure(tav_arena *a)
{
    *a = (tav_arena){0};
    a->cap = SIZE_MAX;
}

void tav_arena_free(tav_arena *a)
{
    if (a->base)
        tav_free(a->base);
    *a = (tav_arena){0};
}

void *tav_arena_alloc(tav_arena *a, size_t n)
{
    size_t rounded, end;
    if (tav_add_size(n, TAV_ARENA_ALIGN - 1, &rounded))
        return NULL;
    rounded &= ~(size_t)(TAV_ARENA_ALIGN - 1);
    if (tav_add_size(a->used, rounded, &end) || end > a->cap)
        return NULL;
    void *p;
    if (a->base) {
        /* base itself may not be aligned: align the address, not the offset */
        uintptr_t b = ((uintptr_t)a->base + TAV_ARENA_ALIGN - 1) & ~(uintptr_t)(TAV_ARENA_ALIGN - 1);
        p = (void *)(b + a->used);
    } else {
        p = (void *)(uintptr_t)TAV_ARENA_ALIGN; /* measuring: a dummy, never dereferenced */
    }
    a->used = end;
    if (end > a->peak)
        a->peak = end;
    return p;
}

float *tav_arena_floats(tav_arena *a, size_t n)
{
    size_t bytes;
    if (tav_mul_size(n, sizeof(float), &bytes))
        return NULL;
    return tav_arena_alloc(a, bytes);
}
