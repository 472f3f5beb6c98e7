#ifndef CAPFILT_CONEDNN_SHIM_H
#define CAPFILT_CONEDNN_SHIM_H
// oneDNN (Debian's libdnnl-dev 2.6) for bf16 matrix products. Only what Swift cannot import lives here.
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <dlfcn.h>
#include <stdint.h>

// DNNL_RUNTIME_DIM_VAL is INT64_MIN spelled as a macro expression.
static const int64_t capfilt_dnnl_runtime_dim = DNNL_RUNTIME_DIM_VAL;

// Debian's oneDNN runs on OpenMP (libgomp, loaded with it). omp_set_num_threads sets the calling
// thread's team size; it is looked up rather than linked because gcc's omp.h and libgomp.so are not
// on clang's search paths. Returns 0 when libgomp is not loaded.
static inline int capfilt_omp_set_num_threads(int n) {
    static void (*fn)(int) = 0;
    static int looked = 0;
    if (!looked) { fn = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads"); looked = 1; }
    if (!fn) return 0;
    fn(n);
    return 1;
}
#endif
