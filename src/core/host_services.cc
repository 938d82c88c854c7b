// One BLAS (OpenBLAS from scipy-openblas32) and one thread pool (OpenMP) for all ops.
//
// Threading rule: a GEMM issued from inside a parallel_for body runs single-threaded, so OpenMP
// and OpenBLAS threads never oversubscribe the cores; a GEMM issued from serial code uses all of
// OpenBLAS's threads. This OpenBLAS build has no per-thread setting, so parallel_for lowers the
// global one around its region; regions are entered from serial code only, so this cannot race. OMP_WAIT_POLICY=passive is set by the Python package before this library
// loads, so idle OpenMP threads sleep instead of spinning against OpenBLAS's.
#include "core/host_services.h"

#include <omp.h>

#include <algorithm>
#include <atomic>

extern "C" {
// From scipy_openblas32's cblas.h; declared here to keep its enum types out of our headers.
void scipy_cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float* a, int lda, const float* b, int ldb, float beta, float* c,
                       int ldc);
void scipy_cblas_dgemm(int order, int trans_a, int trans_b, int m, int n, int k, double alpha,
                       const double* a, int lda, const double* b, int ldb, double beta, double* c,
                       int ldc);
void scipy_openblas_set_num_threads(int num_threads);
}

namespace cn::core {
namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
std::atomic<int> g_num_threads{0};

void Sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  scipy_cblas_sgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, int(m), int(n),
                    int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

void Dgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
           int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  scipy_cblas_dgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, int(m), int(n),
                    int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

void ParallelFor(int64_t n, int64_t grain, void (*body)(void*, int64_t, int64_t), void* user) {
  if (n <= 0) return;
  int64_t chunks = std::min<int64_t>(GetNumThreads(), (n + grain - 1) / grain);
  if (chunks <= 1 || omp_in_parallel()) {
    body(user, 0, n);
    return;
  }
  scipy_openblas_set_num_threads(1);
#pragma omp parallel num_threads(static_cast<int>(chunks))
  {
    int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
    body(user, n * t / count, n * (t + 1) / count);
  }
  scipy_openblas_set_num_threads(GetNumThreads());
}

int NumThreadsService() { return GetNumThreads(); }

}  // namespace

const cn_host_api* HostServices() {
  static const cn_host_api api = {sizeof(cn_host_api), &Sgemm, &Dgemm, &ParallelFor,
                                  &NumThreadsService};
  return &api;
}

void SetNumThreads(int n) {
  n = std::max(1, n);
  g_num_threads = n;
  omp_set_num_threads(n);
  scipy_openblas_set_num_threads(n);
}

int GetNumThreads() {
  int n = g_num_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

}  // namespace cn::core
