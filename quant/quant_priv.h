/* quant_priv.h — shared between the files of quant/ only. */
#ifndef TAV_QUANT_PRIV_H
#define TAV_QUANT_PRIV_H

#include "quant/quant.h"

/* Runs the calibration prompts through the fp32 engine on model `in` (opened
 * from `path`, which may be NULL when the model came from memory), feeding
 * every Linear call to `c`. Writes a one-line description of what ran (or
 * why nothing could) into note. TAV_ERR_UNSUPPORTED when this build has no
 * engine hook; other errors as the engine's. */
tav_status tav_quant_calib_run(const tav_model *in, const char *path, const tav_quant_params *p,
                               tav_quant_calib *c, char *note, size_t note_size);

/* Splits "a | b | c" into trimmed, non-empty scenes (at most TAV_MAX_SCENES)
 * inside buf (a copy of prompt); scenes point into buf. Returns the count. */
int tav_quant_split_scenes(const char *prompt, char *buf, size_t size, const char **scenes);

/* Built-in caption i (calib_run.c), NULL past the last. */
const char *tav_quant_builtin_prompt(int i);

/* Reads non-empty, non-'#' lines of path into prompts[0..max) as tav_malloc'd
 * copies; *n is how many were stored (the caller frees them, also on error).
 * Errors (named in tav_last_error): TAV_ERR_IO, TAV_ERR_LIMIT (more than max),
 * TAV_ERR_INVALID_ARG (no prompt), TAV_ERR_NOMEM. */
tav_status tav_quant_read_prompts(const char *path, size_t max, char **prompts, size_t *n);

/* `tav quantize --compare REF TEST ...` (quant/compare.c); exit status per core/cli.h. */
int tav_quant_cmd_compare(int argc, char **argv);

#endif
