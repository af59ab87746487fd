// Causal multi-head self-attention in Float, forward and backward: the
// operations of Layers.attentionForward / attentionBackward (Swift), in the
// same order, so results are the same to the bit (multiplies and adds are
// not contracted, exp is the C library's expf, as Foundation's). Only the
// loops over the head's elements that are element by element (weighted sums,
// gradient accumulations) run as vectors; the dot products stay sequential.
#include "kernels.h"
#include <float.h>
#include <math.h>

// Swift.max(a, b): b >= a ? b : a.
static inline float swift_max(float a, float b) { return b >= a ? b : a; }

#define INLINE static inline __attribute__((always_inline))

// The bodies take the head size as a constant where it is 8 or 16 (see the
// dispatch below), so the sums over a head's elements are unrolled and held
// in registers instead of going through memory at every key.
INLINE void forward_hd(float *restrict out, float *restrict probs, const float *restrict qkv,
                       long B, long T, long D, long H, const long hd) {
    const long D3 = 3 * D;
    const float scale = 1 / sqrtf((float)hd);
    for (long b = 0; b < B; b++)
        for (long h = 0; h < H; h++) {
            float *P = probs + (b * H + h) * T * T;
            for (long t = 0; t < T; t++) {
                const float *q = qkv + (b * T + t) * D3 + h * hd;
                float *row = P + t * T;
                float max_score = -FLT_MAX;
                for (long s = 0; s <= t; s++) {
                    const float *k = qkv + (b * T + s) * D3 + D + h * hd;
                    float dot = 0;
                    for (long i = 0; i < hd; i++) dot += q[i] * k[i];
                    row[s] = dot * scale;
                    max_score = swift_max(max_score, row[s]);
                }
                float sum = 0;
                for (long s = 0; s <= t; s++) { row[s] = expf(row[s] - max_score); sum += row[s]; }
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

INLINE void backward_hd(float *restrict dqkv, const float *restrict dout, const float *restrict qkv,
                        const float *restrict probs, long B, long T, long D, long H, const long hd) {
    const long D3 = 3 * D;
    float dscore[T];
    const float scale = 1 / sqrtf((float)hd);
    for (long b = 0; b < B; b++)
        for (long h = 0; h < H; h++) {
            const float *P = probs + (b * H + h) * T * T;
            for (long t = 0; t < T; t++) {
                const float *row = P + t * T;
                const float *restrict dout_t = dout + (b * T + t) * D + h * hd;
                // out_t = sum_s p_ts v_s: dv_s += p_ts dout_t, dp_ts = dout_t . v_s
                float weighted = 0;
                for (long s = 0; s <= t; s++) {
                    const float *restrict v = qkv + (b * T + s) * D3 + 2 * D + h * hd;
                    float *restrict dv = dqkv + (b * T + s) * D3 + 2 * D + h * hd;
                    float dp = 0;
                    for (long i = 0; i < hd; i++) dp += dout_t[i] * v[i];
                    const float p = row[s];
                    for (long i = 0; i < hd; i++) dv[i] += p * dout_t[i];
                    dscore[s] = dp;
                    weighted += p * dp;
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

void iclsweep_attention_forward(float *out, float *probs, const float *qkv, long B, long T, long D, long H) {
    const long hd = D / H;
    if (hd == 8) forward_hd(out, probs, qkv, B, T, D, H, 8);
    else if (hd == 16) forward_hd(out, probs, qkv, B, T, D, H, 16);
    else forward_hd(out, probs, qkv, B, T, D, H, hd);
}

void iclsweep_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                                 long B, long T, long D, long H) {
    const long hd = D / H;
    if (hd == 8) backward_hd(dqkv, dout, qkv, probs, B, T, D, H, 8);
    else if (hd == 16) backward_hd(dqkv, dout, qkv, probs, B, T, D, H, 16);
    else backward_hd(dqkv, dout, qkv, probs, B, T, D, H, hd);
}
