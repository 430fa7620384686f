/* quant_priv.h — shared between quant/quantize.c and quant/calib_run.c only. */
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

#endif
