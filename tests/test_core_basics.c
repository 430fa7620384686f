/* test_core_basics.c — status words, last-error messages, allocation faults. */
#include "check.h"
#include "core/mem.h"
#include "core/status.h"

#include <stdint.h>

static void test_status_words(void)
{
    CHECK(strcmp(tav_status_str(TAV_OK), "ok") == 0);
    CHECK(strcmp(tav_status_str(TAV_ERR_FORMAT), "format error") == 0);
    CHECK(strcmp(tav_status_str((tav_status)-999), "unknown status") == 0);
}

static void test_fail_records_message(void)
{
    tav_clear_error();
    CHECK(tav_last_error()[0] == '\0');
    tav_status st = tav_fail(TAV_ERR_FORMAT, "tensor %d has dtype %d", 3, 9);
    CHECK_EQ_INT(st, TAV_ERR_FORMAT);
    CHECK(strcmp(tav_last_error(), "tensor 3 has dtype 9") == 0);
}

static void test_alloc_fault_injection(void)
{
    tav_fault_alloc_fail_at(2);
    void *a = tav_malloc(16);
    void *b = tav_malloc(16);
    void *c = tav_malloc(16);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    tav_free(a);
    tav_free(c);
    tav_fault_alloc_fail_at(0);
}

static void test_overflow_helpers(void)
{
    size_t out;
    CHECK(tav_mul_size(SIZE_MAX / 2, 3, &out) == -1);
    CHECK(tav_mul_size(1000, 1000, &out) == 0 && out == 1000000);
    CHECK(tav_add_size(SIZE_MAX, 1, &out) == -1);
    CHECK(tav_malloc_array(SIZE_MAX / 4, 8) == NULL);
}

int main(void)
{
    RUN(test_status_words);
    RUN(test_fail_records_message);
    RUN(test_alloc_fault_injection);
    RUN(test_overflow_helpers);
    return check_summary();
}
