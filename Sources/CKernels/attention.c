// Causal multi-head self-attention in Float, forward and backward: the
// operations of Layers.attentionForward / attentionBackward (Swift), in the
// same order, so results are the same to the bit (multiplies and adds are
// not contracted, exp is the C library's expf, as Foundation's). The dot
// products of a query with its keys (and of an output gradient with the
// values) run 8 keys at a time, one key per lane, each lane the sequential
// sum; the loops over a head's elements that are element by element
// (weighted sums, gradient accumulations) run as vectors over the elements;
// and with AVX2 and FMA the exponentials of a row run 8 at a time through
// glibc's own expf algorithm (below), used only where it gives this C
// library's expf to the bit.
#include "kernels.h"
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

// glibc's expf (2.28 and later; sysdeps/ieee754/flt-32/e_expf.c, as its FMA
// build computes it) for |x| < 88, 4 lanes in double: x N/ln2 = k + r with
// N = 32, 2^(k/N) from a table of 32 entries, 2^(r/N) from a cubic. The
// constants are that library's; its table stores 2^(i/32) minus i << 47 in
// the bits, and k << 47 is added back. Compared with glibc 2.36's expf on
// every float with |x| < 88 (2,237,661,184 of them), all equal.
static const uint64_t exp2_table[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51, 0x3fef72b83c7d517b,
    0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1, 0x3fef06fe0a31b715, 0x3feef1a7373aa9cb,
    0x3feedea64c123422, 0x3feece086061892d, 0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429,
    0x3feea47eb03a5585, 0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d, 0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069, 0x3fef5818dcfba487, 0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da, 0x3fefd0765b6e4540};
static double bits_double(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

__attribute__((target("avx2,fma")))
static __m128 expf4_glibc(__m128 x) {
    const __m256d inv_ln2_n = _mm256_set1_pd(bits_double(0x40471547652b82fe)),   // 32 / ln 2
                  shift = _mm256_set1_pd(bits_double(0x4338000000000000)),       // 1.5 * 2^52: round to integer
                  c0 = _mm256_set1_pd(bits_double(0x3ebc6af84b912394)),
                  c1 = _mm256_set1_pd(bits_double(0x3f2ebfce50fac4f3)),
                  c2 = _mm256_set1_pd(bits_double(0x3f962e42ff0c52d6)), one = _mm256_set1_pd(1);
    const __m256d xd = _mm256_cvtps_pd(x);
    __m256d kd = _mm256_fmadd_pd(inv_ln2_n, xd, shift);
    const __m256i ki = _mm256_castpd_si256(kd);
    kd = _mm256_sub_pd(kd, shift);
    const __m256d r = _mm256_fmsub_pd(inv_ln2_n, xd, kd);  // x N/ln2 - k, in [-1/2, 1/2]
    const __m256d z = _mm256_fmadd_pd(r, c0, c1);
    __m256i t = _mm256_i64gather_epi64((const long long *)exp2_table, _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8);
    t = _mm256_add_epi64(t, _mm256_slli_epi64(ki, 47));    // 2^(k/N)
    const __m256d r2 = _mm256_mul_pd(r, r);
    __m256d y = _mm256_fmadd_pd(r, c2, one);
    y = _mm256_fmadd_pd(z, r2, y);
    return _mm256_cvtpd_ps(_mm256_mul_pd(y, _mm256_castsi256_pd(t)));
}

// Whether |x| < 88 (and x is a number), where expf4_glibc applies.
static inline int exp_in_range(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return ((u >> 20) & 0x7ff) <= 0x42a;
}

// x[i] = expf(x[i]) for i in [0, n): 8 at a time, any lane out of range through expf.
__attribute__((target("avx2,fma")))
static void exp_all_avx2(float *x, long n) {
    const __m256i top_limit = _mm256_set1_epi32(0x42a), top_mask = _mm256_set1_epi32(0x7ff);
    for (long i = 0; i < n; i += 8) {
        const long m = n - i < 8 ? n - i : 8;
        float in[8];
        if (m == 8) memcpy(in, x + i, sizeof in);
        else for (int l = 0; l < 8; l++) in[l] = l < m ? x[i + l] : 0;
        const __m256 v = _mm256_loadu_ps(in);
        const __m256i top = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(v), 20), top_mask);
        const __m256i out_of_range = _mm256_cmpgt_epi32(top, top_limit);
        float y[8];
        _mm_storeu_ps(y, expf4_glibc(_mm256_castps256_ps128(v)));
        _mm_storeu_ps(y + 4, expf4_glibc(_mm256_extractf128_ps(v, 1)));
        if (!_mm256_testz_si256(out_of_range, out_of_range))
            for (int l = 0; l < 8; l++) if (!exp_in_range(in[l])) y[l] = expf(in[l]);
        memcpy(x + i, y, (size_t)m * sizeof(float));
    }
}

static void exp_all_libm(float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = expf(x[i]);
}

// The vector exponentials where this CPU has AVX2 and FMA and they give this
// C library's expf to the bit over a sweep of the range scores take (checked
// once; another libm, or glibc's non-FMA build, keeps expf).
static int vector_exp_matches(void) {
    static int state = -1;  // unknown; a race only computes the same answer twice
    if (state >= 0) return state;
    int ok = iclsweep_fma_lanes() >= 8;
    float row[8], want[8];
    for (long k = 0; ok && k < 16384; k += 8) {
        for (int l = 0; l < 8; l++) {
            const float x = -(float)(k + l) * 0.00537f + ((k + l) % 3 ? 1e-7f * (float)l : 0);  // 0 to -88
            row[l] = x;
            want[l] = expf(x);
        }
        exp_all_avx2(row, 8);
        ok = memcmp(row, want, sizeof row) == 0;
    }
    state = ok;
    return state;
}

int iclsweep_attention_vector_exp(void) { return vector_exp_matches(); }

void iclsweep_attention_exp(float *x, long n) {
    if (vector_exp_matches()) exp_all_avx2(x, n);
    else exp_all_libm(x, n);
}

// Swift.max(a, b): b >= a ? b : a.
static inline float swift_max(float a, float b) { return b >= a ? b : a; }

#define INLINE static inline __attribute__((always_inline))
#define KEYS 8   // the dot products of one query with 8 keys at once, one key per lane

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
// row's sum, normalisation and weighted sum of values.
INLINE void forward_hd(float *restrict out, float *restrict probs, const float *restrict qkv,
                       long B, long T, long D, long H, const long hd) {
    const int vector_exp = vector_exp_matches();
    const long D3 = 3 * D, TP = (T + KEYS - 1) / KEYS * KEYS, causal = T * (T + 1) / 2;
    const float scale = 1 / sqrtf((float)hd);
    float kt[hd * TP], dots[TP], shifted[H * causal];
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
                for (long s = 0; s <= t; s++) *x++ = row[s] - max_score;
            }
        }
        if (vector_exp) exp_all_avx2(shifted, H * causal);
        else exp_all_libm(shifted, H * causal);
        x = shifted;
        for (long h = 0; h < H; h++) {
            float *P = probs + (b * H + h) * T * T;
            for (long t = 0; t < T; t++) {
                float *row = P + t * T;
                float sum = 0;
                for (long s = 0; s <= t; s++) { row[s] = *x++; sum += row[s]; }
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
