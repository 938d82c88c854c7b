// Host services for op kernels: the host's GEMM and thread pool (reached through the C ABI's
// service table, so built-in ops and plugins share one BLAS and one pool) and a counter-based
// random stream. Included by coarsenet/op.h.
#ifndef COARSENET_HOST_H_
#define COARSENET_HOST_H_

#include <cstdint>
#include <exception>
#include <mutex>
#include <type_traits>

#include "coarsenet/c_api.h"
#include "coarsenet/tensor.h"

namespace cn CN_HIDDEN {

inline const cn_host_api*& HostApi() {
  static const cn_host_api* host = nullptr;
  return host;
}

// Row-major GEMM from the host's BLAS: C = alpha * op(A) op(B) + beta * C.
inline void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  HostApi()->sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                 const double* a, int64_t lda, const double* b, int64_t ldb, double beta,
                 double* c, int64_t ldc) {
  HostApi()->dgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline int NumThreads() { return HostApi()->num_threads(); }

// Runs body(begin, end) over disjoint chunks of [0, n) on the host's threads. Chunks are at least
// `grain` long. An exception thrown by the body is carried out and rethrown here.
template <typename Body>
void ParallelFor(int64_t n, int64_t grain, Body&& body) {
  if (n <= 0) return;
  struct Closure {
    std::remove_reference_t<Body>* body;  // Body is an lvalue reference for named lambdas
    std::mutex lock;
    std::exception_ptr error;
  } closure{&body, {}, nullptr};
  HostApi()->parallel_for(
      n, grain < 1 ? 1 : grain,
      [](void* user, int64_t begin, int64_t end) {
        auto* c = static_cast<Closure*>(user);
        try {
          (*c->body)(begin, end);
        } catch (...) {
          std::lock_guard<std::mutex> hold(c->lock);
          if (!c->error) c->error = std::current_exception();
        }
      },
      &closure);
  if (closure.error) std::rethrow_exception(closure.error);
}

// A counter-based random stream: value i of stream `seed` never depends on how work is split
// across threads, so a recomputation with the same seed reproduces it exactly.
inline uint64_t RandomBits(uint64_t seed, uint64_t i) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Uniform in [0, 1).
inline double RandomUniform(uint64_t seed, uint64_t i) {
  return static_cast<double>(RandomBits(seed, i) >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace cn

#endif  // COARSENET_HOST_H_
