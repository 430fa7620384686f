/* report.c — the per-layer error report: a table on a terminal, CSV for files. */
#include "quant/quant.h"

#include "core/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void shape_str(char *buf, size_t n, const tav_quant_layer *L)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < L->ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", d ? ", " : "",
                                 (long long)L->shape[d]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
}

/* "%.2e", "-" for NaN (not measured). */
static const char *num(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.2e", v);
    return buf;
}

/* ---------------------------------------------------------------- table */

void tav_quant_report_print(const tav_quant_report *rep, FILE *f)
{
    fprintf(f, "%-34s %-14s %-4s %-4s %-10s %-10s %-10s %s\n", "tensor", "shape", "in", "out",
            "w-NMSE", "w-worst", "out-NMSE", "rule");
    size_t n_small = 0;
    for (size_t i = 0; i < rep->n_layers; i++) {
        const tav_quant_layer *L = &rep->layers[i];
        if (L->ndim < 2) {
            n_small++;
            continue;
        }
        char sh[64], a[32], b[32], c[32];
        shape_str(sh, sizeof sh, L);
        fprintf(f, "%-34s %-14s %-4s %-4s %-10s %-10s %-10s %s\n", L->name, sh,
                tav_dtype_name(L->dtype_in), tav_dtype_name(L->dtype_out),
                num(a, sizeof a, L->weight_nmse), num(b, sizeof b, L->weight_nmse_max),
                num(c, sizeof c, L->out_nmse), L->reason ? L->reason : "");
    }
    fprintf(f, "(%zu 1-D tensors — norms, biases, statistics — copied unchanged)\n", n_small);
    fprintf(f, "w-NMSE: weight quantisation NMSE of the tensor; w-worst: its worst output "
               "channel; out-NMSE: int8 output vs fp32 on calibration prompts.\n");
    fprintf(f, "calibration: %s\n", rep->calib_note[0] ? rep->calib_note : "(none)");
    fprintf(f, "%zu of %zu tensors int8; tensor data %zu -> %zu bytes (%.1f%%)", rep->n_s8,
            rep->n_layers, rep->bytes_in, rep->bytes_out,
            rep->bytes_in ? 100.0 * (double)rep->bytes_out / (double)rep->bytes_in : 0.0);
    if (rep->file_bytes_in && rep->file_bytes_out)
        fprintf(f, "; file %zu -> %zu bytes", rep->file_bytes_in, rep->file_bytes_out);
    fprintf(f, "\n");
}

/* ---------------------------------------------------------------- CSV */

static void csv_num(FILE *f, double v)
{
    if (isnan(v))
        fputc(',', f);
    else
        fprintf(f, ",%.6e", v);
}

static void write_csv_body(const tav_quant_report *rep, FILE *f)
{
    fprintf(f, "tensor,shape,dtype_in,dtype_out,weight_nmse,weight_nmse_worst_row,out_nmse,"
               "out_calls,bytes_in,bytes_out,rule\n");
    for (size_t i = 0; i < rep->n_layers; i++) {
        const tav_quant_layer *L = &rep->layers[i];
        char clean[64]; /* "32x16": keeps the CSV unquoted */
        size_t c = 0;
        for (int d = 0; d < L->ndim && c < sizeof clean; d++)
            c += (size_t)snprintf(clean + c, sizeof clean - c, "%s%lld", d ? "x" : "",
                                  (long long)L->shape[d]);
        fprintf(f, "%s,%s,%s,%s", L->name, clean, tav_dtype_name(L->dtype_in),
                tav_dtype_name(L->dtype_out));
        csv_num(f, L->weight_nmse);
        csv_num(f, L->weight_nmse_max);
        csv_num(f, L->out_nmse);
        fprintf(f, ",%ld,%zu,%zu,\"%s\"\n", L->out_calls, L->bytes_in, L->bytes_out,
                L->reason ? L->reason : "");
    }
}

tav_status tav_quant_report_write_csv(const tav_quant_report *rep, const char *path)
{
    if (!rep || !path)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_report_write_csv: NULL argument");
    size_t n = strlen(path);
    char *tmp = tav_malloc(n + 16);
    if (!tmp)
        return tav_fail(TAV_ERR_NOMEM, "out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        tav_status st = tav_fail(TAV_ERR_IO, "cannot create a temporary file beside '%s': %s",
                                 path, strerror(errno));
        tav_free(tmp);
        return st;
    }
    fchmod(fd, 0644); /* mkstemp makes 0600; a report is for reading */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        tav_free(tmp);
        return tav_fail(TAV_ERR_IO, "fdopen for '%s': %s", path, strerror(e));
    }
    write_csv_body(rep, f);
    int err = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0 ? (errno ? errno : EIO) : 0;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    tav_status st = TAV_OK;
    if (err) {
        unlink(tmp);
        st = tav_fail(TAV_ERR_IO, "writing report '%s' failed: %s", path, strerror(err));
    }
    tav_free(tmp);
    return st;
}

void tav_quant_report_free(tav_quant_report *rep)
{
    if (!rep)
        return;
    tav_free(rep->layers);
    memset(rep, 0, sizeof *rep);
}
