// The services the host lends to every op library (BLAS, thread pool) and the thread settings.
#ifndef COARSENET_CORE_HOST_SERVICES_H_
#define COARSENET_CORE_HOST_SERVICES_H_

#include "coarsenet/c_api.h"

namespace cn::core {

const cn_host_api* HostServices();

// Threads used by parallel loops and by GEMM outside parallel loops.
void SetNumThreads(int n);
int GetNumThreads();

}  // namespace cn::core

#endif  // COARSENET_CORE_HOST_SERVICES_H_
