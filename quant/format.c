/* format.c — the int8 weight format: per-output-channel symmetric rows, and NMSE. */
#include "quant/quant.h"

#include <float.h>
#include <math.h>

/* ---------------------------------------------------------------- encode / decode */

tav_status tav_quant_encode_rows(int8_t *q, float *scale, const float *w, size_t rows, size_t k)
{
    if (!q || !scale || !w || rows < 1 || k < 1)
        return tav_fail(TAV_ERR_INVALID_ARG, "tav_quant_encode_rows: NULL buffer or empty shape");
    for (size_t r = 0; r < rows; r++) {
        const float *wr = w + r * k;
        int8_t *qr = q + r * k;
        float amax = 0.0f;
        for (size_t j = 0; j < k; j++) {
            if (!isfinite(wr[j]))
                return tav_fail(TAV_ERR_FORMAT, "weight [%zu][%zu] is %s: cannot quantise", r, j,
                                isnan(wr[j]) ? "NaN" : "infinite");
            amax = fmaxf(amax, fabsf(wr[j]));
        }
        /* The stored scale is a float; q is chosen for that stored value, in
         * double, so subnormal rows (where 127/amax overflows a float) and
         * rows near FLT_MAX both round correctly. */
        float s = (float)((double)amax / 127.0);
        if ((double)s * 127.0 > FLT_MAX) /* near FLT_MAX: 127 * s must stay finite */
            s = nextafterf(s, 0.0f);
        scale[r] = s;
        if (s == 0.0f) { /* all zero, or below 127 * 2^-150: rounds to zeros */
            for (size_t j = 0; j < k; j++)
                qr[j] = 0;
            continue;
        }
        double inv = 1.0 / (double)s;
        for (size_t j = 0; j < k; j++) {
            double v = nearbyint((double)wr[j] * inv); /* round half to even */
            v = v > 127.0 ? 127.0 : v < -127.0 ? -127.0 : v;
            qr[j] = (int8_t)v;
        }
    }
    return TAV_OK;
}

void tav_quant_decode_rows(float *out, const int8_t *q, const float *scale, size_t rows, size_t k)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < k; j++)
            out[r * k + j] = (float)q[r * k + j] * scale[r];
}

/* ---------------------------------------------------------------- error */

double tav_quant_nmse(const float *ref, const float *x, size_t n)
{
    double err = 0.0, pow = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)ref[i];
        err += d * d;
        pow += (double)ref[i] * (double)ref[i];
    }
    if (pow == 0.0)
        return err == 0.0 ? 0.0 : INFINITY;
    return err / pow;
}
