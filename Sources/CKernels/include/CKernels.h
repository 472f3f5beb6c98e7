#ifndef CAPFILT_CKERNELS_H
#define CAPFILT_CKERNELS_H
// Kernels Swift cannot express: Swift compiles a whole module for one target CPU (Haswell here)
// and has no per-function target attribute, so AVX-512 and AVX512-BF16's dot-product instruction
// (vdpbf16ps) are out of its reach. Callers check the CPU first (capfilt_has_avx512f,
// OneDNN.nativeBF16); Tensor/Ops calls these only.
#include <stdint.h>

// y[r * ldy + j] = Σ_i x[r][i] · w[j][i] (+ bias[j]) for rows r < m and outputs j in [j0, j1):
// x [m, k] and w [n, k] row-major fp32. Each output is the same sequence of operations whichever
// rows come with it and whichever j0..j1 block it falls in (RowsLinear.c). bias may be NULL.
// Needs AVX-512F.
void capfilt_f32_linear_rows(const float *x, int m, int k, const float *w, int j0, int j1,
                             float *y, int ldy, const float *bias);

// Whether this CPU has AVX-512F.
int capfilt_has_avx512f(void);

// As capfilt_f32_linear_rows for x [m, k] and w [n, k] bf16 bit patterns: products of two bf16
// values are exact in fp32, sums are fp32 (vdpbf16ps: pairs of products added to 16 fp32 lanes,
// round to nearest even, denormals flushed — as oneDNN's bf16 matmul computes on these CPUs).
void capfilt_bf16_linear_rows(const uint16_t *x, int m, int k, const uint16_t *w, int j0, int j1,
                              float *y, int ldy, const float *bias);

#endif
