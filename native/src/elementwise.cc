#include "elementwise.h"

#include <algorithm>
#include <cmath>

#include "gemm.h"

namespace gantry {
namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per task; below 2 grains, one thread

template <class F>
void chunked(int64_t n, F&& f) {
  const int nt = pool_threads();
  const int tasks = static_cast<int>(std::min<int64_t>(2 * nt, std::max<int64_t>(1, n / kGrain)));
  if (tasks <= 1) {
    f(int64_t(0), n);
    return;
  }
  parallel(tasks, [&](int t) { f(n * t / tasks, n * (t + 1) / tasks); });
}

// The loops copy the functor and pointers into locals (restrict-qualified): a captured parameter
// read through a reference could alias the output, which stops vectorisation.
template <class Op>
void run1(const float* __restrict x, float* __restrict out, int64_t a, int64_t b, const Op op) {
  for (int64_t i = a; i < b; i++) out[i] = op(x[i]);
}

template <class Op>
void map1(const float* x, float* out, int64_t n, Op op) {
  chunked(n, [x, out, op](int64_t a, int64_t b) { run1(x, out, a, b, op); });
}

template <class Op>
void run2(const float* __restrict a, const float* __restrict b, float* __restrict out, int64_t s, int64_t e, const Op op) {
  for (int64_t i = s; i < e; i++) out[i] = op(a[i], b[i]);
}

template <class Op>
void run2s(const float* __restrict a, const float bv, float* __restrict out, int64_t s, int64_t e, const Op op) {
  for (int64_t i = s; i < e; i++) out[i] = op(a[i], bv);
}

template <class Op>
void run2f(const float av, const float* __restrict b, float* __restrict out, int64_t s, int64_t e, const Op op) {
  for (int64_t i = s; i < e; i++) out[i] = op(av, b[i]);
}

template <class Op>
void map2(const float* a, int64_t na, const float* b, int64_t nb, float* out, int64_t n, Op op) {
  if (na == n && nb == n) {
    chunked(n, [a, b, out, op](int64_t s, int64_t e) { run2(a, b, out, s, e, op); });
  } else if (nb == 1) {
    const float bv = b[0];
    chunked(n, [a, bv, out, op](int64_t s, int64_t e) { run2s(a, bv, out, s, e, op); });
  } else {
    const float av = a[0];
    chunked(n, [av, b, out, op](int64_t s, int64_t e) { run2f(av, b, out, s, e, op); });
  }
}

}  // namespace

bool unary(int op, const float* x, float* out, int64_t n, float alpha) {
  switch (op) {
    case kRelu: map1(x, out, n, [](float v) { return v < 0.f ? 0.f : v; }); return true;
    case kLeakyRelu: map1(x, out, n, [alpha](float v) { return v * (v < 0.f ? alpha : 1.f); }); return true;
    case kTanh: map1(x, out, n, [](float v) { return std::tanh(v); }); return true;
    case kAbs: map1(x, out, n, [](float v) { return std::fabs(v); }); return true;
    case kNeg: map1(x, out, n, [](float v) { return -v; }); return true;
    case kSquare: map1(x, out, n, [](float v) { return v * v; }); return true;
    case kSqrt: map1(x, out, n, [](float v) { return std::sqrt(v); }); return true;
    case kStep:
      map1(x, out, n, [alpha](float v) {
        const float r = v > 0.f ? 1.f : alpha;
        return v != v ? v : r;
      });
      return true;
    case kSigmoid: map1(x, out, n, [](float v) { return 1.f / (1.f + std::exp(-v)); }); return true;
    case kExp: map1(x, out, n, [](float v) { return std::exp(v); }); return true;
    default: return false;
  }
}

bool binary(int op, const float* a, int64_t na, const float* b, int64_t nb, float* out, int64_t n) {
  switch (op) {
    case kAdd: map2(a, na, b, nb, out, n, [](float x, float y) { return x + y; }); return true;
    case kSub: map2(a, na, b, nb, out, n, [](float x, float y) { return x - y; }); return true;
    case kMul: map2(a, na, b, nb, out, n, [](float x, float y) { return x * y; }); return true;
    case kDiv: map2(a, na, b, nb, out, n, [](float x, float y) { return x / y; }); return true;
    case kMax: map2(a, na, b, nb, out, n, [](float x, float y) { return (x != x || y != y) ? NAN : std::max(x, y); }); return true;
    case kMin: map2(a, na, b, nb, out, n, [](float x, float y) { return (x != x || y != y) ? NAN : std::min(x, y); }); return true;
    case kSquaredDiff: map2(a, na, b, nb, out, n, [](float x, float y) { return (x - y) * (x - y); }); return true;
    default: return false;
  }
}

}  // namespace gantry
