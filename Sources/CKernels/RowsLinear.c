// AVX-512 kernels for nn.Linear over the rows of a decoding step (Tensor/SmallRowsLinear.swift), fp32
// and bf16. Weight rows are taken four at a time and, while those four sit in L1, every block of up
// to six input rows is multiplied into them: the weights come from memory once, whatever the row
// count. Each output is one accumulator of 16 lanes (fp32: one FMA per 16 values of k; bf16: one
// vdpbf16ps per 32), reduced the same way and then given its bias, so its bits do not depend on
// how many rows come with it, in which block it falls, or how the outputs are split over threads:
// a caption is the same alone or batched with other inputs' frames.
#include "CKernels.h"
#include <immintrin.h>

#define TARGET_F32 __attribute__((target("avx512f")))
#define TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// ROWS input rows (1–6) against COLS weight rows (1 or 4) at output j: 6 × 4 accumulators, 4
// weight vectors and an input vector fit AVX-512's 32 registers. ROWS and COLS are constants in
// each use, so the loops unroll and the accumulators stay in registers. STEP values of k per
// instruction; LOAD(p, i, mask) reads one, zero-filled past k; FMA adds x·w into an accumulator.
#define BLOCK(ROWS, COLS, STEP, MASK_T, FULL, LOAD, FMA)                                          \
    do {                                                                                         \
        __m512 acc[ROWS][COLS];                                                                  \
        for (int r = 0; r < ROWS; r++)                                                           \
            for (int c = 0; c < COLS; c++) acc[r][c] = _mm512_setzero_ps();                      \
        for (int i = 0; i < k; i += STEP) {                                                      \
            MASK_T mask = k - i >= STEP ? FULL : (MASK_T)((1u << (k - i)) - 1);                  \
            __typeof__(LOAD(w, i, mask)) wv[COLS];                                               \
            for (int c = 0; c < COLS; c++) {                                                     \
                wv[c] = LOAD(w + (size_t)(j + c) * k, i, mask);                                  \
                /* The next block's weight rows, so memory overlaps this block's products. */    \
                _mm_prefetch((const char *)(w + (size_t)(j + COLS + c) * k + i), _MM_HINT_T0);   \
            }                                                                                    \
            for (int r = 0; r < ROWS; r++) {                                                     \
                __typeof__(LOAD(x, i, mask)) xv = LOAD(x + (size_t)r * k, i, mask);              \
                for (int c = 0; c < COLS; c++) acc[r][c] = FMA(acc[r][c], xv, wv[c]);            \
            }                                                                                    \
        }                                                                                        \
        for (int r = 0; r < ROWS; r++)                                                           \
            for (int c = 0; c < COLS; c++)                                                       \
                y[(size_t)r * ldy + j + c] = _mm512_reduce_add_ps(acc[r][c]) + (bias ? bias[j + c] : 0.0f); \
    } while (0)

// The entry point over outputs [j0, j1): blocks of four weight rows (then single ones), and for
// each, the input rows in blocks of up to six through BLOCKS[cols == 4 ? 0 : 1][rows - 1].
#define ROWS_DRIVER(NAME, T, BLOCKS)                                                             \
    void NAME(const T *x, int m, int k, const T *w, int j0, int j1, float *y, int ldy,           \
              const float *bias) {                                                               \
        for (int j = j0; j < j1;) {                                                              \
            int cols = j1 - j >= 4 ? 4 : 1;                                                      \
            for (int r0 = 0; r0 < m; r0 += 6) {                                                  \
                int rows = m - r0 < 6 ? m - r0 : 6;                                              \
                BLOCKS[cols == 4 ? 0 : 1][rows - 1](x + (size_t)r0 * k, k, w, j, y + (size_t)r0 * ldy, ldy, bias); \
            }                                                                                    \
            j += cols;                                                                           \
        }                                                                                        \
    }

// ---- fp32 -------------------------------------------------------------------------------------

#define F32_LOAD(p, i, mask) _mm512_maskz_loadu_ps(mask, (p) + (i))
#define F32_FMA(acc, xv, wv) _mm512_fmadd_ps(xv, wv, acc)

#define F32_KERNEL(ROWS, COLS)                                                                   \
    TARGET_F32 static void f32_##ROWS##x##COLS(const float *x, int k, const float *w, int j,    \
                                                float *y, int ldy, const float *bias) {          \
        BLOCK(ROWS, COLS, 16, __mmask16, 0xFFFF, F32_LOAD, F32_FMA);                             \
    }

F32_KERNEL(1, 4) F32_KERNEL(2, 4) F32_KERNEL(3, 4) F32_KERNEL(4, 4) F32_KERNEL(5, 4) F32_KERNEL(6, 4)
F32_KERNEL(1, 1) F32_KERNEL(2, 1) F32_KERNEL(3, 1) F32_KERNEL(4, 1) F32_KERNEL(5, 1) F32_KERNEL(6, 1)

typedef void (*f32_block)(const float *, int, const float *, int, float *, int, const float *);
static const f32_block f32_blocks[2][6] = {
    {f32_1x4, f32_2x4, f32_3x4, f32_4x4, f32_5x4, f32_6x4},
    {f32_1x1, f32_2x1, f32_3x1, f32_4x1, f32_5x1, f32_6x1},
};

ROWS_DRIVER(capfilt_f32_linear_rows, float, f32_blocks)

int capfilt_has_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

// ---- bf16 -------------------------------------------------------------------------------------

#define BF16_LOAD(p, i, mask) ((__m512bh)_mm512_maskz_loadu_epi16(mask, (p) + (i)))
#define BF16_FMA(acc, xv, wv) _mm512_dpbf16_ps(acc, xv, wv)

#define BF16_KERNEL(ROWS, COLS)                                                                  \
    TARGET_BF16 static void bf16_##ROWS##x##COLS(const uint16_t *x, int k, const uint16_t *w, int j, \
                                                  float *y, int ldy, const float *bias) {        \
        BLOCK(ROWS, COLS, 32, __mmask32, 0xFFFFFFFFu, BF16_LOAD, BF16_FMA);                      \
    }

BF16_KERNEL(1, 4) BF16_KERNEL(2, 4) BF16_KERNEL(3, 4) BF16_KERNEL(4, 4) BF16_KERNEL(5, 4) BF16_KERNEL(6, 4)
BF16_KERNEL(1, 1) BF16_KERNEL(2, 1) BF16_KERNEL(3, 1) BF16_KERNEL(4, 1) BF16_KERNEL(5, 1) BF16_KERNEL(6, 1)

typedef void (*bf16_block)(const uint16_t *, int, const uint16_t *, int, float *, int, const float *);
static const bf16_block bf16_blocks[2][6] = {
    {bf16_1x4, bf16_2x4, bf16_3x4, bf16_4x4, bf16_5x4, bf16_6x4},
    {bf16_1x1, bf16_2x1, bf16_3x1, bf16_4x1, bf16_5x1, bf16_6x1},
};

ROWS_DRIVER(capfilt_bf16_linear_rows, uint16_t, bf16_blocks)
