// A register-only FMA loop: the core's floating-point peak, for `iclsweep
// bench`'s roofline. C because Swift compiles for baseline x86-64 (SSE2) and
// cannot emit the AVX2/AVX-512 FMA code that measures the peak of the CPU it
// runs on; each variant is compiled for its instruction set and chosen at
// run time from what the CPU supports.
#ifndef ICLSWEEP_PEAK_H
#define ICLSWEEP_PEAK_H

// Float lanes of the widest FMA the CPU has: 16 (AVX-512), 8 (AVX2+FMA), 0 (none).
int iclsweep_fma_lanes(void);

// Runs `iterations` x 12 independent single-precision FMAs of `iclsweep_fma_lanes()`
// lanes each (2 FLOPs per lane) on registers only; returns a value that depends on
// every one of them, so that the loop cannot be removed.
float iclsweep_fma_loop(long iterations);

#endif
