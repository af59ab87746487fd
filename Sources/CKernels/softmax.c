#include "kernels.h"
#include <float.h>
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

// The constants of Kernels.exp, digit for digit.
#define EXP_LOW (-87.3f)
#define EXP_HIGH 88.7f
#define EXP_MAGIC 12582912.0f          // 1.5 * 2^23: adding it rounds to an integer
#define EXP_LOG2E 1.44269504f
#define EXP_LN2_HIGH 0.693359375f
#define EXP_LN2_LOW (-2.12194440e-4f)
#define EXP_P0 1.98756915e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

static inline float bits_to_float(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

// One lane of Kernels.exp.
static inline float exp1(float x) {
    if (x < EXP_LOW) x = EXP_LOW;
    if (x > EXP_HIGH) x = EXP_HIGH;
    float t = x * EXP_LOG2E + EXP_MAGIC;
    float n = t - EXP_MAGIC;
    float r = x - n * EXP_LN2_HIGH;
    r = r - n * EXP_LN2_LOW;
    float p = EXP_P0;
    p = p * r + EXP_P1;
    p = p * r + EXP_P2;
    p = p * r + EXP_P3;
    p = p * r + EXP_P4;
    p = p * r + EXP_P5;
    p = p * r * r + r + 1;
    uint32_t nbits = float_to_bits(t) - float_to_bits(EXP_MAGIC);
    return p * bits_to_float((nbits + 127u) << 23);
}

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

__attribute__((target("avx2")))
static inline __m256 exp8(__m256 x) {
    const __m256 low = _mm256_set1_ps(EXP_LOW), high = _mm256_set1_ps(EXP_HIGH), magic = _mm256_set1_ps(EXP_MAGIC);
    x = _mm256_blendv_ps(x, low, _mm256_cmp_ps(x, low, _CMP_LT_OQ));
    x = _mm256_blendv_ps(x, high, _mm256_cmp_ps(x, high, _CMP_GT_OQ));
    __m256 t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(EXP_LOG2E)), magic);
    __m256 n = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(EXP_LN2_HIGH)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(EXP_LN2_LOW)));
    __m256 p = _mm256_set1_ps(EXP_P0);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(EXP_P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(EXP_P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(EXP_P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(EXP_P4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(EXP_P5));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), _mm256_set1_ps(1));
    __m256i nbits = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic));
    __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(nbits, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(p, scale);
}

__attribute__((target("avx512f")))
static inline __m512 exp16(__m512 x) {
    const __m512 low = _mm512_set1_ps(EXP_LOW), high = _mm512_set1_ps(EXP_HIGH), magic = _mm512_set1_ps(EXP_MAGIC);
    x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, low, _CMP_LT_OQ), x, low);
    x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, high, _CMP_GT_OQ), x, high);
    __m512 t = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(EXP_LOG2E)), magic);
    __m512 n = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(EXP_LN2_HIGH)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(EXP_LN2_LOW)));
    __m512 p = _mm512_set1_ps(EXP_P0);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P1));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P2));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P3));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P4));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P5));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), _mm512_set1_ps(1));
    __m512i nbits = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(magic));
    __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(nbits, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(p, scale);
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
