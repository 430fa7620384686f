/* calib_run.c — drives the fp32 engine over calibration prompts for the quantiser.
 *
 * The engine (core/, issue 6) is not built yet: the linear hook
 * tav_engine_set_linear_hook() it will provide is what this file needs. Until
 * then calibration reports TAV_ERR_UNSUPPORTED and the quantiser says so; it
 * never invents an output NMSE.
 */
#include "quant/quant_priv.h"

#include <stdio.h>

tav_status tav_quant_calib_run(const tav_model *in, const char *path, const tav_quant_params *p,
                               tav_quant_calib *c, char *note, size_t note_size)
{
    (void)in;
    (void)path;
    (void)p;
    (void)c;
    snprintf(note, note_size,
             "not run: output NMSE needs the fp32 engine (core/pipeline.c, "
             "not built in this version) to run calibration prompts");
    return tav_fail(TAV_ERR_UNSUPPORTED, "%s", note);
}

int tav_quant_calib_available(void) { return 0; }
