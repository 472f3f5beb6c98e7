#ifndef CAPFILT_COPENBLAS_SHIM_H
#define CAPFILT_COPENBLAS_SHIM_H
// Debian's libopenblas-dev installs cblas.h through the alternatives system.
#include <cblas.h>
// openblas_set_num_threads / openblas_get_num_threads are OpenBLAS extensions declared in its cblas.h.
#endif
