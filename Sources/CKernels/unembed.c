// The three unembedding products of a training step, which together are
// three quarters of its arithmetic at the paper's 12,800 classes:
//   forward   logits (B, C) = h (B, D) @ W (D, C) + bias
//   backward  dW (D, C) += h^T @ dl;  dbias (C) += column sums of dl;  dh (B, D) += dl @ W^T
// Their shapes, 32 x 64 x 12,800, keep OpenBLAS below its peak; here the
// outputs sit in registers, 8 rows x 32 columns, while a strip of the other
// operand stays in L1, and rows far apart in memory are prefetched.
//
// Every output element is a chain of fused multiply-adds in a fixed order,
// the same in every lane, at 16 lanes (AVX-512), 8 (AVX2) and in the
// one-lane reference:
//   logits[b, c] = (fma over d = 0, 1, ... of h[b, d] W[d, c], from 0) + bias[c]
//   dW[d, c]     = dW[d, c] + (fma over b = 0, 1, ... of h[b, d] dl[b, c], from 0)
//   dbias[c]     = dbias[c] + dl[0, c] + dl[1, c] + ...
//   dh[b, d]     = dh[b, d] + chain over block 1 + chain over block 2 + ...,
//                  each chain the fma over the block's classes in order, from 0;
//                  blocks of Q classes while 2Q or more remain; then, if more
//                  than Q remain, half of them rounded up to a multiple of 16;
//                  then the rest (OpenBLAS's level-3 driver splits its inner
//                  dimension so, with Q its GEMM_Q and 16 its unroll).
// These are also the orders of OpenBLAS 0.3.21's sgemm, single-threaded, with
// its Cooperlake kernels (Q = 320) and its SkylakeX kernels (Q = 448), for the
// shapes `Kernels.unembedInC` admits; the caller uses the kernels only there,
// so training gives the same bits as with OpenBLAS alone. (Tests compare the
// kernels with the orders written out, and with OpenBLAS.)
#include "kernels.h"
#include <immintrin.h>

#define ROWS 8      // output rows held in registers
#define VECS 2      // 16-float vectors per row: a strip of 32 columns
#define CHUNK 512   // classes per pass of the backward: their dl and dW stay in L2
#define AHEAD 64    // prefetch distance in floats: two strips (a strip takes ~1 us, memory ~0.1 us)
#define MAX_CLASS_BLOCK 448   // the largest block of classes per chain of dh a caller may ask for

// One chain: acc = fma over k of a[k * ak] b[k * ldb], from 0.
__attribute__((target("fma")))
static float chain(const float *a, long ak, const float *b, long ldb, long K) {
    float acc = 0;
    for (long k = 0; k < K; k++) acc = __builtin_fmaf(a[k * ak], b[k * ldb], acc);
    return acc;
}

// out (M, N) rows i of `ldo`, one element at a time, where
// A[i, k] = a[i * ai + k * ak] and Bm[k, j] = b[k * ldb + j]:
//   bias != NULL: out = chain + bias[j];  bias == NULL: out = out + chain.
__attribute__((target("fma")))
static void broadcast1(float *out, long ldo, const float *a, long ai, long ak, const float *b, long ldb,
                       const float *bias, long M, long N, long K) {
    for (long i = 0; i < M; i++)
        for (long j = 0; j < N; j++) {
            float acc = chain(a + i * ai, ak, b + j, ldb, K);
            float *o = out + i * ldo + j;
            *o = bias ? acc + bias[j] : *o + acc;
        }
}

// Rows [0, rows) x vectors [0, vecs) of the same, 16 lanes at a time;
// `rows` and `vecs` are constants where this is inlined, so the sums stay
// in registers.
static inline __attribute__((always_inline, target("avx512f")))
void block16(int rows, int vecs, float *out, long ldo, const float *a, long ai, long ak,
             const float *b, long ldb, const float *bias, long K) {
    __m512 acc[ROWS][VECS];
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < vecs; v++) acc[i][v] = _mm512_setzero_ps();
    for (long k = 0; k < K; k++) {
        __m512 w[VECS];
        for (int v = 0; v < vecs; v++) w[v] = _mm512_loadu_ps(b + k * ldb + 16 * v);
        // Bm's rows are far apart (a row of classes each): fetch the strip after next
        _mm_prefetch((const char *)(b + k * ldb + AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + k * ldb + AHEAD + 16), _MM_HINT_T0);
        for (int i = 0; i < rows; i++) {
            __m512 x = _mm512_set1_ps(a[i * ai + k * ak]);
            for (int v = 0; v < vecs; v++) acc[i][v] = _mm512_fmadd_ps(x, w[v], acc[i][v]);
        }
    }
    for (int i = 0; i < rows; i++) {
        _mm_prefetch((const char *)(out + i * ldo + AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(out + i * ldo + AHEAD + 16), _MM_HINT_T0);
        for (int v = 0; v < vecs; v++) {
            float *o = out + i * ldo + 16 * v;
            _mm512_storeu_ps(o, bias ? _mm512_add_ps(acc[i][v], _mm512_loadu_ps(bias + 16 * v))
                                     : _mm512_add_ps(_mm512_loadu_ps(o), acc[i][v]));
        }
    }
}

// The same for one vector of the last `cols` (< 16) columns, under a mask:
// the lanes past them are neither read nor written (a narrow output, such as
// the input gradient of a few sequences, keeps ROWS chains in flight instead
// of one).
static inline __attribute__((always_inline, target("avx512f")))
void tail16(int rows, __mmask16 cols, float *out, long ldo, const float *a, long ai, long ak,
            const float *b, long ldb, const float *bias, long K) {
    __m512 acc[ROWS];
    for (int i = 0; i < rows; i++) acc[i] = _mm512_setzero_ps();
    for (long k = 0; k < K; k++) {
        __m512 w = _mm512_maskz_loadu_ps(cols, b + k * ldb);
        for (int i = 0; i < rows; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * ai + k * ak]), w, acc[i]);
    }
    for (int i = 0; i < rows; i++) {
        float *o = out + i * ldo;
        _mm512_mask_storeu_ps(o, cols, bias ? _mm512_add_ps(acc[i], _mm512_maskz_loadu_ps(cols, bias))
                                            : _mm512_add_ps(_mm512_maskz_loadu_ps(cols, o), acc[i]));
    }
}

// Rows of one strip of `vecs` vectors at column j: blocks of ROWS, then 4, 2, 1.
#define STRIP(vecs)                                                                                  \
    do {                                                                                             \
        long i = 0;                                                                                  \
        for (; i + ROWS <= M; i += ROWS) BLOCK(ROWS, vecs);                                          \
        if (i + 4 <= M) { BLOCK(4, vecs); i += 4; }                                                  \
        if (i + 2 <= M) { BLOCK(2, vecs); i += 2; }                                                  \
        if (i < M) BLOCK(1, vecs);                                                                   \
    } while (0)
#define BLOCK(rows, vecs) \
    block16(rows, vecs, out + i * ldo + j, ldo, a + i * ai, ai, ak, b + j, ldb, bias ? bias + j : NULL, K)

// The whole (M, N) output: strips of 32 columns, then of 16, then the last
// columns under a mask.
__attribute__((target("avx512f")))
static void broadcast16(float *out, long ldo, const float *a, long ai, long ak, const float *b, long ldb,
                        const float *bias, long M, long N, long K) {
    long j = 0;
    for (; j + 16 * VECS <= N; j += 16 * VECS) STRIP(VECS);
    for (; j + 16 <= N; j += 16) STRIP(1);
    if (j == N) return;
    const __mmask16 cols = (__mmask16)((1u << (N - j)) - 1);
#undef BLOCK
#define BLOCK(rows, vecs) \
    tail16(rows, cols, out + i * ldo + j, ldo, a + i * ai, ai, ak, b + j, ldb, bias ? bias + j : NULL, K)
    STRIP(1);
}
#undef BLOCK
#undef STRIP

// The same at 8 lanes (AVX2 and FMA), for CPUs without AVX-512: the same
// chains, so the same bits. 16 registers hold ROWS8 x VECS sums, the strip
// of Bm and the broadcast element of A.
#define ROWS8 6

static inline __attribute__((always_inline, target("avx2,fma")))
void block8(int rows, int vecs, float *out, long ldo, const float *a, long ai, long ak,
            const float *b, long ldb, const float *bias, long K) {
    __m256 acc[ROWS8][VECS];
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < vecs; v++) acc[i][v] = _mm256_setzero_ps();
    for (long k = 0; k < K; k++) {
        __m256 w[VECS];
        for (int v = 0; v < vecs; v++) w[v] = _mm256_loadu_ps(b + k * ldb + 8 * v);
        _mm_prefetch((const char *)(b + k * ldb + AHEAD), _MM_HINT_T0);
        for (int i = 0; i < rows; i++) {
            __m256 x = _mm256_set1_ps(a[i * ai + k * ak]);
            for (int v = 0; v < vecs; v++) acc[i][v] = _mm256_fmadd_ps(x, w[v], acc[i][v]);
        }
    }
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < vecs; v++) {
            float *o = out + i * ldo + 8 * v;
            _mm256_storeu_ps(o, bias ? _mm256_add_ps(acc[i][v], _mm256_loadu_ps(bias + 8 * v))
                                     : _mm256_add_ps(_mm256_loadu_ps(o), acc[i][v]));
        }
}

// The last `cols` (< 8) columns under a mask (lanes past them neither read nor written).
static inline __attribute__((always_inline, target("avx2,fma")))
void tail8(int rows, __m256i cols, float *out, long ldo, const float *a, long ai, long ak,
           const float *b, long ldb, const float *bias, long K) {
    __m256 acc[ROWS8];
    for (int i = 0; i < rows; i++) acc[i] = _mm256_setzero_ps();
    for (long k = 0; k < K; k++) {
        __m256 w = _mm256_maskload_ps(b + k * ldb, cols);
        for (int i = 0; i < rows; i++) acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(a[i * ai + k * ak]), w, acc[i]);
    }
    for (int i = 0; i < rows; i++) {
        float *o = out + i * ldo;
        _mm256_maskstore_ps(o, cols, bias ? _mm256_add_ps(acc[i], _mm256_maskload_ps(bias, cols))
                                          : _mm256_add_ps(_mm256_maskload_ps(o, cols), acc[i]));
    }
}

#define STRIP(vecs)                                                                                  \
    do {                                                                                             \
        long i = 0;                                                                                  \
        for (; i + ROWS8 <= M; i += ROWS8) BLOCK(ROWS8, vecs);                                       \
        if (i + 4 <= M) { BLOCK(4, vecs); i += 4; }                                                  \
        if (i + 2 <= M) { BLOCK(2, vecs); i += 2; }                                                  \
        if (i < M) BLOCK(1, vecs);                                                                   \
    } while (0)
#define BLOCK(rows, vecs) \
    block8(rows, vecs, out + i * ldo + j, ldo, a + i * ai, ai, ak, b + j, ldb, bias ? bias + j : NULL, K)

__attribute__((target("avx2,fma")))
static void broadcast8(float *out, long ldo, const float *a, long ai, long ak, const float *b, long ldb,
                       const float *bias, long M, long N, long K) {
    long j = 0;
    for (; j + 8 * VECS <= N; j += 8 * VECS) STRIP(VECS);
    for (; j + 8 <= N; j += 8) STRIP(1);
    if (j == N) return;
    const __m256i cols = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(N - j)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#undef BLOCK
#define BLOCK(rows, vecs) \
    tail8(rows, cols, out + i * ldo + j, ldo, a + i * ai, ai, ak, b + j, ldb, bias ? bias + j : NULL, K)
    STRIP(1);
}
#undef BLOCK
#undef STRIP

// The whole (M, N) output at `lanes` lanes: 16, 8, or one at a time.
static void broadcast(int lanes, float *out, long ldo, const float *a, long ai, long ak, const float *b, long ldb,
                      const float *bias, long M, long N, long K) {
    if (lanes == 16) broadcast16(out, ldo, a, ai, ak, b, ldb, bias, M, N, K);
    else if (lanes == 8) broadcast8(out, ldo, a, ai, ak, b, ldb, bias, M, N, K);
    else broadcast1(out, ldo, a, ai, ak, b, ldb, bias, M, N, K);
}

// dbias[c] += dl[0, c] + dl[1, c] + ... for c in [c0, c1): one column at a
// time, then 8 and 16 columns at once, each finishing with the narrower.
static void column_sums1(float *dbias, const float *dl, long B, long C, long c0, long c1) {
    for (long c = c0; c < c1; c++)
        for (long b = 0; b < B; b++) dbias[c] += dl[b * C + c];
}

__attribute__((target("avx2")))
static void column_sums8(float *dbias, const float *dl, long B, long C, long c0, long c1) {
    long c = c0;
    for (; c + 8 <= c1; c += 8) {
        __m256 s = _mm256_loadu_ps(dbias + c);
        for (long b = 0; b < B; b++) s = _mm256_add_ps(s, _mm256_loadu_ps(dl + b * C + c));
        _mm256_storeu_ps(dbias + c, s);
    }
    column_sums1(dbias, dl, B, C, c, c1);
}

__attribute__((target("avx512f")))
static void column_sums16(float *dbias, const float *dl, long B, long C, long c0, long c1) {
    long c = c0;
    for (; c + 16 <= c1; c += 16) {
        __m512 s = _mm512_loadu_ps(dbias + c);
        for (long b = 0; b < B; b++) s = _mm512_add_ps(s, _mm512_loadu_ps(dl + b * C + c));
        _mm512_storeu_ps(dbias + c, s);
    }
    column_sums8(dbias, dl, B, C, c, c1);
}

static void column_sums(int lanes, float *dbias, const float *dl, long B, long C, long c0, long c1) {
    if (lanes == 16) column_sums16(dbias, dl, B, C, c0, c1);
    else if (lanes == 8) column_sums8(dbias, dl, B, C, c0, c1);
    else column_sums1(dbias, dl, B, C, c0, c1);
}

// Classes in dh's next block when `left` remain, with blocks of `q`.
static long block_length(long left, long q) {
    if (left >= 2 * q) return q;
    return left > q ? (left / 2 + 15) / 16 * 16 : left;
}

// t (cols, rows) = s (rows, cols) transposed, row strides lds and ldt; one element at a time.
static void transpose1(float *t, long ldt, const float *s, long lds, long rows, long cols) {
    for (long i = 0; i < rows; i++)
        for (long j = 0; j < cols; j++) t[j * ldt + i] = s[i * lds + j];
}

// The same for whole 16 x 16 tiles in registers (unpack pairs, then quads,
// then 128-bit lanes twice), the edges one at a time.
__attribute__((target("avx512f")))
static void transpose16(float *t, long ldt, const float *s, long lds, long rows, long cols) {
    long i = 0;
    for (; i + 16 <= rows; i += 16) {
        long j = 0;
        for (; j + 16 <= cols; j += 16) {
            __m512 r[16], u[16];
            for (int k = 0; k < 16; k++) r[k] = _mm512_loadu_ps(s + (i + k) * lds + j);
            for (int k = 0; k < 16; k += 2) {  // u[k] = a0 b0 a1 b1 | a4 b4 a5 b5 | ...
                u[k] = _mm512_unpacklo_ps(r[k], r[k + 1]);
                u[k + 1] = _mm512_unpackhi_ps(r[k], r[k + 1]);
            }
            for (int k = 0; k < 16; k += 4) {  // r[k] = a0 b0 c0 d0 | a4 b4 c4 d4 | a8 .. | a12 ..
                r[k] = _mm512_shuffle_ps(u[k], u[k + 2], _MM_SHUFFLE(1, 0, 1, 0));
                r[k + 1] = _mm512_shuffle_ps(u[k], u[k + 2], _MM_SHUFFLE(3, 2, 3, 2));
                r[k + 2] = _mm512_shuffle_ps(u[k + 1], u[k + 3], _MM_SHUFFLE(1, 0, 1, 0));
                r[k + 3] = _mm512_shuffle_ps(u[k + 1], u[k + 3], _MM_SHUFFLE(3, 2, 3, 2));
            }
            for (int k = 0; k < 4; k++) {  // u[k] = a_k..d_k | a_k+8.. | e_k..h_k | e_k+8..; u[k+4]: k+4, k+12
                u[k] = _mm512_shuffle_f32x4(r[k], r[k + 4], 0x88);
                u[k + 4] = _mm512_shuffle_f32x4(r[k], r[k + 4], 0xdd);
                u[k + 8] = _mm512_shuffle_f32x4(r[k + 8], r[k + 12], 0x88);
                u[k + 12] = _mm512_shuffle_f32x4(r[k + 8], r[k + 12], 0xdd);
            }
            for (int k = 0; k < 8; k++) {  // columns k and k + 8, all 16 rows
                _mm512_storeu_ps(t + (j + k) * ldt + i, _mm512_shuffle_f32x4(u[k], u[k + 8], 0x88));
                _mm512_storeu_ps(t + (j + k + 8) * ldt + i, _mm512_shuffle_f32x4(u[k], u[k + 8], 0xdd));
            }
        }
        transpose1(t + j * ldt + i, ldt, s + i * lds + j, lds, 16, cols - j);
    }
    transpose1(t + i, ldt, s + i * lds, lds, rows - i, cols);
}

int iclsweep_unembed_kernels(void) { return iclsweep_fma_lanes() == 16; }

long iclsweep_unembed_scratch(long B, long D) { return D * B + MAX_CLASS_BLOCK * B; }

void iclsweep_unembed_forward(float *logits, const float *h, const float *w, const float *bias, long B, long D, long C) {
    iclsweep_unembed_forward_lanes(iclsweep_fma_lanes(), logits, h, w, bias, B, D, C);
}

void iclsweep_unembed_forward_lanes(int lanes, float *logits, const float *h, const float *w, const float *bias,
                                    long B, long D, long C) {
    broadcast(lanes, logits, C, h, D, 1, w, C, bias, B, C, D);
}

void iclsweep_unembed_input_grad(float *dh, const float *dl, const float *w, float *scratch, long B, long D, long C,
                                 long block) {
    iclsweep_unembed_input_grad_lanes(iclsweep_fma_lanes(), dh, dl, w, scratch, B, D, C, block);
}

// dh (B, D) += dl (B, C) @ w^T in blocks of classes: dhT (D, B) and dlT
// (block, B) in `scratch` turn it into the broadcast form, one block at a time.
void iclsweep_unembed_input_grad_lanes(int lanes, float *dh, const float *dl, const float *w, float *scratch,
                                       long B, long D, long C, long block) {
    if (block < 1 || block > MAX_CLASS_BLOCK) block = MAX_CLASS_BLOCK;
    float *dhT = scratch, *dlT = scratch + D * B;
    transpose1(dhT, B, dh, D, B, D);
    for (long k0 = 0; k0 < C; ) {
        const long kb = block_length(C - k0, block);
        if (lanes == 16) transpose16(dlT, B, dl + k0, C, B, kb);
        else transpose1(dlT, B, dl + k0, C, B, kb);
        broadcast(lanes, dhT, B, w + k0, C, 1, dlT, B, NULL, D, B, kb);
        k0 += kb;
    }
    transpose1(dh, D, dhT, B, D, B);
}

void iclsweep_unembed_weight_grad(float *dw, float *dbias, const float *dl, const float *h, long B, long D, long C) {
    iclsweep_unembed_weight_grad_lanes(iclsweep_fma_lanes(), dw, dbias, dl, h, B, D, C);
}

void iclsweep_unembed_weight_grad_lanes(int lanes, float *dw, float *dbias, const float *dl, const float *h,
                                        long B, long D, long C) {
    // dW (D, C) += h^T dl, as A[d, b] = h[b * D + d]; in chunks of classes,
    // each read from memory once for both sums.
    for (long c0 = 0; c0 < C; c0 += CHUNK) {
        const long c1 = c0 + CHUNK < C ? c0 + CHUNK : C;
        broadcast(lanes, dw + c0, C, h, 1, D, dl + c0, C, NULL, D, c1 - c0, B);
        column_sums(lanes, dbias, dl, B, C, c0, c1);
    }
}

void iclsweep_unembed_weight_grad_rect(float *dw, const float *dl, const float *h, long B, long D, long C,
                                       long d0, long d1, long c0, long c1) {
    iclsweep_unembed_weight_grad_rect_lanes(iclsweep_fma_lanes(), dw, dl, h, B, D, C, d0, d1, c0, c1);
}

void iclsweep_unembed_weight_grad_rect_lanes(int lanes, float *dw, const float *dl, const float *h, long B, long D,
                                             long C, long d0, long d1, long c0, long c1) {
    if (d1 <= d0 || c1 <= c0) return;
    // A[d, b] = h[b * D + d] from row d0; Bm = dl from column c0; out = dw at (d0, c0)
    broadcast(lanes, dw + d0 * C + c0, C, h + d0, 1, D, dl + c0, C, NULL, d1 - d0, c1 - c0, B);
}
