/* cli_quantize.c — `tav quantize IN OUT`: fp32 model file -> int8 model file. */
#include "core/cli.h"
#include "core/mem.h"
#include "quant/quant_priv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CMD "quantize"
#define MAX_KEEP 64
#define MAX_CALIB 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tav quantize IN.tavm OUT.tavm [options]\n"
            "       tav quantize --compare REF.tavm TEST.tavm [options]   (see --compare --help)\n"
            "\n"
            "Writes an int8 copy of an fp32 model file: Linear and conv weights become int8 with\n"
            "one scale per output channel; norms, biases, embeddings, positional tables and the\n"
            "first and last layers stay fp32 (docs/quantization.md). Prints each layer's\n"
            "weight NMSE and, when calibration runs, its output NMSE against fp32.\n"
            "\n"
            "Options:\n"
            "  --max-nmse X         keep a layer fp32 if its output NMSE on the calibration\n"
            "                       prompts exceeds X (default %g; 0 = off; needs the engine)\n"
            "  --max-weight-nmse X  keep a layer fp32 if a row's weight NMSE exceeds X\n"
            "                       (default %g; 0 = off)\n"
            "  --keep PATTERN       keep tensors whose name matches PATTERN (fnmatch, e.g.\n"
            "                       'dit.blocks.*.mod.weight') fp32; repeatable\n"
            "  --calib FILE         calibration prompts, one per line ('scene 1 | scene 2');\n"
            "                       default: prompts built from the model's vocabulary\n"
            "  --no-calib           do not run calibration (weight NMSE only)\n"
            "  --report FILE        also write the per-layer table as CSV\n"
            "  -h, --help           this text\n"
            "\n"
            "Exit status: 0 done, 1 failed (a failed conversion leaves OUT untouched), 2 bad usage.\n",
            TAV_QUANT_DEFAULT_MAX_NMSE, TAV_QUANT_DEFAULT_MAX_WEIGHT_NMSE);
}

static int parse_nmse(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Reads non-empty, non-'#' lines of path into prompts (tav_malloc'd copies;
 * the caller frees the *n it gets, also on error). Errors name the file. */
tav_status tav_quant_read_prompts(const char *path, size_t max, char **prompts, size_t *n)
{
    FILE *f = fopen(path, "r");
    *n = 0;
    if (!f)
        return tav_fail(TAV_ERR_IO, "cannot open prompt file '%s': %s", path, strerror(errno));
    char line[4096];
    tav_status st = TAV_OK;
    while (!st && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        size_t len = strlen(line);
        if (*n == max)
            st = tav_fail(TAV_ERR_LIMIT, "'%s' has more than %zu prompts", path, max);
        else if (!(prompts[*n] = tav_malloc(len + 1)))
            st = tav_fail(TAV_ERR_NOMEM, "out of memory reading '%s'", path);
        else
            memcpy(prompts[(*n)++], line, len + 1);
    }
    fclose(f);
    if (!st && *n == 0)
        st = tav_fail(TAV_ERR_INVALID_ARG, "prompt file '%s' holds no prompts", path);
    return st;
}

int tav_cmd_quantize(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--compare"))
            return tav_quant_cmd_compare(argc, argv);
    if (tav_cli_wants_help(argc, argv)) {
        usage(stdout);
        return TAV_EXIT_OK;
    }
    tav_quant_params qp = tav_quant_default_params();
    const char *keep[MAX_KEEP];
    const char *pos[2], *report = NULL, *calib = NULL;
    size_t n_keep = 0, n_pos = 0;
    int explicit_nmse = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--max-nmse") || !strcmp(a, "--max-weight-nmse")) {
            double *dst = !strcmp(a, "--max-nmse") ? &qp.max_nmse : &qp.max_weight_nmse;
            if (!has_val || parse_nmse(argv[++i], dst))
                return tav_cli_usage_error(CMD, "%s needs a number >= 0", a);
            explicit_nmse |= dst == &qp.max_nmse;
        } else if (!strcmp(a, "--keep")) {
            if (!has_val)
                return tav_cli_usage_error(CMD, "--keep needs a pattern");
            if (n_keep == MAX_KEEP)
                return tav_cli_usage_error(CMD, "at most %d --keep patterns", MAX_KEEP);
            keep[n_keep++] = argv[++i];
        } else if (!strcmp(a, "--report") || !strcmp(a, "--calib")) {
            if (!has_val)
                return tav_cli_usage_error(CMD, "%s needs a file name", a);
            *(!strcmp(a, "--report") ? &report : &calib) = argv[++i];
        } else if (!strcmp(a, "--no-calib")) {
            qp.calibrate = 0;
        } else if (a[0] == '-' && a[1]) {
            return tav_cli_usage_error(CMD, "unknown option '%s'", a);
        } else {
            if (n_pos == 2)
                return tav_cli_usage_error(CMD, "unexpected argument '%s'", a);
            pos[n_pos++] = a;
        }
    }
    if (n_pos != 2)
        return tav_cli_usage_error(CMD, "needs an input and an output model file");
    if (!qp.calibrate && (explicit_nmse || calib))
        return tav_cli_usage_error(CMD, "--no-calib contradicts %s",
                                   calib ? "--calib" : "--max-nmse");
    if (!tav_quant_calib_available() && (explicit_nmse || calib)) {
        fprintf(stderr,
                "tav quantize: %s needs calibration through the fp32 engine, which is not built "
                "in this version; drop it (weight NMSE is still measured and applied)\n",
                calib ? "--calib" : "--max-nmse");
        return TAV_EXIT_FAIL;
    }
    qp.keep = keep;
    qp.n_keep = n_keep;

    char *prompts[MAX_CALIB];
    size_t n_prompts = 0;
    int rc = TAV_EXIT_OK;
    if (calib && tav_quant_read_prompts(calib, MAX_CALIB, prompts, &n_prompts)) {
        fprintf(stderr, "tav quantize: %s\n", tav_last_error());
        rc = TAV_EXIT_FAIL;
        goto out;
    }
    qp.calib_prompts = (const char *const *)prompts;
    qp.n_calib_prompts = n_prompts;

    tav_quant_report rep;
    tav_status st = tav_quant_file_convert(pos[0], pos[1], &qp, &rep);
    if (st) {
        fprintf(stderr, "tav quantize: %s: %s\n", tav_status_str(st), tav_last_error());
        rc = TAV_EXIT_FAIL;
    } else {
        tav_quant_report_print(&rep, stdout);
        printf("wrote %s\n", pos[1]);
        if (report && (st = tav_quant_report_write_csv(&rep, report)) != TAV_OK) {
            fprintf(stderr, "tav quantize: %s: %s\n", tav_status_str(st), tav_last_error());
            rc = TAV_EXIT_FAIL;
        } else if (report) {
            printf("wrote report %s\n", report);
        }
    }
    tav_quant_report_free(&rep);
out:
    for (size_t i = 0; i < n_prompts; i++)
        tav_free(prompts[i]);
    return rc;
}
