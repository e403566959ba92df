// Elementwise float32 kernels, multithreaded over large arrays. Op codes are shared with
// native/tfjs-backend.ts.
#pragma once
#include <cstdint>

namespace gantry {

enum UnaryOp { kRelu = 0, kLeakyRelu = 1, kTanh = 2, kAbs = 3, kNeg = 4, kSquare = 5, kSqrt = 6, kStep = 7, kSigmoid = 8, kExp = 9 };
enum BinaryOp { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kMax = 4, kMin = 5, kSquaredDiff = 6 };

// out[i] = op(x[i]); alpha is LeakyRelu's slope or Step's value at x <= 0. False for an unknown op.
bool unary(int op, const float* x, float* out, int64_t n, float alpha);
// out[i] = op(a[i or 0], b[i or 0]) for na, nb in {n, 1}.
bool binary(int op, const float* a, int64_t na, const float* b, int64_t nb, float* out, int64_t n);

}  // namespace gantry
