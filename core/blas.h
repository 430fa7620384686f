/* blas.h — the two BLAS entry points the engine uses (cblas_sgemm and
 * OpenBLAS's thread control), from the system's <cblas.h> when the compiler
 * finds it, else declared here with the CBLAS ABI values. The fallback exists
 * for cross builds without a target OpenBLAS (the aarch64 engine tests link
 * tests/arm/sgemm_portable.c instead); the product links -lopenblas. */
#ifndef TAV_BLAS_H
#define TAV_BLAS_H

#if defined(__has_include)
#if __has_include(<cblas.h>)
#include <cblas.h>
#define TAV_HAVE_CBLAS_H 1
#endif
#endif

#ifndef TAV_HAVE_CBLAS_H
typedef enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 } CBLAS_ORDER;
typedef enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 } CBLAS_TRANSPOSE;
void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                 const enum CBLAS_TRANSPOSE tb, const int m, const int n, const int k,
                 const float alpha, const float *a, const int lda, const float *b, const int ldb,
                 const float beta, float *c, const int ldc);
#endif

/* OpenBLAS's own thread control (declared by its cblas.h; repeated so the
 * build does not depend on which cblas.h the include path finds). */
void openblas_set_num_threads(int num_threads);

#endif
