// Causal multi-head self-attention in Float, forward and backward: the
// operations of Layers.attentionForward / attentionBackward (Swift), in the
// same order, so results are the same to the bit (multiplies and adds are
// not contracted, exp is the C library's expf, as Foundation's). The dot
// products of a query with its keys (and of an output gradient with the
// values) run 8 keys at a time, one key per lane, each lane the sequential
// sum; the loops over a head's elements that are element by element
// (weighted sums, gradient accumulations) run as vectors over the elements;
// and the exponentials of a sequence's rows run as one pass of
// iclsweep_expf (expf.c: 8 at a time where that gives expf's bits).
#include "kernels.h"
#include <float.h>
#include <math.h>

#pragma STDC FP_CONTRACT OFF

// Swift.max(a, b): b >= a ? b : a.
static inline float swift_max(float a, float b) { return b >= a ? b : a; }

#define INLINE static inline __attribute__((always_inline))
#define KEYS 8   // the dot products of one query with 8 keys at once, one key per lane
#define EXP_BUFFER 16384   // floats (64 KiB of stack): a sequence's shifted scores, if they fit

// m^T for one head: mt[i * TP + s] = m[s][i] for the head's T rows of m
// (row stride `ld`), zero for s in T..<TP, so that element i of 8 keys'
// vectors sits in one run of memory.
INLINE void transpose_head(float *restrict mt, const float *restrict m, long ld, long T, long TP, const long hd) {
    for (long s = 0; s < T; s++)
        for (long i = 0; i < hd; i++) mt[i * TP + s] = m[s * ld + i];
    for (long i = 0; i < hd; i++)
        for (long s = T; s < TP; s++) mt[i * TP + s] = 0;
}

// dots[s] = a . m_s for s in [0, n) (n rounded up to KEYS: the extra lanes
// read the zero padding), each the sequential sum over i of a[i] m_s[i] from
// 0, as the Swift layer takes it; the lanes are keys, not elements, so the
// order of every sum is the scalar one.
INLINE void dots_by_key(float *restrict dots, const float *restrict a, const float *restrict mt, long n, long TP,
                        const long hd) {
    for (long s0 = 0; s0 < n; s0 += KEYS) {
        float d[KEYS];
        for (int l = 0; l < KEYS; l++) d[l] = 0;
        for (long i = 0; i < hd; i++) {
            const float ai = a[i];
            for (int l = 0; l < KEYS; l++) d[l] = d[l] + ai * mt[i * TP + s0 + l];
        }
        for (int l = 0; l < KEYS; l++) dots[s0 + l] = d[l];
    }
}

// The bodies take the head size as a constant where it is 8 or 16 (see the
// dispatch below), so the sums over a head's elements are unrolled and held
// in registers instead of going through memory at every key.
//
// The forward takes a sequence in three passes, so that the exponentials of
// all its heads' rows (H T (T + 1) / 2 of them) run as one vector pass:
// scores, their maxima and the shifted scores; the exponentials; then each
// row's sum, normalisation and weighted sum of values. A sequence whose
// shifted scores do not fit EXP_BUFFER (hundreds of tokens) takes its
// exponentials a row at a time, in place: the same values.
INLINE void forward_hd(float *restrict out, float *restrict probs, const float *restrict qkv,
                       long B, long T, long D, long H, const long hd) {
    const long D3 = 3 * D, TP = (T + KEYS - 1) / KEYS * KEYS, causal = T * (T + 1) / 2;
    const int whole = H * causal <= EXP_BUFFER;
    const float scale = 1 / sqrtf((float)hd);
    float kt[hd * TP], dots[TP], shifted[EXP_BUFFER];
    for (long b = 0; b < B; b++) {
        float *x = shifted;  // row t of head h at h causal + t (t + 1) / 2
        for (long h = 0; h < H; h++) {
            float *P = probs + (b * H + h) * T * T;
            transpose_head(kt, qkv + b * T * D3 + D + h * hd, D3, T, TP, hd);
            for (long t = 0; t < T; t++) {
                float *row = P + t * T;
                dots_by_key(dots, qkv + (b * T + t) * D3 + h * hd, kt, t + 1, TP, hd);
                float max_score = -FLT_MAX;
                for (long s = 0; s <= t; s++) {
                    row[s] = dots[s] * scale;
                    max_score = swift_max(max_score, row[s]);
                }
                if (whole) {
                    for (long s = 0; s <= t; s++) *x++ = row[s] - max_score;
                } else {
                    for (long s = 0; s <= t; s++) row[s] = row[s] - max_score;
                    iclsweep_expf(row, t + 1);
                }
            }
        }
        if (whole) iclsweep_expf(shifted, H * causal);
        x = shifted;
        for (long h = 0; h < H; h++) {
            float *P = probs + (b * H + h) * T * T;
            for (long t = 0; t < T; t++) {
                float *row = P + t * T;
                float sum = 0;
                for (long s = 0; s <= t; s++) {
                    if (whole) row[s] = *x++;
                    sum += row[s];
                }
                const float inv = 1 / sum;
                for (long s = 0; s <= t; s++) row[s] *= inv;
                for (long s = t + 1; s < T; s++) row[s] = 0;  // masked
                float *restrict o = out + (b * T + t) * D + h * hd;
                float acc[hd];
                for (long i = 0; i < hd; i++) acc[i] = 0;
                for (long s = 0; s <= t; s++) {
                    const float *restrict v = qkv + (b * T + s) * D3 + 2 * D + h * hd;
                    const float p = row[s];
                    for (long i = 0; i < hd; i++) acc[i] += p * v[i];
                }
                for (long i = 0; i < hd; i++) o[i] = acc[i];
            }
        }
    }
}

INLINE void backward_hd(float *restrict dqkv, const float *restrict dout, const float *restrict qkv,
                        const float *restrict probs, long B, long T, long D, long H, const long hd) {
    const long D3 = 3 * D, TP = (T + KEYS - 1) / KEYS * KEYS;
    float dscore[TP], vt[hd * TP];
    const float scale = 1 / sqrtf((float)hd);
    for (long b = 0; b < B; b++)
        for (long h = 0; h < H; h++) {
            const float *P = probs + (b * H + h) * T * T;
            transpose_head(vt, qkv + b * T * D3 + 2 * D + h * hd, D3, T, TP, hd);
            for (long t = 0; t < T; t++) {
                const float *row = P + t * T;
                const float *restrict dout_t = dout + (b * T + t) * D + h * hd;
                // out_t = sum_s p_ts v_s: dv_s += p_ts dout_t, dp_ts = dout_t . v_s
                dots_by_key(dscore, dout_t, vt, t + 1, TP, hd);
                float weighted = 0;
                for (long s = 0; s <= t; s++) {
                    float *restrict dv = dqkv + (b * T + s) * D3 + 2 * D + h * hd;
                    const float p = row[s];
                    for (long i = 0; i < hd; i++) dv[i] += p * dout_t[i];
                    weighted += p * dscore[s];
                }
                // softmax: dscore_ts = p_ts (dp_ts - sum_s' p_ts' dp_ts'), then the scale
                const float *restrict q = qkv + (b * T + t) * D3 + h * hd;
                float *restrict dq = dqkv + (b * T + t) * D3 + h * hd;
                float acc[hd];
                for (long i = 0; i < hd; i++) acc[i] = dq[i];
                for (long s = 0; s <= t; s++) {
                    const float g = row[s] * (dscore[s] - weighted) * scale;
                    const float *restrict k = qkv + (b * T + s) * D3 + D + h * hd;
                    float *restrict dk = dqkv + (b * T + s) * D3 + D + h * hd;
                    for (long i = 0; i < hd; i++) acc[i] += g * k[i];
                    for (long i = 0; i < hd; i++) dk[i] += g * q[i];
                }
                for (long i = 0; i < hd; i++) dq[i] = acc[i];
            }
        }
}

// Each body with the head size as a constant, compiled for AVX2 (8-lane
// vectors; AVX2 alone, without FMA, so nothing is contracted) and for the
// baseline; both give the same bits, the lanes being independent sums.
#define DISPATCH(call)                                                                                \
    do {                                                                                              \
        if (hd == 8) call(8);                                                                         \
        else if (hd == 16) call(16);                                                                  \
        else call(hd);                                                                                \
    } while (0)
#define FORWARD(n) forward_hd(out, probs, qkv, B, T, D, H, n)
#define BACKWARD(n) backward_hd(dqkv, dout, qkv, probs, B, T, D, H, n)

__attribute__((target("avx2")))
static void forward_avx2(float *out, float *probs, const float *qkv, long B, long T, long D, long H, long hd) {
    DISPATCH(FORWARD);
}
static void forward_base(float *out, float *probs, const float *qkv, long B, long T, long D, long H, long hd) {
    DISPATCH(FORWARD);
}
__attribute__((target("avx2")))
static void backward_avx2(float *dqkv, const float *dout, const float *qkv, const float *probs,
                          long B, long T, long D, long H, long hd) {
    DISPATCH(BACKWARD);
}
static void backward_base(float *dqkv, const float *dout, const float *qkv, const float *probs,
                          long B, long T, long D, long H, long hd) {
    DISPATCH(BACKWARD);
}

void iclsweep_attention_forward(float *out, float *probs, const float *qkv, long B, long T, long D, long H) {
    if (iclsweep_fma_lanes() >= 8) forward_avx2(out, probs, qkv, B, T, D, H, D / H);
    else forward_base(out, probs, qkv, B, T, D, H, D / H);
}

void iclsweep_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                                 long B, long T, long D, long H) {
    if (iclsweep_fma_lanes() >= 8) backward_avx2(dqkv, dout, qkv, probs, B, T, D, H, D / H);
    else backward_base(dqkv, dout, qkv, probs, B, T, D, H, D / H);
}
