// The services the host lends to every op library (BLAS, thread pool) and the thread settings.
#ifndef COARSENET_CORE_HOST_SERVICES_H_
#define COARSENET_CORE_HOST_SERVICES_H_

#include "coarsenet/c_api.h"

namespace cn::core {

const cn_host_api* HostServices();

// Threads used by parallel loops and by GEMM outside parallel loops.
void SetNumThreads(int n);
int GetNumThreads();

// What the thread settings are now, for tests and users: the count kernels plan for, OpenMP's
// and OpenBLAS's own settings, and, measured inside a parallel_for body, the team size and
// OpenBLAS's thread count there (must be 1: one threading layer at a time).
struct ThreadInfo {
  int num_threads, omp_max_threads, blas_threads, parallel_team, blas_threads_in_parallel;
};
ThreadInfo GetThreadInfo();

}  // namespace cn::core

#endif  // COARSENET_CORE_HOST_SERVICES_H_
