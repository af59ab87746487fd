// Kernels.exp in C, one lane, 8 lanes (AVX2) and 16 lanes (AVX-512): the
// same operations in the same order, so every width gives the Swift bits.
// Shared by the softmax and GELU kernels; internal to CKernels.
#ifndef ICLSWEEP_EXP_POLY_H
#define ICLSWEEP_EXP_POLY_H
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

#endif
