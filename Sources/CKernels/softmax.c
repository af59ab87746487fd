#include "kernels.h"
#include "exp_poly.h"
#include <float.h>
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

// Swift.max(a, b): b >= a ? b : a.
static inline float swift_max(float a, float b) { return b >= a ? b : a; }

// The scalar row: the reference, and what runs without AVX2.
static void softmax1(const float *z, float *p, long count, float scale, float *max_out, float *sum_out) {
    long whole = count / 8 * 8;
    float m[8];
    for (int l = 0; l < 8; l++) m[l] = -FLT_MAX;
    for (long i = 0; i < whole; i += 8)
        for (int l = 0; l < 8; l++) if (z[i + l] > m[l]) m[l] = z[i + l];
    float mx = m[0];
    for (int l = 1; l < 8; l++) mx = swift_max(mx, m[l]);
    for (long j = whole; j < count; j++) mx = swift_max(mx, z[j]);
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (long i = 0; i < whole; i += 8)
        for (int l = 0; l < 8; l++) { float e = exp1(z[i + l] - mx); if (p) p[i + l] = e; s[l] += e; }
    float sum = -0.0f;
    for (int l = 0; l < 8; l++) sum += s[l];
    for (long j = whole; j < count; j++) { float e = exp1(z[j] - mx); if (p) p[j] = e; sum += e; }
    float inv = 1 / sum;
    if (p)
        for (long i = 0; i < count; i++) p[i] = p[i] * inv * scale;
    *max_out = mx;
    *sum_out = sum;
}

// The max lanes, the horizontal max and sum, and the tail are shared by both widths.
__attribute__((target("avx2")))
static float finish_max(__m256 m8, const float *z, long whole, long count) {
    float m[8];
    _mm256_storeu_ps(m, m8);
    float mx = m[0];
    for (int l = 1; l < 8; l++) mx = swift_max(mx, m[l]);
    for (long j = whole; j < count; j++) mx = swift_max(mx, z[j]);
    return mx;
}

__attribute__((target("avx2")))
static float finish_sum(__m256 s8, const float *z, float *p, long whole, long count, float mx) {
    float s[8];
    _mm256_storeu_ps(s, s8);
    float sum = -0.0f;
    for (int l = 0; l < 8; l++) sum += s[l];
    for (long j = whole; j < count; j++) { float e = exp1(z[j] - mx); if (p) p[j] = e; sum += e; }
    return sum;
}

__attribute__((target("avx2")))
static void softmax8(const float *z, float *p, long count, float scale, float *max_out, float *sum_out) {
    long whole = count / 8 * 8;
    __m256 m = _mm256_set1_ps(-FLT_MAX);
    for (long i = 0; i < whole; i += 8) {
        __m256 z8 = _mm256_loadu_ps(z + i);
        m = _mm256_blendv_ps(m, z8, _mm256_cmp_ps(z8, m, _CMP_GT_OQ));
    }
    float mx = finish_max(m, z, whole, count);
    const __m256 mv = _mm256_set1_ps(mx);
    __m256 s = _mm256_setzero_ps();
    for (long i = 0; i < whole; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(z + i), mv));
        if (p) _mm256_storeu_ps(p + i, e);
        s = _mm256_add_ps(s, e);
    }
    float sum = finish_sum(s, z, p, whole, count, mx);
    if (p) {
        const __m256 inv = _mm256_set1_ps(1 / sum), sc = _mm256_set1_ps(scale);
        for (long i = 0; i < whole; i += 8) _mm256_storeu_ps(p + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), inv), sc));
        for (long j = whole; j < count; j++) p[j] = p[j] * (1 / sum) * scale;
    }
    *max_out = mx;
    *sum_out = sum;
}

__attribute__((target("avx512f")))
static void softmax16(const float *z, float *p, long count, float scale, float *max_out, float *sum_out) {
    long whole = count / 8 * 8, pairs = count / 16 * 16;
    // Eight max lanes, as in Swift: the two halves of each 16 fold into them in order.
    __m256 m = _mm256_set1_ps(-FLT_MAX);
    for (long i = 0; i < whole; i += 8) {
        __m256 z8 = _mm256_loadu_ps(z + i);
        m = _mm256_blendv_ps(m, z8, _mm256_cmp_ps(z8, m, _CMP_GT_OQ));
    }
    float mx = finish_max(m, z, whole, count);
    const __m512 mv = _mm512_set1_ps(mx);
    __m256 s = _mm256_setzero_ps();
    long i = 0;
    for (; i < pairs; i += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(z + i), mv));
        if (p) _mm512_storeu_ps(p + i, e);
        s = _mm256_add_ps(s, _mm512_castps512_ps256(e));        // elements i ..< i+8 first,
        s = _mm256_add_ps(s, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));  // then i+8 ..< i+16
    }
    for (; i < whole; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(z + i), _mm512_castps512_ps256(mv)));
        if (p) _mm256_storeu_ps(p + i, e);
        s = _mm256_add_ps(s, e);
    }
    float sum = finish_sum(s, z, p, whole, count, mx);
    if (p) {
        const __m512 inv = _mm512_set1_ps(1 / sum), sc = _mm512_set1_ps(scale);
        for (i = 0; i < pairs; i += 16) _mm512_storeu_ps(p + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(p + i), inv), sc));
        for (; i < whole; i += 8)
            _mm256_storeu_ps(p + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), _mm512_castps512_ps256(inv)),
                                                  _mm512_castps512_ps256(sc)));
        for (long j = whole; j < count; j++) p[j] = p[j] * (1 / sum) * scale;
    }
    *max_out = mx;
    *sum_out = sum;
}

void iclsweep_softmax_row(const float *z, float *p, long count, float scale, float *max_out, float *sum_out) {
    iclsweep_softmax_row_lanes(iclsweep_fma_lanes(), z, p, count, scale, max_out, sum_out);
}

void iclsweep_softmax_row_lanes(int lanes, const float *z, float *p, long count, float scale, float *max_out,
                                float *sum_out) {
    switch (lanes) {
    case 16: softmax16(z, p, count, scale, max_out, sum_out); break;
    case 8: softmax8(z, p, count, scale, max_out, sum_out); break;
    default: softmax1(z, p, count, scale, max_out, sum_out);
    }
}
