#include "elementwise.h"

#include <algorithm>
#include <cmath>

#include "gemm.h"

namespace gantry {
namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per task; below 2 grains, one thread
constexpr int64_t kCols = 256;       // columns summed together in sum() and the BatchNorm kernels

// f(begin, end) over [0, n) in up to 2 tasks per thread; boundaries are multiples of `align`.
template <class F>
void chunked(int64_t n, F&& f, int64_t align = 1) {
  const int nt = pool_threads();
  const int tasks = static_cast<int>(std::min<int64_t>(2 * nt, std::max<int64_t>(1, n / kGrain)));
  if (tasks <= 1) {
    f(int64_t(0), n);
    return;
  }
  const int64_t units = (n + align - 1) / align;
  parallel(tasks, [&](int t) {
    const int64_t b = std::min(n, units * t / tasks * align), e = std::min(n, units * (t + 1) / tasks * align);
    if (e > b) f(b, e);
  });
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

// Each side is laid out as the output (kFull), a single value (kScalar), a block repeated along
// the output's leading dims (kRow: index i % size, e.g. a bias) or a block whose elements each
// repeat along its trailing dims (kCol: index i / (n / size), e.g. a [n, 1] column).
template <class Op>
void map2(const float* a, int ma, int64_t na, const float* b, int mb, int64_t nb, float* out, int64_t n, Op op) {
  if (ma == kFull && mb == kFull) {
    chunked(n, [a, b, out, op](int64_t s, int64_t e) { run2(a, b, out, s, e, op); });
  } else if (mb == kScalar && ma != kScalar) {
    const float bv = b[0];
    chunked(n, [a, bv, out, op](int64_t s, int64_t e) { run2s(a, bv, out, s, e, op); });
  } else if (ma == kScalar && mb != kScalar) {
    const float av = a[0];
    chunked(n, [av, b, out, op](int64_t s, int64_t e) { run2f(av, b, out, s, e, op); });
  } else if (ma == kScalar && mb == kScalar) {
    const float v = op(a[0], b[0]);
    for (int64_t i = 0; i < n; i++) out[i] = v;
  } else if (ma == kFull && mb == kRow) {
    chunked(n, [a, b, nb, out, op](int64_t s, int64_t e) {
      for (int64_t r = s / nb; r * nb < e; r++) run2(a + r * nb, b, out + r * nb, 0, nb, op);
    }, nb);
  } else if (ma == kRow && mb == kFull) {
    chunked(n, [a, b, na, out, op](int64_t s, int64_t e) {
      for (int64_t r = s / na; r * na < e; r++) run2(a, b + r * na, out + r * na, 0, na, op);
    }, na);
  } else if (ma == kFull && mb == kCol) {
    const int64_t rep = n / nb;
    chunked(n, [a, b, rep, out, op](int64_t s, int64_t e) {
      for (int64_t r = s / rep; r * rep < e; r++) run2s(a + r * rep, b[r], out + r * rep, 0, rep, op);
    }, rep);
  } else {  // kCol, kFull
    const int64_t rep = n / na;
    chunked(n, [a, b, rep, out, op](int64_t s, int64_t e) {
      for (int64_t r = s / rep; r * rep < e; r++) run2f(a[r], b + r * rep, out + r * rep, 0, rep, op);
    }, rep);
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

bool binary(int op, const float* a, int ma, int64_t na, const float* b, int mb, int64_t nb, float* out, int64_t n) {
#define GANTRY_MAP2(f) map2(a, ma, na, b, mb, nb, out, n, f)
  switch (op) {
    case kAdd: GANTRY_MAP2([](float x, float y) { return x + y; }); return true;
    case kSub: GANTRY_MAP2([](float x, float y) { return x - y; }); return true;
    case kMul: GANTRY_MAP2([](float x, float y) { return x * y; }); return true;
    case kDiv: GANTRY_MAP2([](float x, float y) { return x / y; }); return true;
    case kMax: GANTRY_MAP2([](float x, float y) { return (x != x || y != y) ? NAN : std::max(x, y); }); return true;
    case kMin: GANTRY_MAP2([](float x, float y) { return (x != x || y != y) ? NAN : std::min(x, y); }); return true;
    case kSquaredDiff: GANTRY_MAP2([](float x, float y) { return (x - y) * (x - y); }); return true;
    default: return false;
  }
#undef GANTRY_MAP2
}

bool binary_layout_ok(int m, int64_t size, int64_t n) {
  switch (m) {
    case kFull: return size == n;
    case kScalar: return size == 1;
    case kRow:
    case kCol: return size >= 1 && n % size == 0;
    default: return false;
  }
}

namespace {
void adam_range(const float* __restrict value, const float* __restrict m, const float* __restrict v,
                const float* __restrict g, float* __restrict ov, float* __restrict om, float* __restrict ow,
                int64_t a, int64_t b, const float* h) {
  const float b1 = h[0], omb1 = h[1], b2 = h[2], omb2 = h[3], c1 = h[4], c2 = h[5], eps = h[6], neglr = h[7];
  for (int64_t i = a; i < b; i++) {
    const float gi = g[i];
    const float m1 = m[i] * b1 + gi * omb1;        // add(mul(m, b1), mul(g, 1 - b1))
    const float v1 = v[i] * b2 + (gi * gi) * omb2;  // add(mul(v, b2), mul(square(g), 1 - b2))
    const float mhat = m1 / c1, vhat = v1 / c2;
    om[i] = m1;
    ow[i] = v1;
    ov[i] = (mhat / (std::sqrt(vhat) + eps)) * neglr + value[i];
  }
}
}  // namespace

void adam(const float* value, const float* m, const float* v, const float* g, float* outValue, float* outM, float* outV,
          int64_t n, const float* h) {
  chunked(n, [=](int64_t a, int64_t b) { adam_range(value, m, v, g, outValue, outM, outV, a, b, h); });
}

void sum(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner) {
  if (inner == 1) {
    chunked(outer, [x, out, mid](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; o++) {
        const float* p = x + o * mid;
        double acc = 0;
        for (int64_t m = 0; m < mid; m++) acc += p[m];
        out[o] = static_cast<float>(acc);
      }
    });
    return;
  }
  // Sum over the middle axis, `inner` independent columns at a time, in double.
  const int64_t blocks = outer * ((inner + kCols - 1) / kCols);
  const int64_t per = (inner + kCols - 1) / kCols;
  auto body = [x, out, mid, inner, per](int64_t b, int64_t e) {
    double acc[kCols];
    for (int64_t blk = b; blk < e; blk++) {
      const int64_t o = blk / per, j0 = (blk % per) * kCols, w = std::min(kCols, inner - j0);
      for (int64_t j = 0; j < w; j++) acc[j] = 0;
      const float* p = x + o * mid * inner + j0;
      for (int64_t m = 0; m < mid; m++, p += inner)
        for (int64_t j = 0; j < w; j++) acc[j] += p[j];
      float* q = out + o * inner + j0;
      for (int64_t j = 0; j < w; j++) q[j] = static_cast<float>(acc[j]);
    }
  };
  if (blocks * mid * std::min(kCols, inner) < 2 * kGrain) body(0, blocks);
  else parallel(static_cast<int>(std::min<int64_t>(blocks, 2 * pool_threads())), [&](int t) {
    const int tasks = static_cast<int>(std::min<int64_t>(blocks, 2 * pool_threads()));
    body(blocks * t / tasks, blocks * (t + 1) / tasks);
  });
}

namespace {
// f(c0, c1) over channel ranges; about 32 K elements per task, at most 2 tasks per thread.
template <class F>
void by_channels(int64_t rows, int64_t c, F&& f) {
  const int64_t per = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, rows));
  const int tasks = static_cast<int>(std::min<int64_t>({2 * pool_threads(), (c + per - 1) / per, c}));
  if (tasks <= 1) {
    f(int64_t(0), c);
    return;
  }
  parallel(tasks, [&](int t) {
    const int64_t a = c * t / tasks, b = c * (t + 1) / tasks;
    if (b > a) f(a, b);
  });
}
}  // namespace

void leaky_relu_grad(const float* dy, const float* x, float* out, int64_t n, float alpha) {
  // tf.step(x, alpha) is NaN where x is; the product then is too.
  chunked(n, [=](int64_t s, int64_t e) {
    run2(dy, x, out, s, e, [alpha](float d, float v) { return d * (v != v ? v : (v > 0.f ? 1.f : alpha)); });
  });
}

void bn_stats(const float* x, int64_t rows, int64_t c, float* mean, float* var) {
  by_channels(rows, c, [=](int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0;
    double acc[kCols];
    for (int64_t j0 = 0; j0 < w; j0 += kCols) {
      const int64_t n = std::min(kCols, w - j0);
      const float* base = x + c0 + j0;
      for (int64_t j = 0; j < n; j++) acc[j] = 0;
      for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++) acc[j] += base[r * c + j];
      float mu[kCols];
      for (int64_t j = 0; j < n; j++) mu[j] = static_cast<float>(acc[j] / rows), acc[j] = 0;
      for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++) {
          const double d = static_cast<double>(base[r * c + j]) - mu[j];
          acc[j] += d * d;
        }
      for (int64_t j = 0; j < n; j++) mean[c0 + j0 + j] = mu[j], var[c0 + j0 + j] = static_cast<float>(acc[j] / rows);
    }
  });
}

void bn_apply(const float* x, int64_t rows, int64_t c, const float* mean, const float* invstd, const float* gamma,
              const float* beta, float* y) {
  chunked(
      rows * c,
      [=](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; i += c) {
          const float* __restrict xi = x + i;
          float* __restrict yi = y + i;
          for (int64_t j = 0; j < c; j++) yi[j] = (xi[j] - mean[j]) * (gamma[j] * invstd[j]) + beta[j];
        }
      },
      c);
}

void bn_backward(const float* x, const float* dy, int64_t rows, int64_t c, const float* mean, const float* invstd,
                 const float* gamma, float* dx, float* dgamma, float* dbeta) {
  by_channels(rows, c, [=](int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0;
    double sdy[kCols], sdyx[kCols];
    for (int64_t j0 = 0; j0 < w; j0 += kCols) {
      const int64_t n = std::min(kCols, w - j0), off = c0 + j0;
      for (int64_t j = 0; j < n; j++) sdy[j] = 0, sdyx[j] = 0;
      for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * c + off;
        const float* dr = dy + r * c + off;
        for (int64_t j = 0; j < n; j++) {
          sdy[j] += dr[j];
          sdyx[j] += static_cast<double>(dr[j]) * (static_cast<double>(xr[j]) - mean[off + j]);
        }
      }
      float k1[kCols], k2[kCols], g[kCols], mu[kCols];
      for (int64_t j = 0; j < n; j++) {
        const double is = invstd[off + j];
        dbeta[off + j] = static_cast<float>(sdy[j]);
        dgamma[off + j] = static_cast<float>(sdyx[j] * is);
        g[j] = static_cast<float>(gamma[off + j] * is);                 // gamma·invstd
        k1[j] = static_cast<float>(sdy[j] / rows);                       // mean of dy
        k2[j] = static_cast<float>(sdyx[j] * is * is / rows);            // mean of dy·x̂, times invstd
        mu[j] = mean[off + j];
      }
      for (int64_t r = 0; r < rows; r++) {
        const float* __restrict xr = x + r * c + off;
        const float* __restrict dr = dy + r * c + off;
        float* __restrict out = dx + r * c + off;
        for (int64_t j = 0; j < n; j++) out[j] = g[j] * (dr[j] - k1[j] - (xr[j] - mu[j]) * k2[j]);
      }
    }
  });
}

}  // namespace gantry
