// Single-precision GEMM and convolution kernels for gantry's 'native' tfjs backend.
// Row-major throughout; convolutions are NHWC with filters [kh, kw, inC, outC] (tfjs layouts).
#pragma once
#include <cstddef>

namespace gantry {

// Worker pool sized to the machine (or GANTRY_NATIVE_THREADS). Returns the number of threads,
// counting the calling thread.
int pool_threads();
// The instruction set the micro-kernel was compiled for: "avx512", "avx2" or "generic".
const char* gemm_isa();
void gemm_tile(int* mr, int* nr);

// C[M,N] (+)= op(A)[M,K] · op(B)[K,N]. op(A) = A (row-major, lda) or Aᵀ when transA (A is then
// stored K×M). accumulate: add to C instead of overwriting it. Multithreaded; the work split
// depends only on the shapes and the pool size, so results are bit-identical from run to run.
void sgemm(bool transA, bool transB, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
           float* C, int ldc, bool accumulate);

struct ConvShape {
  int n, h, w, c;       // input
  int kh, kw, f;        // filter [kh, kw, c, f]
  int oh, ow;           // output spatial size
  int sh, sw;           // strides
  int pt, pl;           // top/left padding (bottom/right follow from the sizes)
  int dh, dw;           // dilations
};

// y[n,oh,ow,f] = conv(x, w)
void conv2d_forward(const ConvShape& s, const float* x, const float* w, float* y);
// dx[n,h,w,c] = gradient of conv2d w.r.t. its input, given dy[n,oh,ow,f]
void conv2d_backprop_input(const ConvShape& s, const float* dy, const float* w, float* dx);
// dw[kh,kw,c,f] = gradient of conv2d w.r.t. its filter
void conv2d_backprop_filter(const ConvShape& s, const float* x, const float* dy, float* dw);

// Run fn(task) for task in [0, ntasks) on the pool (inline when the pool is busy or tiny).
void parallel_for(int ntasks, void (*fn)(void*, int), void* ctx);

template <class F>
void parallel(int ntasks, F&& f) {
  parallel_for(ntasks, [](void* c, int t) { (*static_cast<F*>(c))(t); }, &f);
}

}  // namespace gantry
