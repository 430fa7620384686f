/* quant.h — the int8 formats, the fp32 -> int8 model quantiser, per-layer error reports.
 *
 * Formats (what the engine and simd/simd.h's GEMM expect):
 *   weights      int8 [n_out x k], one fp32 scale per output channel (row):
 *                w ~= q[n][j] * scale[n], scale = max|w[n][:]| / 127, q in -127..127,
 *                round half to even. Stored in .tavm as dtype s8 + scales.
 *   activations  quantised on the fly per row by tav_simd_quant_rows() (same
 *                symmetric rule, one scale per row); nothing about them is stored.
 *
 * Quantising a model file (what `tav quantize` does):
 *
 *   tav_quant_params qp = tav_quant_default_params();
 *   const char *keep[] = {"dit.blocks.*.mod.weight"};
 *   qp.keep = keep; qp.n_keep = 1;
 *   tav_quant_report rep;
 *   tav_status st = tav_quant_file_convert("model.tavm", "model-int8.tavm", &qp, &rep);
 *   if (st != TAV_OK) fprintf(stderr, "%s\n", tav_last_error());
 *   else tav_quant_report_print(&rep, stdout);
 *   tav_quant_report_free(&rep);
 *
 * The rule for what stays fp32 is docs/quantization.md; tav_quant_rule_check()
 * implements its static part, the quantiser adds the measured part (weight
 * NMSE always; output NMSE on calibration prompts once the engine exists).
 */
#ifndef TAV_QUANT_H
#define TAV_QUANT_H

#include "core/model_file.h"
#include "core/pipeline.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- constants */

/* Written to the output file's "quant.version" key; bump when the formats or
 * the rule change meaning. */
#define TAV_QUANT_VERSION "tav-quant 1"
#define TAV_QUANT_RULE_NAME "default-v1"

/* Named thresholds of the measured rule (NMSE = sum (y_q - y)^2 / sum y^2).
 * - Weights: rounding to 127 levels per row costs (amax/127)^2/12 per
 *   element; for a well-spread row (amax ~ 3..4 sigma) that is an NMSE of
 *   5e-5..1e-4 (tiny model: 2.3e-5..8.7e-5 per row). Above 1e-3 a row has
 *   amax > ~14 sigma: one outlier sets the step for the whole row.
 * - Outputs (int8 weights and int8 activations on calibration prompts): the
 *   two roundings add; typical layers measure 1e-5..1.3e-4 (tiny model, and
 *   the base-stage models of the default configuration). Above 5e-4 (5x the
 *   worst typical layer) a layer's activations carry outliers that swallow
 *   the per-row scale: in an interim base-stage model dit.text_proj measured 9.2e-4
 *   (its input, the text encoder's output, has a few large channels), and
 *   keeping it fp32 lowers the end-to-end frame NMSE by 9% for 1.6% more
 *   bytes. docs/quantization.md has the measured tables. */
#define TAV_QUANT_DEFAULT_MAX_WEIGHT_NMSE 1e-3
#define TAV_QUANT_DEFAULT_MAX_NMSE 5e-4

/* ---------------------------------------------------------------- int8 rows */

/* Quantises rows of w [rows x k] to q [rows x k] int8 with one scale per row:
 * scale[r] = max|w[r][:]| / 127, q = round-half-even(w / scale) in -127..127.
 * An all-zero row gets scale 0 and q = 0 (dequantises to exact zeros).
 * Works for the whole finite float range, subnormals included.
 * Errors: TAV_ERR_INVALID_ARG (NULL, rows/k < 1) or TAV_ERR_FORMAT (a NaN or
 * infinity in w: the message names its row and column); q/scale are then
 * unspecified. */
tav_status tav_quant_encode_rows(int8_t *q, float *scale, const float *w, size_t rows, size_t k);

/* out[r][j] = q[r][j] * scale[r] (the inverse, as the engine reads it). */
void tav_quant_decode_rows(float *out, const int8_t *q, const float *scale, size_t rows, size_t k);

/* Rounding bound of tav_quant_encode_rows() per element, as a test tolerance:
 * |w - decode(encode(w))| <= HALF_STEP * scale + REL * amax + ABS.
 * HALF_STEP: rounding to nearest. REL: the product q*scale is rounded to
 * float (1/2 ulp of <= amax): 2^-24 * amax; 2^-16 leaves a wide margin.
 * ABS: when amax/127 is subnormal the stored scale is off by up to 2^-150,
 * times |q| <= 127: < 2^-143 (and rows with amax < 127 * 2^-150 become
 * zeros, also an error < 2^-143); 2^-140 covers both. */
#define TAV_QUANT_TOL_HALF_STEP 0.5
#define TAV_QUANT_TOL_REL (1.0 / 65536.0)
#define TAV_QUANT_TOL_ABS 0x1p-140

/* Normalised mean squared error sum (x - ref)^2 / sum ref^2 over n values,
 * in double. 0 when both are all zero; +inf when ref is all zero and x not. */
double tav_quant_nmse(const float *ref, const float *x, size_t n);

/* ---------------------------------------------------------------- the rule */

typedef struct tav_quant_params {
    /* Measured rule, output side: a layer whose output NMSE on the calibration
     * prompts exceeds this stays fp32. <= 0 disables it. Needs the engine. */
    double max_nmse;
    /* Measured rule, weight side: a layer whose worst output channel's
     * weight NMSE exceeds this stays fp32. <= 0 disables it. */
    double max_weight_nmse;
    /* Extra fp32 layers: fnmatch(3) patterns on tensor names (e.g.
     * "dit.blocks.*.mod.weight"); borrowed, n_keep entries. */
    const char *const *keep;
    size_t n_keep;
    /* Calibration prompts ("scene 1 | scene 2" each); NULL = built from the
     * model's vocabulary. Borrowed. Used only when calibration runs. */
    const char *const *calib_prompts;
    size_t n_calib_prompts;
    /* 0: skip calibration (weight NMSE only). */
    int calibrate;
    /* 1: drop the first/last-layer clause (those layers go int8 too). For
     * measuring what the clause buys (docs/quantization.md); not for use. */
    int int8_first_last;
} tav_quant_params;

/* max_nmse and max_weight_nmse at their defaults above, no keep patterns,
 * no explicit prompts, calibrate = 1. */
tav_quant_params tav_quant_default_params(void);

/* The static part of the rule for one tensor of an fp32 model. Returns 1 if
 * it is an int8 candidate (a Linear weight [out, in] or conv weight
 * [out, in, kh, kw] that no static clause keeps),
 * 0 if it stays in its dtype; *reason (never NULL when given) is a static
 * string saying which clause decided, e.g. "embedding table". */
int tav_quant_rule_check(const tav_tensor_view *t, const tav_quant_params *p, const char **reason);

/* ---------------------------------------------------------------- report */

typedef struct tav_quant_layer {
    char name[TAV_MODEL_MAX_NAME + 1];
    int ndim;
    int64_t shape[TAV_MODEL_MAX_DIMS];
    tav_dtype dtype_in, dtype_out;
    const char *reason;     /* which clause of the rule decided (static string) */
    /* For every tensor of 2+ dims, quantised or not (what int8 would cost
     * it); NaN for 1-D tensors. */
    double weight_nmse;     /* whole tensor */
    double weight_nmse_max; /* worst output channel */
    /* Output NMSE of int8 weights + int8 activations against the fp32 output,
     * over all calibration calls; NaN when not measured. */
    double out_nmse;
    long out_calls;         /* how many calls were measured */
    size_t bytes_in, bytes_out; /* data (+ scales) bytes */
} tav_quant_layer;

typedef struct tav_quant_report {
    tav_quant_layer *layers; /* one per tensor, file order; tav_malloc'd */
    size_t n_layers;
    size_t n_s8;             /* tensors written as s8 */
    size_t bytes_in, bytes_out; /* tensor data totals */
    size_t file_bytes_in, file_bytes_out; /* whole files (0 if not written) */
    int calibrated;          /* 1 if out_nmse was measured */
    char calib_note[256];    /* why not, or what was run */
    char source_sha256[65];
} tav_quant_report;

/* Prints the per-layer table and totals. */
void tav_quant_report_print(const tav_quant_report *rep, FILE *f);

/* Writes the table as CSV (header row + one row per tensor; NaN as empty).
 * Written temp-then-rename. Errors: TAV_ERR_IO (message names the path). */
tav_status tav_quant_report_write_csv(const tav_quant_report *rep, const char *path);

/* Frees what a report owns and zeroes it; a zeroed report is fine. */
void tav_quant_report_free(tav_quant_report *rep);

/* ---------------------------------------------------------------- quantiser */

/* Quantises the open fp32 model `in` into writer `w` (metadata copied, then
 * the provenance keys quant.version, quant.rule, quant.source_sha256,
 * quant.calibration added; tensors in file order, s8 where the rule says).
 * rep (zeroed first, then filled) must be freed by the caller, also on error.
 * Errors: TAV_ERR_INVALID_ARG (already quantised: an s8 tensor or a
 * quant.version key; bad params), TAV_ERR_FORMAT (NaN/inf weights),
 * TAV_ERR_NOMEM. */
tav_status tav_quant_model_convert(const tav_model *in, const tav_quant_params *p,
                                   tav_model_writer *w, tav_quant_report *rep);

/* Opens in_path (checksum verified), converts it and writes out_path
 * atomically (temporary file beside it, fsync, rename: an error never leaves
 * a partial out_path), then reopens the result to check it. Errors: as
 * tav_model_open() for the input, as above, TAV_ERR_INVALID_ARG (out_path is
 * in_path), TAV_ERR_IO for the output (message names the path and errno). */
tav_status tav_quant_file_convert(const char *in_path, const char *out_path,
                                  const tav_quant_params *p, tav_quant_report *rep);

/* ---------------------------------------------------------------- calibration
 *
 * Measures each Linear's output error from real fp32 activations: the engine
 * calls a hook with (layer, input x [m x k], fp32 output y [m x n]); for the
 * layer's int8 weights the calibrator computes
 *   y_q = tav_gemm_s8(quant_rows(x), w_s8) + bias
 * with simd's kernels (exactly what the int8 engine computes) and accumulates
 * sum (y_q - y)^2 and sum y^2. y must be the Linear's output before any
 * activation. Not thread-safe: one calibrator per fp32 run.
 */
typedef struct tav_quant_calib tav_quant_calib;

tav_status tav_quant_calib_init(tav_quant_calib **out);
void tav_quant_calib_free(tav_quant_calib *c);

/* Registers layer `name` (the weight tensor's name; observe() also accepts it
 * without the ".weight" suffix) with its int8 weights [n_out x k], scales and
 * optional fp32 bias [n_out]; all are copied (packed). Errors:
 * TAV_ERR_INVALID_ARG (duplicate name, sizes), TAV_ERR_NOMEM. */
tav_status tav_quant_calib_add_layer(tav_quant_calib *c, const char *name, const int8_t *w,
                                     const float *scale, const float *bias, int n_out, int k);

/* One fp32 call of a registered layer. Unregistered names are counted and
 * ignored (TAV_OK). Errors: TAV_ERR_INVALID_ARG (k or n differ from the
 * registered layer's), TAV_ERR_NOMEM. */
tav_status tav_quant_calib_observe(tav_quant_calib *c, const char *name, const float *x, int m,
                                   int k, const float *y, int n);

/* The accumulated output NMSE of layer name (NaN if never observed) and the
 * number of observed calls. TAV_ERR_NOT_FOUND if not registered. */
tav_status tav_quant_calib_result(const tav_quant_calib *c, const char *name, double *nmse,
                                  long *calls);

/* Calls whose layer name was not registered (e.g. an fp32-kept layer). */
long tav_quant_calib_unmatched(const tav_quant_calib *c);

/* 1 if this build can run calibration prompts through the fp32 engine (the
 * engine's linear hook exists), 0 if output NMSE cannot be measured here. */
int tav_quant_calib_available(void);

/* ---------------------------------------------------------------- end-to-end comparison
 *
 * `tav quantize --compare REF TEST` (quant/compare.c): both model files
 * generate the same prompts and seeds; frames are compared byte for byte.
 * Frame NMSE maps bytes to [-1, 1] (b / 127.5 - 1) and is sum (test - ref)^2 /
 * sum ref^2; PSNR is 10 log10(255^2 / MSE) on the bytes (inf when equal).
 */
typedef struct tav_quant_cmp_stats {
    double sq_err, sq_ref; /* sums over values mapped to [-1, 1] */
    double abs_sum;        /* sum |test - ref| in bytes */
    uint64_t n_values;
    int max_diff;          /* largest |test - ref| in bytes */
    int n_frames;
} tav_quant_cmp_stats;

/* Adds n bytes of frames (ref and test, same layout) to s. */
void tav_quant_cmp_add(tav_quant_cmp_stats *s, const uint8_t *ref, const uint8_t *test, size_t n);
void tav_quant_cmp_merge(tav_quant_cmp_stats *into, const tav_quant_cmp_stats *s);
double tav_quant_cmp_nmse(const tav_quant_cmp_stats *s); /* 0 when equal */
double tav_quant_cmp_psnr(const tav_quant_cmp_stats *s); /* dB; INFINITY when equal */

/* TAV_OK if the two opened models make comparable videos (same resolution,
 * fps, frames per scene, sampler steps and guidance), else
 * TAV_ERR_INVALID_ARG naming the difference. */
tav_status tav_quant_compare_check(const tav_pipeline *ref, const tav_pipeline *test);

/* Generates scenes with seed on both (threads: 0 = all cores; the bytes do
 * not depend on it) and adds the frames to s. Errors: the pipeline's
 * (TAV_ERR_UNKNOWN_WORD names the word), TAV_ERR_INVALID_ARG if the videos
 * differ in shape. */
tav_status tav_quant_compare_run(tav_pipeline *ref, tav_pipeline *test, const char *const *scenes,
                                 int n_scenes, uint64_t seed, int threads, tav_quant_cmp_stats *s);

/* ---------------------------------------------------------------- CLI */

/* `tav quantize` (quant/cli_quantize.c); exit status per core/cli.h. */
int tav_cmd_quantize(int argc, char **argv);

#endif
