// Kernels in C for the instruction sets Swift's baseline x86-64 code cannot
// emit (AVX2 + FMA, AVX-512), each variant compiled for its instruction set
// and chosen at run time from what the CPU supports.
//
// The numerical kernels compute exactly what the Swift kernels they replace
// compute (Kernels.swift): the same operations in the same order, with
// multiplies and adds never contracted into FMAs (-ffp-contract=off), and
// IEEE division and square root; so results are the same to the bit.
#ifndef ICLSWEEP_KERNELS_H
#define ICLSWEEP_KERNELS_H

// Float lanes of the widest FMA the CPU has: 16 (AVX-512), 8 (AVX2+FMA), 0 (none);
// at most the limit below. Every kernel chooses its variant by this.
int iclsweep_fma_lanes(void);
// Limits the lanes the kernels use (16 by default): 8 runs the AVX2 variants on an
// AVX-512 CPU, to measure what an AVX2 CPU runs (`bench --simd-lanes 8`). Call it
// before any kernel runs: the Swift side reads the choice once.
void iclsweep_limit_lanes(int lanes);

// A register-only FMA loop: `iterations` x 12 independent single-precision FMAs of
// `iclsweep_fma_lanes()` lanes each (2 FLOPs per lane); returns a value that depends
// on every one of them, so that the loop cannot be removed. For the FMA peak.
float iclsweep_fma_loop(long iterations);

// Per-step constants of the Adam update (AdamCoefficients in Swift).
typedef struct {
    float b1, b2, a1, a2, lr, eps, inv_bc1, inv_bc2;
} iclsweep_adam_coefficients;

// Whether the vector kernels below run here (AVX2 at least); otherwise the
// caller uses its own code.
int iclsweep_vector_kernels(void);

// Adam over `count` parameters, zeroing the gradients it reads:
//   m = b1 m + a1 g;  v = b2 v + (a2 g) g;  p -= (lr (m inv_bc1)) / (sqrt(v inv_bc2) + eps)
void iclsweep_adam(float *p, float *g, float *m, float *v, long count, const iclsweep_adam_coefficients *c);
// The same with a given vector width (16, 8; anything else: one lane at a time), for tests.
// The caller must know the CPU has it.
void iclsweep_adam_lanes(int lanes, float *p, float *g, float *m, float *v, long count,
                         const iclsweep_adam_coefficients *c);

// Over one row of `count` logits: p = softmax(z) * scale (each element e / sum
// rounded, then times scale rounded; scale 1 leaves it as it was); p may be
// NULL, for the loss alone. Returns the row's maximum in *max_out and the sum
// of exp(z - max) in *sum_out. Kernels.exp and Kernels.softmaxRow, operation
// for operation: eight partial sums in lanes, added in lane order, then the tail.
void iclsweep_softmax_row(const float *z, float *p, long count, float scale, float *max_out, float *sum_out);
// The same with a given vector width (16 or 8; anything else: one lane at a time), for tests.
void iclsweep_softmax_row_lanes(int lanes, const float *z, float *p, long count, float scale, float *max_out,
                                float *sum_out);

// GELU, tanh approximation, as x sigmoid(x (A + B x^2)) with Kernels.exp
// (Kernels.geluForward / geluBackward, operation for operation):
//   out (n) = gelu(inp);  dinp (n) += dout * gelu'(inp)
void iclsweep_gelu_forward(float *out, const float *inp, long n);
void iclsweep_gelu_backward(float *dinp, const float *dout, const float *inp, long n);
// The same with a given vector width (16, 8; anything else: one lane at a time), for tests.
void iclsweep_gelu_forward_lanes(int lanes, float *out, const float *inp, long n);
void iclsweep_gelu_backward_lanes(int lanes, float *dinp, const float *dout, const float *inp, long n);

// The unembedding's products (unembed.c gives the order of every sum; AVX-512,
// AVX2 and the one-lane reference give the same bits). Row-major throughout.
// Whether they run fast here (AVX-512); otherwise the caller uses OpenBLAS.
int iclsweep_unembed_kernels(void);
//   logits (B, C) = h (B, D) @ w (D, C) + bias (C)
void iclsweep_unembed_forward(float *logits, const float *h, const float *w, const float *bias, long B, long D, long C);
//   dw (D, C) += h^T @ dl;  dbias (C) += column sums of dl (B, C)
void iclsweep_unembed_weight_grad(float *dw, float *dbias, const float *dl, const float *h, long B, long D, long C);
//   dh (B, D) += dl (B, C) @ w^T, in blocks of `block` classes (at most 448; see
//   unembed.c); `scratch`: iclsweep_unembed_scratch(B, D) floats
void iclsweep_unembed_input_grad(float *dh, const float *dl, const float *w, float *scratch, long B, long D, long C,
                                 long block);
long iclsweep_unembed_scratch(long B, long D);
//   dw rows [d0, d1) x columns [c0, c1) of (D, C) += h^T @ dl, each element the
//   chain of iclsweep_unembed_weight_grad (so any cut of dw gives the same bits);
//   no bias. Runs at the widest width this CPU has (AVX-512, AVX2 or the
//   one-lane reference): a gang's shards build dw so on every CPU.
void iclsweep_unembed_weight_grad_rect(float *dw, const float *dl, const float *h, long B, long D, long C,
                                       long d0, long d1, long c0, long c1);
// The same with a given width: 16 (AVX-512), 8 (AVX2) or anything else for the
// one-lane reference (which needs FMA), for tests. The caller must know the CPU has it.
void iclsweep_unembed_weight_grad_rect_lanes(int lanes, float *dw, const float *dl, const float *h, long B, long D,
                                             long C, long d0, long d1, long c0, long c1);
void iclsweep_unembed_forward_lanes(int lanes, float *logits, const float *h, const float *w, const float *bias,
                                    long B, long D, long C);
void iclsweep_unembed_weight_grad_lanes(int lanes, float *dw, float *dbias, const float *dl, const float *h,
                                        long B, long D, long C);
void iclsweep_unembed_input_grad_lanes(int lanes, float *dh, const float *dl, const float *w, float *scratch,
                                       long B, long D, long C, long block);

// Causal self-attention (attention.c): Layers.attentionForward / attentionBackward
// in Float, operation for operation. out (B, T, D), probs (B, H, T, T), qkv (B, T, 3D);
// the backward adds into dqkv (B, T, 3D).
void iclsweep_attention_forward(float *out, float *probs, const float *qkv, long B, long T, long D, long H);
void iclsweep_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                                 long B, long T, long D, long H);

// expf for many floats (expf.c): x[i] = expf(x[i]) for i in [0, n), the C
// library's bits; iclsweep_expf_vector: whether that runs 8 at a time here
// (AVX2 and FMA, and a check against expf passed), else one at a time.
void iclsweep_expf(float *x, long n);
int iclsweep_expf_vector(void);

#endif
