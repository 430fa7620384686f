/* blas.h — the two BLAS entry points the engine uses: cblas_sgemm from the
 * system's <cblas.h> and OpenBLAS's thread control. The product links
 * -lopenblas, natively and in the AArch64 cross build (`make arm`, against
 * Debian's libopenblas-dev:arm64). */
#ifndef TAV_BLAS_H
#define TAV_BLAS_H

#include <cblas.h>

/* OpenBLAS's own thread control (declared by its cblas.h; repeated so the
 * build does not depend on which cblas.h the include path finds). */
void openblas_set_num_threads(int num_threads);

#endif
