// Elementwise float32 kernels, multithreaded over large arrays. Op codes are shared with
// native/tfjs-backend.ts.
#pragma once
#include <cstdint>

namespace gantry {

enum UnaryOp { kRelu = 0, kLeakyRelu = 1, kTanh = 2, kAbs = 3, kNeg = 4, kSquare = 5, kSqrt = 6, kStep = 7, kSigmoid = 8, kExp = 9 };
enum BinaryOp { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kMax = 4, kMin = 5, kSquaredDiff = 6 };

// out[i] = op(x[i]); alpha is LeakyRelu's slope or Step's value at x <= 0. False for an unknown op.
bool unary(int op, const float* x, float* out, int64_t n, float alpha);
enum Layout { kFull = 0, kScalar = 1, kRow = 2, kCol = 3 };
// out[i] = op(a[ia(i)], b[ib(i)]) where each side's layout (enum Layout) maps output index to
// its own: full (i), scalar (0), row (i % size: repeats along leading dims, e.g. a bias) or
// column (i / (n / size): each element repeats along trailing dims, e.g. [n, 1]). At most one
// side is row or column, and then the other is full. False for an unknown op.
bool binary(int op, const float* a, int ma, int64_t na, const float* b, int mb, int64_t nb, float* out, int64_t n);
bool binary_layout_ok(int m, int64_t size, int64_t n);
// x viewed as [outer, mid, inner]: out[o, j] = sum over m of x[o, m, j] (accumulated in double).
void sum(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner);

// One Adam step as tfjs's AdamOptimizer computes it, op by op in float32 (so the result is the
// same as the unfused ops'), in one pass: h = [b1, 1-b1, b2, 1-b2, 1-b1^t, 1-b2^t, eps, -lr].
void adam(const float* value, const float* m, const float* v, const float* g, float* outValue, float* outM, float* outV,
          int64_t n, const float* h);

// out[i] = dy[i] · step(x[i], alpha): LeakyRelu's gradient in one pass (NaN where x is NaN).
void leaky_relu_grad(const float* dy, const float* x, float* out, int64_t n, float alpha);

// BatchNorm over x viewed as [rows, c] (channels last), split by channel ranges so the sums do
// not depend on the thread count. Statistics in double: mean and the biased variance (two passes).
void bn_stats(const float* x, int64_t rows, int64_t c, float* mean, float* var);
// y = (x - mean) * (gamma * invstd) + beta, per channel.
void bn_apply(const float* x, int64_t rows, int64_t c, const float* mean, const float* invstd, const float* gamma,
              const float* beta, float* y);
// The gradient of bn_apply with batch statistics: dbeta = Σ dy, dgamma = Σ dy·x̂ and
// dx = gamma·invstd·(dy − dbeta/rows − x̂·dgamma/rows), x̂ = (x − mean)·invstd.
void bn_backward(const float* x, const float* dy, int64_t rows, int64_t c, const float* mean, const float* invstd,
                 const float* gamma, float* dx, float* dgamma, float* dbeta);

}  // namespace gantry
