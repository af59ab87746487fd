// expf, the C library's, for many floats at once: with AVX2 and FMA 8 at a
// time through glibc's own algorithm, where that gives this C library's
// bits (checked once); otherwise expf itself, one at a time. The attention
// takes its exponentials so (attention.c), and keeps the bits of the Swift
// layer, whose exp is Foundation's, that is expf.
#include "kernels.h"
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

int iclsweep_expf_vector(void) { return vector_exp_matches(); }

void iclsweep_expf(float *x, long n) {
    if (vector_exp_matches()) exp_all_avx2(x, n);
    else exp_all_libm(x, n);
}
