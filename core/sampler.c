/* sampler.c — the portable noise generator and the Euler / CFG sampler
 * (docs/model.md, "Sampler and guidance" and "Noise"). */
#include "core/sampler.h"

#include <math.h>

/* ---------------------------------------------------------------- noise */

static uint64_t splitmix64(uint64_t x)
{
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tav_noise_fill(float *x, size_t n, uint64_t seed)
{
    const double two_pi = 2.0 * 3.14159265358979323846;
    uint64_t base = seed << 32; /* seed * 2^32 with 64-bit wrap-around */
    for (size_t i = 0; i < n; i++) {
        uint64_t r = splitmix64(base + (uint64_t)i);
        double u1 = ((double)(r >> 40) + 1.0) / 16777216.0;
        double u2 = (double)((r >> 16) & 0xFFFFFFu) / 16777216.0;
        x[i] = (float)(sqrt(-2.0 * log(u1)) * cos(two_pi * u2));
    }
}

/* ---------------------------------------------------------------- Euler */

tav_status tav_sampler_run(const tav_sampler_job *j)
{
    /* z [T, C, h, h] in place: tau_i = 1 - i/steps, z += (tau_{i+1} - tau_i) v */
    size_t n = (size_t)j->T * j->cfg->latent_channels * j->cfg->latent_size * j->cfg->latent_size;
    int use_cfg = j->txt_u && j->cfg_scale != 1.0f;
    for (int i = 0; i < j->steps; i++) {
        if (tav_engine_cancelled(j->ec))
            return tav_fail(TAV_ERR_CANCELLED, "generation cancelled");
        float tau = (float)(1.0 - (double)i / j->steps);
        float dt = (float)((1.0 - (double)(i + 1) / j->steps) - (1.0 - (double)i / j->steps));
        tav_status st = tav_dit_forward(j->dit, j->ec, j->ws, j->z, j->T, tau, j->txt_c, j->l_c,
                                        j->vc, NULL);
        if (st == TAV_OK && use_cfg)
            st = tav_dit_forward(j->dit, j->ec, j->ws, j->z, j->T, tau, j->txt_u, j->l_u, j->vu,
                                 NULL);
        if (st != TAV_OK)
            return st;
        float w = j->cfg_scale;
        for (size_t e = 0; e < n; e++) {
            float v = use_cfg ? j->vu[e] + w * (j->vc[e] - j->vu[e]) : j->vc[e];
            j->z[e] = j->z[e] + dt * v;
        }
        if (j->on_step) {
            st = j->on_step(j->user, i + 1, j->z);
            if (st != TAV_OK)
                return st;
        }
    }
    return TAV_OK;
}
