// Node-API entry points. Every function is synchronous (tfjs kernels are) and parallelises
// internally. Arguments are Float32Arrays owned by the caller (tfjs's cpu-backend storage) and an
// Int32Array of sizes; lengths are checked before any memory is touched.
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <exception>
#include <string>

#include "elementwise.h"
#include "gemm.h"

namespace {

struct Fail {
  std::string msg;
};

template <class T>
T* typed(napi_env env, napi_value v, napi_typedarray_type want, size_t* len, const char* what) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) throw Fail{std::string(what) + ": expected a typed array"};
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok || type != want)
    throw Fail{std::string(what) + (want == napi_float32_array ? ": expected a Float32Array" : ": expected an Int32Array")};
  *len = length;
  return static_cast<T*>(data);
}

float* f32(napi_env env, napi_value v, size_t need, const char* what) {
  size_t len;
  float* p = typed<float>(env, v, napi_float32_array, &len, what);
  if (len < need) throw Fail{std::string(what) + ": array too short (" + std::to_string(len) + " < " + std::to_string(need) + ")"};
  return p;
}

const int32_t* i32(napi_env env, napi_value v, size_t need, const char* what) {
  size_t len;
  int32_t* p = typed<int32_t>(env, v, napi_int32_array, &len, what);
  if (len < need) throw Fail{std::string(what) + ": expected " + std::to_string(need) + " parameters"};
  return p;
}

void args(napi_env env, napi_callback_info info, size_t n, napi_value* out) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, out, nullptr, nullptr) != napi_ok || argc < n)
    throw Fail{"expected " + std::to_string(n) + " arguments"};
}

template <class F>
napi_value guarded(napi_env env, F&& f) {
  try {
    f();
  } catch (const Fail& e) {
    napi_throw_error(env, nullptr, e.msg.c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

void positive(std::initializer_list<int64_t> vals, const char* what) {
  for (int64_t v : vals)
    if (v < 0 || v > (int64_t(1) << 31) - 1) throw Fail{std::string(what) + ": bad size"};
}

// p: [batchA, batchB, batchOut, M, N, K, transA, transB]; a: batchA × (M×K), b: batchB × (K×N),
// c: batchOut × (M×N); batch b uses a[b % batchA], b[b % batchB] (tfjs broadcasting).
napi_value MatMul(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[4];
    args(env, info, 4, a);
    const int32_t* p = i32(env, a[3], 8, "matMul params");
    const int64_t ba = p[0], bb = p[1], bo = p[2], M = p[3], N = p[4], K = p[5];
    const bool ta = p[6] != 0, tb = p[7] != 0;
    positive({ba, bb, bo, M, N, K}, "matMul");
    if (ba < 1 || bb < 1) throw Fail{"matMul: empty batch"};
    const float* A = f32(env, a[0], ba * M * K, "matMul a");
    const float* B = f32(env, a[1], bb * K * N, "matMul b");
    float* C = f32(env, a[2], bo * M * N, "matMul out");
    for (int64_t i = 0; i < bo; i++) {
      gantry::sgemm(ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), A + (i % ba) * M * K,
                    ta ? static_cast<int>(M) : static_cast<int>(K), B + (i % bb) * K * N,
                    tb ? static_cast<int>(K) : static_cast<int>(N), C + i * M * N, static_cast<int>(N), false);
    }
  });
}

// p: [n, h, w, c, kh, kw, f, oh, ow, sh, sw, pt, pl, dh, dw]
gantry::ConvShape conv_shape(napi_env env, napi_value v) {
  const int32_t* p = i32(env, v, 15, "conv params");
  gantry::ConvShape s{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14]};
  positive({s.n, s.h, s.w, s.c, s.kh, s.kw, s.f, s.oh, s.ow, s.pt, s.pl}, "conv");
  if (s.sh < 1 || s.sw < 1 || s.dh < 1 || s.dw < 1) throw Fail{"conv: strides and dilations must be >= 1"};
  const int64_t rows = int64_t(s.n) * s.oh * s.ow, K = int64_t(s.kh) * s.kw * s.c;
  if (rows > INT32_MAX || K > INT32_MAX || int64_t(s.n) * s.h * s.w * s.c > (int64_t(1) << 40))
    throw Fail{"conv: tensor too large"};
  return s;
}

int64_t xlen(const gantry::ConvShape& s) { return int64_t(s.n) * s.h * s.w * s.c; }
int64_t ylen(const gantry::ConvShape& s) { return int64_t(s.n) * s.oh * s.ow * s.f; }
int64_t wlen(const gantry::ConvShape& s) { return int64_t(s.kh) * s.kw * s.c * s.f; }

napi_value Conv2D(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[4];
    args(env, info, 4, a);
    const auto s = conv_shape(env, a[3]);
    gantry::conv2d_forward(s, f32(env, a[0], xlen(s), "x"), f32(env, a[1], wlen(s), "filter"), f32(env, a[2], ylen(s), "out"));
  });
}

napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[4];
    args(env, info, 4, a);
    const auto s = conv_shape(env, a[3]);
    gantry::conv2d_backprop_input(s, f32(env, a[0], ylen(s), "dy"), f32(env, a[1], wlen(s), "filter"),
                                  f32(env, a[2], xlen(s), "out"));
  });
}

napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[4];
    args(env, info, 4, a);
    const auto s = conv_shape(env, a[3]);
    gantry::conv2d_backprop_filter(s, f32(env, a[0], xlen(s), "x"), f32(env, a[1], ylen(s), "dy"),
                                   f32(env, a[2], wlen(s), "out"));
  });
}

// unary(op, x, out, alpha): out[i] = op(x[i]); op codes in elementwise.h.
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[4];
    args(env, info, 4, a);
    int32_t op;
    double alpha;
    if (napi_get_value_int32(env, a[0], &op) != napi_ok || napi_get_value_double(env, a[3], &alpha) != napi_ok)
      throw Fail{"unary: bad op or alpha"};
    size_t n;
    const float* x = typed<float>(env, a[1], napi_float32_array, &n, "x");
    float* out = f32(env, a[2], n, "out");
    if (!gantry::unary(op, x, out, static_cast<int64_t>(n), static_cast<float>(alpha))) throw Fail{"unary: unknown op"};
  });
}

// binary(op, a, b, out, [layoutA, layoutB]); layouts as in elementwise.h.
napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[5];
    args(env, info, 5, a);
    int32_t op;
    if (napi_get_value_int32(env, a[0], &op) != napi_ok) throw Fail{"binary: bad op"};
    size_t na, nb, n;
    const float* x = typed<float>(env, a[1], napi_float32_array, &na, "a");
    const float* y = typed<float>(env, a[2], napi_float32_array, &nb, "b");
    float* out = typed<float>(env, a[3], napi_float32_array, &n, "out");
    const int32_t* m = i32(env, a[4], 2, "binary layouts");
    const int ma = m[0], mb = m[1];
    const bool one_full = ma == gantry::kFull || mb == gantry::kFull;
    const bool both_simple = (ma == gantry::kFull || ma == gantry::kScalar) && (mb == gantry::kFull || mb == gantry::kScalar);
    if (!gantry::binary_layout_ok(ma, na, n) || !gantry::binary_layout_ok(mb, nb, n) || !(both_simple || one_full))
      throw Fail{"binary: operand sizes do not fit their layouts"};
    if (!gantry::binary(op, x, ma, na, y, mb, nb, out, static_cast<int64_t>(n))) throw Fail{"binary: unknown op"};
  });
}

// adam(value, m, v, grad, outValue, outM, outV, h Float32Array(8)); see elementwise.h.
napi_value Adam(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[8];
    args(env, info, 8, a);
    size_t n;
    const float* value = typed<float>(env, a[0], napi_float32_array, &n, "value");
    const float* m = f32(env, a[1], n, "m");
    const float* v = f32(env, a[2], n, "v");
    const float* g = f32(env, a[3], n, "grad");
    float* ov = f32(env, a[4], n, "out value");
    float* om = f32(env, a[5], n, "out m");
    float* ow = f32(env, a[6], n, "out v");
    const float* h = f32(env, a[7], 8, "adam hyperparameters");
    gantry::adam(value, m, v, g, ov, om, ow, static_cast<int64_t>(n), h);
  });
}

// sum(x, out, [outer, mid, inner])
napi_value Sum(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[3];
    args(env, info, 3, a);
    const int32_t* p = i32(env, a[2], 3, "sum params");
    const int64_t outer = p[0], mid = p[1], inner = p[2];
    positive({outer, mid, inner}, "sum");
    const float* x = f32(env, a[0], outer * mid * inner, "x");
    float* out = f32(env, a[1], outer * inner, "out");
    gantry::sum(x, out, outer, mid, inner);
  });
}

// leakyReluGrad(dy, x, out, alpha)
napi_value LeakyReluGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[4];
    args(env, info, 4, a);
    size_t n;
    const float* dy = typed<float>(env, a[0], napi_float32_array, &n, "dy");
    double alpha;
    if (napi_get_value_double(env, a[3], &alpha) != napi_ok) throw Fail{"leakyReluGrad: alpha must be a number"};
    gantry::leaky_relu_grad(dy, f32(env, a[1], n, "x"), f32(env, a[2], n, "out"), static_cast<int64_t>(n), static_cast<float>(alpha));
  });
}

// batchNormStats(x, mean, var, [rows, c])
napi_value BatchNormStats(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[4];
    args(env, info, 4, a);
    const int32_t* p = i32(env, a[3], 2, "batch norm params");
    const int64_t rows = p[0], c = p[1];
    positive({rows, c}, "batch norm");
    gantry::bn_stats(f32(env, a[0], rows * c, "x"), rows, c, f32(env, a[1], c, "mean"), f32(env, a[2], c, "var"));
  });
}

// batchNormApply(x, mean, invstd, gamma, beta, y, [rows, c])
napi_value BatchNormApply(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[7];
    args(env, info, 7, a);
    const int32_t* p = i32(env, a[6], 2, "batch norm params");
    const int64_t rows = p[0], c = p[1];
    positive({rows, c}, "batch norm");
    gantry::bn_apply(f32(env, a[0], rows * c, "x"), rows, c, f32(env, a[1], c, "mean"), f32(env, a[2], c, "invstd"),
                     f32(env, a[3], c, "gamma"), f32(env, a[4], c, "beta"), f32(env, a[5], rows * c, "y"));
  });
}

// batchNormBackward(x, dy, mean, invstd, gamma, dx, dgamma, dbeta, [rows, c])
napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[9];
    args(env, info, 9, a);
    const int32_t* p = i32(env, a[8], 2, "batch norm params");
    const int64_t rows = p[0], c = p[1];
    positive({rows, c}, "batch norm");
    gantry::bn_backward(f32(env, a[0], rows * c, "x"), f32(env, a[1], rows * c, "dy"), rows, c, f32(env, a[2], c, "mean"),
                        f32(env, a[3], c, "invstd"), f32(env, a[4], c, "gamma"), f32(env, a[5], rows * c, "dx"),
                        f32(env, a[6], c, "dgamma"), f32(env, a[7], c, "dbeta"));
  });
}

napi_value Info(napi_env env, napi_callback_info) {
  napi_value o, isa, threads, mr, nr;
  int m, r;
  gantry::gemm_tile(&m, &r);
  napi_create_object(env, &o);
  napi_create_string_utf8(env, gantry::gemm_isa(), NAPI_AUTO_LENGTH, &isa);
  napi_create_int32(env, gantry::pool_threads(), &threads);
  napi_create_int32(env, m, &mr);
  napi_create_int32(env, r, &nr);
  napi_set_named_property(env, o, "isa", isa);
  napi_set_named_property(env, o, "threads", threads);
  napi_set_named_property(env, o, "mr", mr);
  napi_set_named_property(env, o, "nr", nr);
  return o;
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matMul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2d", nullptr, Conv2D, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2DBackpropInput, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2DBackpropFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adam", nullptr, Adam, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sum", nullptr, Sum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"leakyReluGrad", nullptr, LeakyReluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormStats", nullptr, BatchNormStats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormApply", nullptr, BatchNormApply, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormBackward", nullptr, BatchNormBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
