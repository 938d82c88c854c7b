// One BLAS (OpenBLAS from scipy-openblas32) and one thread pool (OpenMP) for all ops.
//
// OpenBLAS runs its parallel jobs on our OpenMP threads (its threads-callback hook), so there is
// a single pool whose idle threads sleep (OMP_WAIT_POLICY=passive, set by the Python package
// before this library loads). With OpenBLAS's own pthreads, its spinning workers and ours fought
// over the two cores: a small GEMM after an OpenMP loop took 100x longer on a busy machine.
// A GEMM issued inside a parallel_for body runs single-threaded: parallel_for lowers OpenBLAS's
// thread count around its region (regions start from serial code only, so this cannot race).
#include "core/host_services.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

extern "C" {
// From scipy_openblas32's cblas.h; declared here to keep its enum types out of our headers.
void scipy_cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float* a, int lda, const float* b, int ldb, float beta, float* c,
                       int ldc);
void scipy_cblas_dgemm(int order, int trans_a, int trans_b, int m, int n, int k, double alpha,
                       const double* a, int lda, const double* b, int ldb, double beta, double* c,
                       int ldc);
void scipy_openblas_set_num_threads(int num_threads);
int scipy_openblas_get_num_threads(void);
typedef void (*openblas_dojob_callback)(int thread_num, void* jobdata, int dojob_data);
typedef void (*openblas_threads_callback)(int sync, openblas_dojob_callback dojob, int numjobs,
                                          size_t jobdata_elsize, void* jobdata, int dojob_data);
void scipy_openblas_set_threads_callback_function(openblas_threads_callback callback);
}

namespace cn::core {
namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
// Below this many multiply-adds (~50 us on one core) a GEMM runs on one thread: waking and
// synchronising a team costs more than the split saves.
constexpr int64_t kSmallGemm = int64_t(1) << 22;
std::atomic<int> g_num_threads{0};

// Splits C into one block of columns (or of rows, when C is taller than wide) per thread and
// runs each block as a single-threaded OpenBLAS call on the OpenMP team. OpenBLAS's own threaded
// GEMM makes its threads wait on each other (they share packed panels); on a loaded machine a
// descheduled partner left the other spinning: a (32x512)(512x2048) GEMM took 6.4 ms on 2
// threads against 1.1 ms on 1. Independent blocks only cost one extra packing of the smaller
// operand per thread. Every element of C is summed over k in the same order whatever the split
// (blocks are multiples of kAlign wide, so the kernels' edge cases fall at the same places as in
// one call), which keeps results identical for any thread count. Small problems (see kSmallGemm)
// and calls from inside a parallel region run as one call on the calling thread.
constexpr int64_t kAlign = 16;

template <typename T, typename Call>
void SplitGemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
               const T* b, int64_t ldb, T* c, int64_t ldc, Call call) {
  bool by_cols = n >= m;
  int64_t blocks = ((by_cols ? n : m) + kAlign - 1) / kAlign;
  int64_t parts = std::min<int64_t>(GetNumThreads(), blocks);
  if (m * n * k < kSmallGemm || parts <= 1 || omp_in_parallel()) {
    // One thread for OpenBLAS here too (inside a parallel region it is one already).
    bool lower = !omp_in_parallel() && GetNumThreads() > 1;
    if (lower) scipy_openblas_set_num_threads(1);
    call(m, n, a, b, c);
    if (lower) scipy_openblas_set_num_threads(GetNumThreads());
    return;
  }
  scipy_openblas_set_num_threads(1);
#pragma omp parallel num_threads(static_cast<int>(parts))
  {
    int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
    int64_t lo = blocks * t / count * kAlign;
    int64_t hi = std::min(blocks * (t + 1) / count * kAlign, by_cols ? n : m);
    if (hi > lo) {
      if (by_cols)
        call(m, hi - lo, a, b + (tb ? lo * ldb : lo), c + lo);
      else
        call(hi - lo, n, a + (ta ? lo : lo * lda), b, c + lo * ldc);
    }
  }
  scipy_openblas_set_num_threads(GetNumThreads());
}

void Sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  SplitGemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc,
            [&](int64_t mm, int64_t nn, const float* aa, const float* bb, float* cc) {
              scipy_cblas_sgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans,
                                int(mm), int(nn), int(k), alpha, aa, int(lda), bb, int(ldb), beta,
                                cc, int(ldc));
            });
}

void Dgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
           int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  SplitGemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc,
            [&](int64_t mm, int64_t nn, const double* aa, const double* bb, double* cc) {
              scipy_cblas_dgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans,
                                int(mm), int(nn), int(k), alpha, aa, int(lda), bb, int(ldb), beta,
                                cc, int(ldc));
            });
}

// Runs OpenBLAS's jobs. They may wait on each other (level-3 threads share packed panels), so
// all of them must run at the same time: on the OpenMP team normally, on plain threads in the
// rare case OpenBLAS is asked for several threads from inside a parallel region.
void RunBlasJobs(int sync, openblas_dojob_callback dojob, int numjobs, size_t elsize,
                 void* jobdata, int dojob_data) {
  char* jobs = static_cast<char*>(jobdata);
  if (numjobs <= 1) {
    if (numjobs == 1) dojob(0, jobs, dojob_data);
    return;
  }
  if (omp_in_parallel()) {
    std::vector<std::thread> helpers;
    for (int i = 1; i < numjobs; ++i) helpers.emplace_back(dojob, i, jobs + i * elsize, dojob_data);
    dojob(0, jobs, dojob_data);
    for (auto& t : helpers) t.join();
    return;
  }
#pragma omp parallel num_threads(numjobs)
  {
    int i = omp_get_thread_num();
    dojob(i, jobs + i * elsize, dojob_data);
  }
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
  // OpenBLAS jobs must get every thread they ask for (see RunBlasJobs), so no dynamic teams.
  static const bool blas_on_openmp = [] {
    omp_set_dynamic(0);
    scipy_openblas_set_threads_callback_function(&RunBlasJobs);
    return true;
  }();
  (void)blas_on_openmp;
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

ThreadInfo GetThreadInfo() {
  HostServices();  // the BLAS callback and team settings are in place, as for any op call
  ThreadInfo info;
  info.num_threads = GetNumThreads();
  info.omp_max_threads = omp_get_max_threads();
  info.blas_threads = scipy_openblas_get_num_threads();
  // What a kernel sees inside a parallel_for body: a team of num_threads, a one-thread BLAS.
  std::atomic<int> team{0}, blas{0};
  struct Probe {
    std::atomic<int>* team;
    std::atomic<int>* blas;
  } probe{&team, &blas};
  ParallelFor(1 << 20, 1, [](void* user, int64_t, int64_t) {
    auto* p = static_cast<Probe*>(user);
    p->team->store(omp_get_num_threads());
    p->blas->store(scipy_openblas_get_num_threads());
  }, &probe);
  info.parallel_team = team.load();
  info.blas_threads_in_parallel = blas.load();
  return info;
}

}  // namespace cn::core
