/* cli_info.c — `tav info FILE`: a model file's header, checksum, metadata and
 * tensor summary (the whole tensor table with --tensors, the whole vocabulary
 * with --vocab). A bad file exits 1 with one line naming the problem.
 *
 * Adding a section that needs no FILE (e.g. `tav info --cpu`): add a flag to
 * info_opts, a case in parse_info_args(), and print it where marked in
 * tav_cmd_info() before the FILE check. */
#include "cli.h"
#include "model_file.h"
#include "simd/simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* String arrays longer than this are shown abbreviated unless --vocab. */
#define INFO_INLINE_ITEMS 8

typedef struct info_opts {
    const char *path;
    unsigned open_flags; /* TAV_MODEL_NO_VERIFY with --no-verify */
    int tensors;         /* -v / --tensors: the full tensor table */
    int vocab;           /* --vocab: every item of every string array */
    int cpu;             /* --cpu: CPU features and kernel path (simd/) */
} info_opts;

static void print_help(void)
{
    printf("usage: tav info [options] FILE\n"
           "\n"
           "Checks a .tavm model file and prints its format version, the tool that wrote it,\n"
           "its SHA-256 checksum (the model's cache key), its metadata (hyperparameters,\n"
           "vocabulary size, training provenance, tool version) and a summary of its tensors\n"
           "(count, parameters, bytes by dtype).\n"
           "\n"
           "Options:\n"
           "  --no-verify    skip the checksum pass (the structure is still validated)\n"
           "  -v, --tensors  list every tensor: name, dtype, shape, file offset, bytes\n"
           "  --vocab        list the whole vocabulary (every string array, one item a line)\n"
           "  --cpu          the CPU features found and the kernel path in use (FILE optional)\n"
           "  -h, --help     this text\n"
           "\n"
           "Exit status: 0 valid file, 1 unreadable or invalid file (one line says why),\n"
           "2 bad usage. The format is specified in docs/model-format.md.\n");
}

/* Returns -1 to go on, or an exit status. */
static int parse_info_args(int argc, char **argv, info_opts *o)
{
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_files && a[0] == '-' && a[1] != '\0') {
            if (!strcmp(a, "--"))
                only_files = 1;
            else if (!strcmp(a, "--no-verify"))
                o->open_flags |= TAV_MODEL_NO_VERIFY;
            else if (!strcmp(a, "-v") || !strcmp(a, "--tensors"))
                o->tensors = 1;
            else if (!strcmp(a, "--vocab"))
                o->vocab = 1;
            else if (!strcmp(a, "--cpu"))
                o->cpu = 1;
            else
                return tav_cli_usage_error("info", "unknown option '%s'", a);
        } else if (o->path) {
            return tav_cli_usage_error("info", "one FILE only (got '%s' and '%s')", o->path, a);
        } else {
            o->path = a;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------- metadata */

/* Prints s quoted, with control characters and quotes escaped. */
static void print_quoted(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void print_meta_value(const tav_model *m, const char *key, tav_meta_type type,
                             const info_opts *o)
{
    int64_t i64;
    double f64;
    const char *s;
    const char *const *items;
    size_t n;
    switch (type) {
    case TAV_META_I64:
        if (tav_model_meta_get_i64(m, key, &i64) == TAV_OK)
            printf("%lld", (long long)i64);
        break;
    case TAV_META_F64:
        if (tav_model_meta_get_f64(m, key, &f64) == TAV_OK) {
            /* the shortest of %.15g / %.17g that reads back as the same double */
            char buf[40];
            snprintf(buf, sizeof buf, "%.15g", f64);
            if (strtod(buf, NULL) != f64 && f64 == f64)
                snprintf(buf, sizeof buf, "%.17g", f64);
            fputs(buf, stdout);
        }
        break;
    case TAV_META_STR:
        if (tav_model_meta_get_str(m, key, &s) == TAV_OK)
            print_quoted(s);
        break;
    case TAV_META_STR_ARRAY:
        if (tav_model_meta_get_strs(m, key, &items, &n) != TAV_OK)
            break;
        printf("[%zu strings]", n);
        if (o->vocab) {
            for (size_t k = 0; k < n; k++) {
                printf("\n      %6zu  ", k);
                print_quoted(items[k]);
            }
            break;
        }
        for (size_t k = 0; k < n && k < INFO_INLINE_ITEMS; k++) {
            printf(k ? ", " : " ");
            print_quoted(items[k]);
        }
        if (n > INFO_INLINE_ITEMS)
            printf(", ... (--vocab lists all)");
        break;
    }
}

static void print_metadata(const tav_model *m, const info_opts *o)
{
    size_t n = tav_model_meta_count(m);
    printf("metadata:  %zu keys\n", n);
    const char *const *vocab;
    size_t nv;
    if (tav_model_meta_get_strs(m, "tokenizer.vocab", &vocab, &nv) == TAV_OK)
        printf("vocabulary: %zu tokens (tokenizer.vocab)\n", nv);
    for (size_t i = 0; i < n; i++) {
        const char *key;
        tav_meta_type type;
        if (tav_model_meta_at(m, i, &key, &type) != TAV_OK)
            continue;
        printf("  %-28s ", key);
        print_meta_value(m, key, type, o);
        putchar('\n');
    }
}

/* ---------------------------------------------------------------- tensors */

static void format_shape(const tav_tensor_view *t, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < t->ndim && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? ", " : "[",
                                 (long long)t->shape[d]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

static void print_tensors(const tav_model *m, const info_opts *o)
{
    size_t n = tav_model_tensor_count(m), params = 0, total = 0;
    size_t count[4] = {0}, bytes[4] = {0}, scale_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        int d = (int)t->dtype; /* 1..3, validated at open */
        count[d]++;
        bytes[d] += t->n_bytes;
        params += t->n_elems;
        total += t->n_bytes;
        if (t->scales) {
            scale_bytes += (size_t)t->shape[0] * sizeof(float);
            total += (size_t)t->shape[0] * sizeof(float);
        }
    }
    printf("tensors:   %zu, %zu parameters, %zu bytes of data\n", n, params, total);
    for (int d = TAV_DTYPE_F32; d <= TAV_DTYPE_S8; d++) {
        if (!count[d])
            continue;
        printf("  %-4s %6zu tensors %12zu bytes", tav_dtype_name((tav_dtype)d), count[d], bytes[d]);
        if (d == TAV_DTYPE_S8)
            printf(" (+ %zu bytes of per-channel scales)", scale_bytes);
        putchar('\n');
    }
    if (!o->tensors) {
        if (n)
            printf("  (-v or --tensors lists them)\n");
        return;
    }
    printf("  %5s  %-40s %-5s %-24s %10s %10s\n", "#", "name", "dtype", "shape", "offset", "bytes");
    for (size_t i = 0; i < n; i++) {
        const tav_tensor_view *t = tav_model_tensor_at(m, i);
        char shape[96];
        format_shape(t, shape, sizeof shape);
        printf("  %5zu  %-40s %-5s %-24s %10llu %10zu\n", i, t->name, tav_dtype_name(t->dtype),
               shape, (unsigned long long)t->offset, t->n_bytes);
    }
}

/* ---------------------------------------------------------------- command */

int tav_cmd_info(int argc, char **argv)
{
    if (tav_cli_wants_help(argc, argv)) {
        print_help();
        return TAV_EXIT_OK;
    }
    info_opts o = {0};
    int rc = parse_info_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    /* Sections that need no FILE print here and may return. */
    if (o.cpu) {
        tav_status st = tav_simd_init();
        tav_simd_print_cpu(stdout);
        if (st != TAV_OK) { /* TAV_ISA names a path this binary or CPU cannot run */
            fprintf(stderr, "tav info: %s\n", tav_last_error());
            return TAV_EXIT_FAIL;
        }
        if (!o.path)
            return TAV_EXIT_OK;
    }
    if (!o.path)
        return tav_cli_usage_error("info", "missing FILE (a .tavm model file)");

    tav_model *m = NULL;
    tav_status st = tav_model_open(o.path, o.open_flags, &m);
    if (st != TAV_OK) {
        fprintf(stderr, "tav info: %s: %s: %s\n", o.path, tav_status_str(st), tav_last_error());
        return TAV_EXIT_FAIL;
    }
    printf("file:      %s (%zu bytes)\n", o.path, tav_model_file_size(m));
    printf("format:    tavm version %u, written by %s\n", TAV_MODEL_FORMAT_VERSION,
           tav_model_writer_name(m));
    printf("checksum:  sha256 %s (%s)\n", tav_model_checksum_hex(m),
           tav_model_checksum_verified(m) ? "verified" : "not verified: --no-verify");
    print_metadata(m, &o);
    print_tensors(m, &o);
    tav_model_close(m);
    return TAV_EXIT_OK;
}
