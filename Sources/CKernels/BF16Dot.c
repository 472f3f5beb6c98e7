// AVX512-BF16 kernel for the few rows of a decoding step (Tensor/SmallRowsLinear.swift): the
// weights stream from memory once, 32 bf16 values per load, each load multiplied into every
// input row's sums (vdpbf16ps) while the rows, a few KB, stay in L1.
#include "CKernels.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// A 32-wide chunk of row p from element i, the last chunk zero-filled past k.
TARGET static inline __m512bh chunk(const uint16_t *p, int i, __mmask32 mask) {
    return (__m512bh)_mm512_maskz_loadu_epi16(mask, p + i);
}

// ROWS input rows (1–4) against COLS weight rows (1 or 4) at output j; ROWS and COLS are constants
// in each use, so the accumulators stay in registers.
#define BLOCK(ROWS, COLS)                                                                        \
    do {                                                                                         \
        __m512 acc[4][4];                                                                        \
        for (int r = 0; r < ROWS; r++)                                                           \
            for (int c = 0; c < COLS; c++) acc[r][c] = _mm512_setzero_ps();                      \
        for (int i = 0; i < k; i += 32) {                                                        \
            __mmask32 mask = k - i >= 32 ? 0xFFFFFFFFu : (1u << (k - i)) - 1;                    \
            __m512bh wv[4];                                                                      \
            for (int c = 0; c < COLS; c++) wv[c] = chunk(w + (size_t)(j + c) * k, i, mask);     \
            for (int r = 0; r < ROWS; r++) {                                                     \
                __m512bh xv = chunk(x + (size_t)r * k, i, mask);                                 \
                for (int c = 0; c < COLS; c++) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], xv, wv[c]); \
            }                                                                                    \
        }                                                                                        \
        for (int r = 0; r < ROWS; r++)                                                           \
            for (int c = 0; c < COLS; c++)                                                       \
                y[(size_t)r * ldy + j + c] = _mm512_reduce_add_ps(acc[r][c]) + (bias ? bias[j + c] : 0.0f); \
    } while (0)

#define ROWS_KERNEL(ROWS)                                                                        \
    TARGET static void rows##ROWS(const uint16_t *x, int k, const uint16_t *w, int j0, int j1,   \
                                  float *y, int ldy, const float *bias) {                        \
        int j = j0;                                                                              \
        for (; j + 4 <= j1; j += 4) BLOCK(ROWS, 4);                                              \
        for (; j < j1; j++) BLOCK(ROWS, 1);                                                      \
    }

ROWS_KERNEL(1)
ROWS_KERNEL(2)
ROWS_KERNEL(3)
ROWS_KERNEL(4)

void capfilt_bf16_linear_rows(const uint16_t *x, int m, int k, const uint16_t *w, int j0, int j1,
                              float *y, int ldy, const float *bias) {
    for (int r0 = 0; r0 < m; r0 += 4) {
        const uint16_t *xs = x + (size_t)r0 * k;
        float *ys = y + (size_t)r0 * ldy;
        switch (m - r0 < 4 ? m - r0 : 4) {
        case 1: rows1(xs, k, w, j0, j1, ys, ldy, bias); break;
        case 2: rows2(xs, k, w, j0, j1, ys, ldy, bias); break;
        case 3: rows3(xs, k, w, j0, j1, ys, ldy, bias); break;
        default: rows4(xs, k, w, j0, j1, ys, ldy, bias); break;
        }
    }
}
