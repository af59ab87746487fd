#include "kernels.h"
#include <immintrin.h>
#include <math.h>

// The element-wise update, one lane at a time: the tail, and the reference.
static inline void adam_one(float *p, float *g, float *m, float *v, long i, const iclsweep_adam_coefficients *c) {
    float gi = g[i];
    float mi = c->b1 * m[i] + c->a1 * gi;
    float vi = c->b2 * v[i] + c->a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= c->lr * (mi * c->inv_bc1) / (sqrtf(vi * c->inv_bc2) + c->eps);
    g[i] = 0;
}

__attribute__((target("avx512f")))
static void adam512(float *p, float *g, float *m, float *v, long count, const iclsweep_adam_coefficients *c) {
    const __m512 b1 = _mm512_set1_ps(c->b1), b2 = _mm512_set1_ps(c->b2), a1 = _mm512_set1_ps(c->a1),
                 a2 = _mm512_set1_ps(c->a2), lr = _mm512_set1_ps(c->lr), eps = _mm512_set1_ps(c->eps),
                 ib1 = _mm512_set1_ps(c->inv_bc1), ib2 = _mm512_set1_ps(c->inv_bc2), zero = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 gi = _mm512_loadu_ps(g + i);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(a1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(a2, gi), gi));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        __m512 step = _mm512_div_ps(_mm512_mul_ps(lr, _mm512_mul_ps(mi, ib1)),
                                    _mm512_add_ps(_mm512_sqrt_ps(_mm512_mul_ps(vi, ib2)), eps));
        _mm512_storeu_ps(p + i, _mm512_sub_ps(_mm512_loadu_ps(p + i), step));
        _mm512_storeu_ps(g + i, zero);
    }
    for (; i < count; i++) adam_one(p, g, m, v, i, c);
}

__attribute__((target("avx2")))
static void adam256(float *p, float *g, float *m, float *v, long count, const iclsweep_adam_coefficients *c) {
    const __m256 b1 = _mm256_set1_ps(c->b1), b2 = _mm256_set1_ps(c->b2), a1 = _mm256_set1_ps(c->a1),
                 a2 = _mm256_set1_ps(c->a2), lr = _mm256_set1_ps(c->lr), eps = _mm256_set1_ps(c->eps),
                 ib1 = _mm256_set1_ps(c->inv_bc1), ib2 = _mm256_set1_ps(c->inv_bc2), zero = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(a1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(a2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 step = _mm256_div_ps(_mm256_mul_ps(lr, _mm256_mul_ps(mi, ib1)),
                                    _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vi, ib2)), eps));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), step));
        _mm256_storeu_ps(g + i, zero);
    }
    for (; i < count; i++) adam_one(p, g, m, v, i, c);
}

int iclsweep_vector_kernels(void) { return iclsweep_fma_lanes() >= 8; }

void iclsweep_adam(float *p, float *g, float *m, float *v, long count, const iclsweep_adam_coefficients *c) {
    iclsweep_adam_lanes(iclsweep_fma_lanes(), p, g, m, v, count, c);
}

void iclsweep_adam_lanes(int lanes, float *p, float *g, float *m, float *v, long count,
                         const iclsweep_adam_coefficients *c) {
    switch (lanes) {
    case 16: adam512(p, g, m, v, count, c); break;
    case 8: adam256(p, g, m, v, count, c); break;
    default: for (long i = 0; i < count; i++) adam_one(p, g, m, v, i, c);
    }
}
