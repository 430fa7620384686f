/* sampler.h — portable noise and the Euler / classifier-free-guidance sampler
 * over the DiT (engine-internal; docs/model.md is the definition).
 *
 *   tav_noise_fill(z, T * C * h * h, seed);       // the same numbers as train/model.py
 *   tav_sampler_job j = {.dit = &dit, .ec = &ec, .ws = &ws, .cfg = &cfg, .z = z, .T = T,
 *                        .steps = 3, .cfg_scale = 3.0f, .txt_c = txt, .l_c = L,
 *                        .txt_u = null_txt, .l_u = 1, .vc = vc, .vu = vu};
 *   tav_status st = tav_sampler_run(&j);          // z now holds the clean latents
 *
 * Contracts: z, vc, vu hold T*C*h*h floats (caller-owned, e.g. from the
 * arena); vu may be NULL when txt_u is NULL or cfg_scale == 1 (one DiT pass
 * per step). on_step (optional) runs after each step with the new z; a
 * non-OK return stops the sampler with that status. The cancel flag in ec is
 * checked before each step and between DiT blocks: TAV_ERR_CANCELLED.
 */
#ifndef TAV_SAMPLER_H
#define TAV_SAMPLER_H

#include "core/engine.h"

typedef tav_status (*tav_sampler_step_fn)(void *user, int step, const float *z);

typedef struct tav_sampler_job {
    const tav_dit *dit;
    const tav_engine_ctx *ec;
    tav_dit_ws *ws;
    const tav_engine_cfg *cfg;
    float *z;
    int T, steps;
    float cfg_scale;
    const float *txt_c, *txt_u; /* [l_c, D], [l_u, D] (txt_u may be NULL) */
    int l_c, l_u;
    float *vc, *vu;
    tav_sampler_step_fn on_step;
    void *user;
} tav_sampler_job;

tav_status tav_sampler_run(const tav_sampler_job *j);

#endif
