/* mem.c — allocation hook with test-time fault injection. */
#include "mem.h"

#include <stdlib.h>

static long fail_countdown; /* 0: off; otherwise calls left until failure */

void tav_fault_alloc_fail_at(long nth) { fail_countdown = nth > 0 ? nth : 0; }

static int should_fail(void)
{
    if (fail_countdown == 0)
        return 0;
    return --fail_countdown == 0;
}

void *tav_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }

void *tav_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *tav_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }

void *tav_malloc_array(size_t count, size_t size)
{
    size_t n;
    if (tav_mul_size(count, size, &n))
        return NULL;
    return tav_malloc(n);
}

void tav_free(void *p) { free(p); }
