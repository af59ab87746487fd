#include "kernels.h"
#include "exp_poly.h"

// GELU, tanh approximation (jax.nn.gelu's default), written as
//   gelu(x) = 0.5 x (1 + tanh(u)) = x sigmoid(2u),  2u = x (A + B x^2),
//   A = 2 sqrt(2/pi), B = A 0.044715,
// so no 1 + tanh cancels for negative x; sigmoid through Kernels.exp.
//   gelu'(x) = s + x s (1 - s) (A + 3B x^2),  s = sigmoid(2u).
// Kernels.geluForward / geluBackward operation for operation: every lane
// computes alone, so each width gives the Swift bits.
#define GELU_A 1.59576917f     // Float(2 sqrt(2/pi))
#define GELU_B 0.0713548139f   // Float(A 0.044715)
#define GELU_B3 0.214064449f   // Float(3 A 0.044715)

static inline float sigmoid2u(float x) { return 1 / (1 + exp1(0.0f - x * (GELU_A + GELU_B * (x * x)))); }

static void gelu_forward1(float *out, const float *inp, long n) {
    for (long i = 0; i < n; i++) out[i] = inp[i] * sigmoid2u(inp[i]);
}

static void gelu_backward1(float *dinp, const float *dout, const float *inp, long n) {
    for (long i = 0; i < n; i++) {
        float x = inp[i], s = sigmoid2u(x);
        float slope = s + x * s * (1 - s) * (GELU_A + GELU_B3 * (x * x));
        dinp[i] = dinp[i] + dout[i] * slope;
    }
}

__attribute__((target("avx2")))
static inline __m256 sigmoid8(__m256 x) {
    __m256 z = _mm256_mul_ps(x, _mm256_add_ps(_mm256_set1_ps(GELU_A), _mm256_mul_ps(_mm256_set1_ps(GELU_B), _mm256_mul_ps(x, x))));
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), z));
    return _mm256_div_ps(_mm256_set1_ps(1), _mm256_add_ps(_mm256_set1_ps(1), e));
}

__attribute__((target("avx2")))
static void gelu_forward8(float *out, const float *inp, long n) {
    long whole = n / 8 * 8;
    for (long i = 0; i < whole; i += 8) {
        __m256 x = _mm256_loadu_ps(inp + i);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(x, sigmoid8(x)));
    }
    gelu_forward1(out + whole, inp + whole, n - whole);
}

__attribute__((target("avx2")))
static void gelu_backward8(float *dinp, const float *dout, const float *inp, long n) {
    long whole = n / 8 * 8;
    const __m256 one = _mm256_set1_ps(1), a = _mm256_set1_ps(GELU_A), b3 = _mm256_set1_ps(GELU_B3);
    for (long i = 0; i < whole; i += 8) {
        __m256 x = _mm256_loadu_ps(inp + i), s = sigmoid8(x);
        __m256 slope = _mm256_add_ps(s, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(x, s), _mm256_sub_ps(one, s)),
                                                      _mm256_add_ps(a, _mm256_mul_ps(b3, _mm256_mul_ps(x, x)))));
        _mm256_storeu_ps(dinp + i, _mm256_add_ps(_mm256_loadu_ps(dinp + i), _mm256_mul_ps(_mm256_loadu_ps(dout + i), slope)));
    }
    gelu_backward1(dinp + whole, dout + whole, inp + whole, n - whole);
}

__attribute__((target("avx512f")))
static inline __m512 sigmoid16(__m512 x) {
    __m512 z = _mm512_mul_ps(x, _mm512_add_ps(_mm512_set1_ps(GELU_A), _mm512_mul_ps(_mm512_set1_ps(GELU_B), _mm512_mul_ps(x, x))));
    __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), z));
    return _mm512_div_ps(_mm512_set1_ps(1), _mm512_add_ps(_mm512_set1_ps(1), e));
}

__attribute__((target("avx512f")))
static void gelu_forward16(float *out, const float *inp, long n) {
    long whole = n / 16 * 16;
    for (long i = 0; i < whole; i += 16) {
        __m512 x = _mm512_loadu_ps(inp + i);
        _mm512_storeu_ps(out + i, _mm512_mul_ps(x, sigmoid16(x)));
    }
    gelu_forward1(out + whole, inp + whole, n - whole);
}

__attribute__((target("avx512f")))
static void gelu_backward16(float *dinp, const float *dout, const float *inp, long n) {
    long whole = n / 16 * 16;
    const __m512 one = _mm512_set1_ps(1), a = _mm512_set1_ps(GELU_A), b3 = _mm512_set1_ps(GELU_B3);
    for (long i = 0; i < whole; i += 16) {
        __m512 x = _mm512_loadu_ps(inp + i), s = sigmoid16(x);
        __m512 slope = _mm512_add_ps(s, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(x, s), _mm512_sub_ps(one, s)),
                                                      _mm512_add_ps(a, _mm512_mul_ps(b3, _mm512_mul_ps(x, x)))));
        _mm512_storeu_ps(dinp + i, _mm512_add_ps(_mm512_loadu_ps(dinp + i), _mm512_mul_ps(_mm512_loadu_ps(dout + i), slope)));
    }
    gelu_backward1(dinp + whole, dout + whole, inp + whole, n - whole);
}

void iclsweep_gelu_forward(float *out, const float *inp, long n) { iclsweep_gelu_forward_lanes(iclsweep_fma_lanes(), out, inp, n); }

void iclsweep_gelu_backward(float *dinp, const float *dout, const float *inp, long n) {
    iclsweep_gelu_backward_lanes(iclsweep_fma_lanes(), dinp, dout, inp, n);
}

void iclsweep_gelu_forward_lanes(int lanes, float *out, const float *inp, long n) {
    switch (lanes) {
    case 16: gelu_forward16(out, inp, n); break;
    case 8: gelu_forward8(out, inp, n); break;
    default: gelu_forward1(out, inp, n);
    }
}

void iclsweep_gelu_backward_lanes(int lanes, float *dinp, const float *dout, const float *inp, long n) {
    switch (lanes) {
    case 16: gelu_backward16(dinp, dout, inp, n); break;
    case 8: gelu_backward8(dinp, dout, inp, n); break;
    default: gelu_backward1(dinp, dout, inp, n);
    }
}
