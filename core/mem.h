/* mem.h — allocation through one hook, so tests can make the Nth call fail.
 *
 *   float *x = tav_malloc(n * sizeof *x);   // NULL on failure, like malloc
 *   tav_free(x);
 *
 *   tav_fault_alloc_fail_at(3);  // tests: the 3rd allocation from now fails
 *
 * Use tav_malloc_array() where a count times a size could overflow.
 */
#ifndef TAV_MEM_H
#define TAV_MEM_H

#include <stddef.h>

void *tav_malloc(size_t n);
void *tav_calloc(size_t count, size_t size);
void *tav_realloc(void *p, size_t n);
/* count*size with overflow check; NULL if it overflows or allocation fails. */
void *tav_malloc_array(size_t count, size_t size);
void tav_free(void *p);

/* Fault injection for tests: the nth allocation from now (1 = the next one)
 * returns NULL; 0 disables. Process-wide, not thread-safe: tests only. */
void tav_fault_alloc_fail_at(long nth);

/* a*b and a+b with overflow detection: return 0 on success, -1 on overflow. */
static inline int tav_mul_size(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int tav_add_size(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

#endif
