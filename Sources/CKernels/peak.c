#include "kernels.h"
#include <immintrin.h>

#define ACCUMULATORS 12  // enough independent chains to cover FMA latency x ports

__attribute__((target("avx512f")))
static float loop512(long iterations) {
    __m512 acc[ACCUMULATORS];
    for (int k = 0; k < ACCUMULATORS; k++) acc[k] = _mm512_set1_ps(1.0f + 0.001f * k);
    const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iterations; i++) {
        for (int k = 0; k < ACCUMULATORS; k++) acc[k] = _mm512_fmadd_ps(acc[k], b, c);
        // The compiler must not fold the chains: it is told each may have changed (no instruction, no memory).
        for (int k = 0; k < ACCUMULATORS; k++) __asm__ volatile("" : "+v"(acc[k]));
    }
    __m512 sum = acc[0];
    for (int k = 1; k < ACCUMULATORS; k++) sum = _mm512_add_ps(sum, acc[k]);
    return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma")))
static float loop256(long iterations) {
    __m256 acc[ACCUMULATORS];
    for (int k = 0; k < ACCUMULATORS; k++) acc[k] = _mm256_set1_ps(1.0f + 0.001f * k);
    const __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < iterations; i++) {
        for (int k = 0; k < ACCUMULATORS; k++) acc[k] = _mm256_fmadd_ps(acc[k], b, c);
        for (int k = 0; k < ACCUMULATORS; k++) __asm__ volatile("" : "+v"(acc[k]));
    }
    __m256 sum = acc[0];
    for (int k = 1; k < ACCUMULATORS; k++) sum = _mm256_add_ps(sum, acc[k]);
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

static int lane_limit = 16;

void iclsweep_limit_lanes(int lanes) { lane_limit = lanes; }

int iclsweep_fma_lanes(void) {
    __builtin_cpu_init();
    int lanes = 0;
    if (__builtin_cpu_supports("avx512f")) lanes = 16;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) lanes = 8;
    return lanes < lane_limit ? lanes : lane_limit;
}

float iclsweep_fma_loop(long iterations) {
    switch (iclsweep_fma_lanes()) {
    case 16: return loop512(iterations);
    case 8: return loop256(iterations);
    default: return 0;
    }
}
