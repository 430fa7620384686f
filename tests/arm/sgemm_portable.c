/* sgemm_portable.c — a plain C cblas_sgemm (row-major; the engine's NoTrans/
 * Trans cases) for the aarch64 cross build of the engine tests, where no
 * target OpenBLAS is installed. Not part of the product (core/ links
 * OpenBLAS); the int8 path under test uses the real NEON kernels. */
#include "core/blas.h"

#include <stddef.h>

void openblas_set_num_threads(int num_threads) { (void)num_threads; }

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                 const enum CBLAS_TRANSPOSE tb, const int m, const int n, const int k,
                 const float alpha, const float *a, const int lda, const float *b, const int ldb,
                 const float beta, float *c, const int ldc)
{
    (void)order; /* row-major only */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) {
                float x = ta == CblasNoTrans ? a[(size_t)i * lda + p] : a[(size_t)p * lda + i];
                float y = tb == CblasNoTrans ? b[(size_t)p * ldb + j] : b[(size_t)j * ldb + p];
                acc += x * y;
            }
            c[(size_t)i * ldc + j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j]);
        }
}
