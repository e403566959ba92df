// Thread pool, packed cache-blocked SGEMM with a register-blocked SIMD micro-kernel, and
// im2col/col2im convolutions (NHWC) expressed as GEMMs.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__) || defined(__SSE2__)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

namespace gantry {
namespace {

inline void cpu_relax() {
#if defined(__SSE2__)
  _mm_pause();
#endif
}

// Several JS threads computing at once (gantry's executor runs steps on worker threads, one per
// core) already use the cores; the pool on top would only oversubscribe them. A call is
// "contended" when another thread has called into the addon within the last 50 ms; it then runs
// its tasks on its own thread. Threads are tracked in a few slots (hashed thread ids).
bool contended() {
  constexpr int kSlots = 16;
  constexpr int64_t kWindowNs = 50'000'000;
  static std::atomic<size_t> ids[kSlots];
  static std::atomic<int64_t> last[kSlots];
  const size_t me = std::hash<std::thread::id>()(std::this_thread::get_id()) | 1;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int mine = -1, oldest = 0;
  bool other = false;
  for (int i = 0; i < kSlots; i++) {
    const size_t id = ids[i].load(std::memory_order_relaxed);
    const int64_t t = last[i].load(std::memory_order_relaxed);
    if (id == me) mine = i;
    else if (id != 0 && now - t < kWindowNs) other = true;
    if (t < last[oldest].load(std::memory_order_relaxed)) oldest = i;
  }
  if (mine < 0) {
    mine = oldest;  // a slot nobody used lately (or at all)
    ids[mine].store(me, std::memory_order_relaxed);
  }
  last[mine].store(now, std::memory_order_relaxed);
  return other;
}

// ---------------------------------------------------------------------------------------------
// Thread pool. One job at a time; the calling thread takes tasks too. Workers spin briefly after
// a job (tfjs issues kernels back to back) and then sleep on a condition variable. When another
// JS thread (a worker_thread) is already using the pool, a call runs its tasks inline instead:
// the task split is the same either way, so results do not depend on who ran them.
// ---------------------------------------------------------------------------------------------
class Pool {
 public:
  explicit Pool(int n) : n_(std::max(1, n)) {
    for (int i = 1; i < n_; i++) std::thread([this] { loop(); }).detach();
  }
  int size() const { return n_; }

  void run(int ntasks, void (*fn)(void*, int), void* ctx) {
    if (ntasks <= 0) return;
    std::unique_lock<std::mutex> busy(busy_, std::defer_lock);
    if (n_ == 1 || ntasks == 1 || contended() || !busy.try_lock()) {
      for (int t = 0; t < ntasks; t++) fn(ctx, t);
      return;
    }
    // The job lives in a shared_ptr: a worker that wakes up late still holds a valid job, finds
    // every task taken, and never calls fn, so the caller need not wait for sleeping workers —
    // only for tasks that were claimed.
    auto job = std::make_shared<Job>();
    job->fn = fn;
    job->ctx = ctx;
    job->ntasks = ntasks;
    {
      std::lock_guard<std::mutex> lk(m_);
      job_ = job;
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work(*job);
    // Wait for the tasks other threads claimed: spin briefly (they usually finish within
    // microseconds), then sleep in short naps. Spinning longer starves a descheduled worker that
    // holds a task when there are more busy threads than cores (two trials' GEMMs on two cores
    // ran ten times slower, most of it in sched_yield).
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    bool napping = false;
    for (unsigned i = 0; job->done.load(std::memory_order_acquire) < ntasks; i++) {
      if (napping) {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      } else {
        cpu_relax();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() > until) napping = true;
      }
    }
  }

 private:
  struct Job {
    void (*fn)(void*, int) = nullptr;
    void* ctx = nullptr;
    int ntasks = 0;
    std::atomic<int> next{0};
    std::atomic<int> done{0};
  };

  static void work(Job& j) {
    int t;
    while ((t = j.next.fetch_add(1, std::memory_order_relaxed)) < j.ntasks) {
      j.fn(j.ctx, t);
      j.done.fetch_add(1, std::memory_order_release);
    }
  }

  void loop() {
    unsigned seen = 0;
    for (;;) {
      unsigned g = gen_.load(std::memory_order_acquire);
      if (g == seen) {
        // Kernels come back to back: spin a little before sleeping.
        auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(300);
        for (int i = 0; (g = gen_.load(std::memory_order_acquire)) == seen; i++) {
          cpu_relax();
          if ((i & 255) == 255 && std::chrono::steady_clock::now() > until) break;
        }
      }
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
        seen = gen_.load(std::memory_order_acquire);
        job = job_;
      }
      work(*job);
    }
  }

  const int n_;
  std::mutex busy_;
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<unsigned> gen_{0};
  std::shared_ptr<Job> job_;
};

int detect_threads() {
  if (const char* e = std::getenv("GANTRY_NATIVE_THREADS")) {
    int v = std::atoi(e);
    if (v >= 1) return std::min(v, 256);
  }
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int c = CPU_COUNT(&set);
    if (c >= 1) return c;
  }
#endif
  unsigned h = std::thread::hardware_concurrency();
  return h ? static_cast<int>(h) : 1;
}

Pool& pool() {
  // Leaked on purpose: detached workers may still be parked in it at process exit.
  static Pool* p = new Pool(detect_threads());
  return *p;
}

// ---------------------------------------------------------------------------------------------
// Aligned scratch buffers, one set per thread, grown on demand and kept (no page faults per call).
// ---------------------------------------------------------------------------------------------
struct Scratch {
  float* p = nullptr;
  size_t cap = 0;
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      size_t bytes = ((n * sizeof(float)) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      cap = n;
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};

// ---------------------------------------------------------------------------------------------
// Micro-kernels: C[mr, nr] (+)= Ap[kc, MR]ᵀ · Bp[kc, NR], A and B packed, zero-padded to MR/NR.
// ---------------------------------------------------------------------------------------------
#if defined(__AVX512F__)
constexpr int MR = 12, NR = 32;
const char* const kIsa = "avx512";

inline void micro(int kc, const float* __restrict a, const float* __restrict b, float* c, int ldc, bool acc, int mr,
                  int nr) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += MR;
    b += NR;
  }
  if (mr == MR && nr == NR) {
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      float* ci = c + static_cast<ptrdiff_t>(i) * ldc;
      if (acc) {
        c0[i] = _mm512_add_ps(_mm512_loadu_ps(ci), c0[i]);
        c1[i] = _mm512_add_ps(_mm512_loadu_ps(ci + 16), c1[i]);
      }
      _mm512_storeu_ps(ci, c0[i]);
      _mm512_storeu_ps(ci + 16, c1[i]);
    }
    return;
  }
  const __mmask16 m0 = nr >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? static_cast<__mmask16>((1u << (nr - 16)) - 1) : 0;
  for (int i = 0; i < mr; i++) {
    float* ci = c + static_cast<ptrdiff_t>(i) * ldc;
    __m512 v0 = c0[i], v1 = c1[i];
    if (acc) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), v1);
    }
    _mm512_mask_storeu_ps(ci, m0, v0);
    _mm512_mask_storeu_ps(ci + 16, m1, v1);
  }
}

#elif defined(__AVX2__) && defined(__FMA__)
constexpr int MR = 6, NR = 16;
const char* const kIsa = "avx2";

inline void micro(int kc, const float* __restrict a, const float* __restrict b, float* c, int ldc, bool acc, int mr,
                  int nr) {
  // Twelve named accumulators: with arrays, GCC keeps spilling them to the stack in the loop.
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int p = 0; p < kc; p++) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 ai = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
    a += MR;
    b += NR;
  }
  alignas(32) float t[MR][NR];
  _mm256_store_ps(t[0], c00);
  _mm256_store_ps(t[0] + 8, c01);
  _mm256_store_ps(t[1], c10);
  _mm256_store_ps(t[1] + 8, c11);
  _mm256_store_ps(t[2], c20);
  _mm256_store_ps(t[2] + 8, c21);
  _mm256_store_ps(t[3], c30);
  _mm256_store_ps(t[3] + 8, c31);
  _mm256_store_ps(t[4], c40);
  _mm256_store_ps(t[4] + 8, c41);
  _mm256_store_ps(t[5], c50);
  _mm256_store_ps(t[5] + 8, c51);
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; i++) {
      float* ci = c + static_cast<ptrdiff_t>(i) * ldc;
      __m256 v0 = _mm256_load_ps(t[i]), v1 = _mm256_load_ps(t[i] + 8);
      if (acc) {
        v0 = _mm256_add_ps(_mm256_loadu_ps(ci), v0);
        v1 = _mm256_add_ps(_mm256_loadu_ps(ci + 8), v1);
      }
      _mm256_storeu_ps(ci, v0);
      _mm256_storeu_ps(ci + 8, v1);
    }
    return;
  }
  for (int i = 0; i < mr; i++) {
    float* ci = c + static_cast<ptrdiff_t>(i) * ldc;
    for (int j = 0; j < nr; j++) ci[j] = acc ? ci[j] + t[i][j] : t[i][j];
  }
}

#else
// Portable path: plain C++ the compiler may vectorise for whatever the target offers.
constexpr int MR = 4, NR = 16;
const char* const kIsa = "generic";

inline void micro(int kc, const float* __restrict a, const float* __restrict b, float* c, int ldc, bool acc, int mr,
                  int nr) {
  float t[MR][NR] = {};
  for (int p = 0; p < kc; p++) {
    for (int i = 0; i < MR; i++) {
      const float ai = a[i];
      for (int j = 0; j < NR; j++) t[i][j] += ai * b[j];
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < mr; i++) {
    float* ci = c + static_cast<ptrdiff_t>(i) * ldc;
    for (int j = 0; j < nr; j++) ci[j] = acc ? ci[j] + t[i][j] : t[i][j];
  }
}
#endif

// Cache blocking: Bp micro-panel (KC×NR) in L1, the packed A block (MC×KC) in L2, B block in L3.
int KC = 256;
int MC = 120;  // multiple of MR
int NC = 2048;  // multiple of NR

void init_blocking() {
  static std::once_flag once;
  std::call_once(once, [] {
    // GANTRY_GEMM_BLOCK=kc,mc,nc: for tuning experiments only.
    if (const char* e = std::getenv("GANTRY_GEMM_BLOCK")) {
      int kc = 0, mc = 0, nc = 0;
      if (std::sscanf(e, "%d,%d,%d", &kc, &mc, &nc) == 3 && kc > 0 && mc > 0 && nc > 0) {
        KC = kc;
        MC = std::max(MR, mc / MR * MR);
        NC = std::max(NR, nc / NR * NR);
      }
    }
    MC = std::max(MR, MC / MR * MR);
    NC = std::max(NR, NC / NR * NR);
  });
}

// Pack rows [i0, i0+mc) × cols [p0, p0+kc) of op(A) into MR-row panels, k-major.
void pack_a(bool ta, const float* A, int lda, int i0, int mc, int p0, int kc, float* dst) {
  for (int ir = 0; ir < mc; ir += MR) {
    const int mr = std::min(MR, mc - ir);
    if (!ta) {
      for (int ii = 0; ii < mr; ii++) {
        const float* src = A + static_cast<ptrdiff_t>(i0 + ir + ii) * lda + p0;
        for (int p = 0; p < kc; p++) dst[p * MR + ii] = src[p];
      }
      for (int ii = mr; ii < MR; ii++)
        for (int p = 0; p < kc; p++) dst[p * MR + ii] = 0.f;
    } else {
      for (int p = 0; p < kc; p++) {
        const float* src = A + static_cast<ptrdiff_t>(p0 + p) * lda + i0 + ir;
        float* d = dst + p * MR;
        int ii = 0;
        for (; ii < mr; ii++) d[ii] = src[ii];
        for (; ii < MR; ii++) d[ii] = 0.f;
      }
    }
    dst += static_cast<ptrdiff_t>(kc) * MR;
  }
}

// Pack rows [p0, p0+kc) × cols [j0, j0+nc) of op(B) into NR-column panels, k-major.
void pack_b(bool tb, const float* B, int ldb, int p0, int kc, int j0, int nc, float* dst) {
  for (int jr = 0; jr < nc; jr += NR) {
    const int nr = std::min(NR, nc - jr);
    if (!tb) {
      for (int p = 0; p < kc; p++) {
        const float* src = B + static_cast<ptrdiff_t>(p0 + p) * ldb + j0 + jr;
        float* d = dst + p * NR;
        if (nr == NR) {
          std::memcpy(d, src, sizeof(float) * NR);
        } else {
          int jj = 0;
          for (; jj < nr; jj++) d[jj] = src[jj];
          for (; jj < NR; jj++) d[jj] = 0.f;
        }
      }
    } else {
      for (int jj = 0; jj < nr; jj++) {
        const float* src = B + static_cast<ptrdiff_t>(j0 + jr + jj) * ldb + p0;
        for (int p = 0; p < kc; p++) dst[p * NR + jj] = src[p];
      }
      for (int jj = nr; jj < NR; jj++)
        for (int p = 0; p < kc; p++) dst[p * NR + jj] = 0.f;
    }
    dst += static_cast<ptrdiff_t>(kc) * NR;
  }
}

thread_local Scratch tl_a, tl_b, tl_col, tl_part;

// One thread, one (sub)problem.
void gemm_st(bool ta, bool tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C,
             int ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int i = 0; i < M; i++) std::memset(C + static_cast<ptrdiff_t>(i) * ldc, 0, sizeof(float) * N);
    return;
  }
  float* bufA = tl_a.get(static_cast<size_t>(MC) * KC);
  float* bufB = tl_b.get(static_cast<size_t>(KC) * NC);
  for (int jc = 0; jc < N; jc += NC) {
    const int nc = std::min(NC, N - jc);
    for (int pc = 0; pc < K; pc += KC) {
      const int kc = std::min(KC, K - pc);
      const bool acc = accumulate || pc > 0;
      pack_b(tb, B, ldb, pc, kc, jc, nc, bufB);
      for (int ic = 0; ic < M; ic += MC) {
        const int mc = std::min(MC, M - ic);
        pack_a(ta, A, lda, ic, mc, pc, kc, bufA);
        for (int jr = 0; jr < nc; jr += NR) {
          const float* bp = bufB + static_cast<ptrdiff_t>(jr / NR) * kc * NR;
          for (int ir = 0; ir < mc; ir += MR) {
            micro(kc, bufA + static_cast<ptrdiff_t>(ir / MR) * kc * MR, bp,
                  C + static_cast<ptrdiff_t>(ic + ir) * ldc + jc + jr, ldc, acc, std::min(MR, mc - ir),
                  std::min(NR, nc - jr));
          }
        }
      }
    }
  }
}

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

}  // namespace

int pool_threads() { return pool().size(); }
const char* gemm_isa() { return kIsa; }
void gemm_tile(int* mr, int* nr) {
  *mr = MR;
  *nr = NR;
}

void parallel_for(int ntasks, void (*fn)(void*, int), void* ctx) { pool().run(ntasks, fn, ctx); }

void sgemm(bool ta, bool tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C,
           int ldc, bool accumulate) {
  init_blocking();
  if (M <= 0 || N <= 0) return;
  const int nt = pool_threads();
  const double flops = 2.0 * M * N * K;
  if (nt == 1 || flops < 1e7 || K <= 0) {
    gemm_st(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
    return;
  }
  const int mblocks = ceil_div(M, MR), nblocks = ceil_div(N, NR);
  const int want = 2 * nt;  // a little over-decomposed, so one slow core does not stall the call

  if (mblocks * nblocks < want && K >= 1024) {
    // Small output, long reduction: split K; partial sums are added in a fixed order.
    const int parts = std::min(want, K / 512);
    const size_t mn = static_cast<size_t>(M) * N;
    float* part = tl_part.get(mn * (parts - 1));
    parallel(parts, [&](int t) {
      const int k0 = static_cast<int>(static_cast<int64_t>(K) * t / parts);
      const int k1 = static_cast<int>(static_cast<int64_t>(K) * (t + 1) / parts);
      const float* a = ta ? A + static_cast<ptrdiff_t>(k0) * lda : A + k0;
      const float* b = tb ? B + k0 : B + static_cast<ptrdiff_t>(k0) * ldb;
      if (t == 0) gemm_st(ta, tb, M, N, k1 - k0, a, lda, b, ldb, C, ldc, accumulate);
      else gemm_st(ta, tb, M, N, k1 - k0, a, lda, b, ldb, part + (t - 1) * mn, N, false);
    });
    for (int i = 0; i < M; i++) {
      float* ci = C + static_cast<ptrdiff_t>(i) * ldc;
      for (int t = 1; t < parts; t++) {
        const float* pi = part + (t - 1) * mn + static_cast<size_t>(i) * N;
        for (int j = 0; j < N; j++) ci[j] += pi[j];
      }
    }
    return;
  }

  int tm, tn;
  if (mblocks >= nblocks) {
    tm = std::min(mblocks, want);
    tn = std::min(nblocks, ceil_div(want, tm));
  } else {
    tn = std::min(nblocks, want);
    tm = std::min(mblocks, ceil_div(want, tn));
  }
  parallel(tm * tn, [&](int t) {
    const int im = t / tn, in = t % tn;
    const int i0 = std::min(M, mblocks * im / tm * MR), i1 = std::min(M, mblocks * (im + 1) / tm * MR);
    const int j0 = std::min(N, nblocks * in / tn * NR), j1 = std::min(N, nblocks * (in + 1) / tn * NR);
    if (i1 <= i0 || j1 <= j0) return;
    const float* a = ta ? A + i0 : A + static_cast<ptrdiff_t>(i0) * lda;
    const float* b = tb ? B + static_cast<ptrdiff_t>(j0) * ldb : B + j0;
    gemm_st(ta, tb, i1 - i0, j1 - j0, K, a, lda, b, ldb, C + static_cast<ptrdiff_t>(i0) * ldc + j0, ldc, accumulate);
  });
}

// ---------------------------------------------------------------------------------------------
// Convolutions (NHWC). The column matrix has one row per output pixel (n, oy, ox) and
// K = kh·kw·c columns in filter order (ky, kx, ci), so the filter [kh, kw, c, f] is its K×f
// right-hand side as stored. Images are processed in chunks that keep the column matrix within
// a budget.
// ---------------------------------------------------------------------------------------------
namespace {

constexpr size_t kColBudget = size_t(8) << 20;  // floats (32 MiB)

// The column matrix is x itself: 1×1 stride-1 unpadded, or a filter covering the whole image.
bool col_is_input(const ConvShape& s) {
  const bool pointwise = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 &&
                         s.oh == s.h && s.ow == s.w;
  const bool whole = s.oh == 1 && s.ow == 1 && s.kh == s.h && s.kw == s.w && s.pt == 0 && s.pl == 0 &&
                     s.dh == 1 && s.dw == 1;
  return pointwise || whole;
}

int images_per_chunk(const ConvShape& s) {
  const size_t per = static_cast<size_t>(s.oh) * s.ow * s.kh * s.kw * s.c;
  return static_cast<int>(std::max<size_t>(1, std::min<size_t>(s.n, kColBudget / std::max<size_t>(per, 1))));
}

// Rows [r0, r1) (global row indices) of the column matrix, written from col (= row r0).
void im2col_rows(const ConvShape& s, const float* x, float* col, int64_t r0, int64_t r1) {
  const int64_t K = static_cast<int64_t>(s.kh) * s.kw * s.c;
  const int64_t plane = static_cast<int64_t>(s.oh) * s.ow;
  const size_t cb = sizeof(float) * s.c;
  for (int64_t r = r0; r < r1; r++) {
    const int n = static_cast<int>(r / plane);
    const int rem = static_cast<int>(r % plane);
    const int oy = rem / s.ow, ox = rem % s.ow;
    float* dst = col + (r - r0) * K;
    const float* img = x + static_cast<int64_t>(n) * s.h * s.w * s.c;
    for (int ky = 0; ky < s.kh; ky++) {
      const int iy = oy * s.sh - s.pt + ky * s.dh;
      if (iy < 0 || iy >= s.h) {
        std::memset(dst, 0, cb * s.kw);
        dst += s.kw * s.c;
        continue;
      }
      const float* row = img + static_cast<int64_t>(iy) * s.w * s.c;
      for (int kx = 0; kx < s.kw; kx++) {
        const int ix = ox * s.sw - s.pl + kx * s.dw;
        if (ix < 0 || ix >= s.w) std::memset(dst, 0, cb);
        else std::memcpy(dst, row + static_cast<int64_t>(ix) * s.c, cb);
        dst += s.c;
      }
    }
  }
}

void im2col(const ConvShape& s, const float* x, float* col, int64_t r0, int64_t r1) {
  const int64_t rows = r1 - r0;
  const int nt = pool_threads();
  const int tasks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(2 * nt, rows / 32)));
  const int64_t K = static_cast<int64_t>(s.kh) * s.kw * s.c;
  parallel(tasks, [&](int t) {
    const int64_t a = r0 + rows * t / tasks, b = r0 + rows * (t + 1) / tasks;
    im2col_rows(s, x, col + (a - r0) * K, a, b);
  });
}

// dx (one image) = sum of its column rows scattered back to input pixels.
void col2im_image(const ConvShape& s, const float* dcol, float* dx) {
  const int64_t K = static_cast<int64_t>(s.kh) * s.kw * s.c;
  std::memset(dx, 0, sizeof(float) * s.h * s.w * s.c);
  const int c = s.c;
  for (int oy = 0; oy < s.oh; oy++) {
    for (int ox = 0; ox < s.ow; ox++) {
      const float* row = dcol + (static_cast<int64_t>(oy) * s.ow + ox) * K;
      for (int ky = 0; ky < s.kh; ky++) {
        const int iy = oy * s.sh - s.pt + ky * s.dh;
        if (iy < 0 || iy >= s.h) continue;
        for (int kx = 0; kx < s.kw; kx++) {
          const int ix = ox * s.sw - s.pl + kx * s.dw;
          if (ix < 0 || ix >= s.w) continue;
          float* d = dx + (static_cast<int64_t>(iy) * s.w + ix) * c;
          const float* src = row + (ky * s.kw + kx) * c;
          for (int ci = 0; ci < c; ci++) d[ci] += src[ci];
        }
      }
    }
  }
}

}  // namespace

void conv2d_forward(const ConvShape& s, const float* x, const float* w, float* y) {
  const int K = s.kh * s.kw * s.c;
  const int64_t plane = static_cast<int64_t>(s.oh) * s.ow;
  if (col_is_input(s)) {
    sgemm(false, false, static_cast<int>(s.n * plane), s.f, K, x, K, w, s.f, y, s.f, false);
    return;
  }
  const int chunk = images_per_chunk(s);
  float* col = tl_col.get(static_cast<size_t>(chunk) * plane * K);
  for (int n0 = 0; n0 < s.n; n0 += chunk) {
    const int nb = std::min(chunk, s.n - n0);
    const int64_t r0 = n0 * plane, rows = nb * plane;
    im2col(s, x, col, r0, r0 + rows);
    sgemm(false, false, static_cast<int>(rows), s.f, K, col, K, w, s.f, y + r0 * s.f, s.f, false);
  }
}

void conv2d_backprop_input(const ConvShape& s, const float* dy, const float* w, float* dx) {
  const int K = s.kh * s.kw * s.c;
  const int64_t plane = static_cast<int64_t>(s.oh) * s.ow;
  if (col_is_input(s)) {
    // dx = dy · Wᵀ, written straight into dx.
    sgemm(false, true, static_cast<int>(s.n * plane), K, s.f, dy, s.f, w, s.f, dx, K, false);
    return;
  }
  const int chunk = images_per_chunk(s);
  float* col = tl_col.get(static_cast<size_t>(chunk) * plane * K);
  const int64_t img = static_cast<int64_t>(s.h) * s.w * s.c;
  for (int n0 = 0; n0 < s.n; n0 += chunk) {
    const int nb = std::min(chunk, s.n - n0);
    const int64_t r0 = n0 * plane, rows = nb * plane;
    sgemm(false, true, static_cast<int>(rows), K, s.f, dy + r0 * s.f, s.f, w, s.f, col, K, false);
    parallel(nb, [&](int i) { col2im_image(s, col + i * plane * K, dx + (n0 + i) * img); });
  }
}

void conv2d_backprop_filter(const ConvShape& s, const float* x, const float* dy, float* dw) {
  const int K = s.kh * s.kw * s.c;
  const int64_t plane = static_cast<int64_t>(s.oh) * s.ow;
  if (col_is_input(s)) {
    sgemm(true, false, K, s.f, static_cast<int>(s.n * plane), x, K, dy, s.f, dw, s.f, false);
    return;
  }
  const int chunk = images_per_chunk(s);
  float* col = tl_col.get(static_cast<size_t>(chunk) * plane * K);
  for (int n0 = 0; n0 < s.n; n0 += chunk) {
    const int nb = std::min(chunk, s.n - n0);
    const int64_t r0 = n0 * plane, rows = nb * plane;
    im2col(s, x, col, r0, r0 + rows);
    sgemm(true, false, K, s.f, static_cast<int>(rows), col, K, dy + r0 * s.f, s.f, dw, s.f, n0 > 0);
  }
}

}  // namespace gantry
