// A fixed-width block of DType values in one vector register (64 bytes: 16 floats or 8 doubles),
// through the GCC/Clang vector extension. For small kernels whose accumulators must stay in
// registers across a runtime-length loop (depthwise taps): left to the auto-vectoriser, such
// loops over a local DType a[64] came out as gathers and stack round-trips (6x slower).
// Loads and stores are unaligned (memcpy), so any address works.
#ifndef COARSENET_KERNELS_SIMD_BLOCK_H_
#define COARSENET_KERNELS_SIMD_BLOCK_H_

#include <cstring>

namespace cn::simd {

template <typename DType>
struct Block {
  typedef DType V __attribute__((vector_size(64)));
  static constexpr int kWidth = 64 / sizeof(DType);
  static V Load(const DType* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void Store(DType* p, V v) { std::memcpy(p, &v, sizeof v); }
  static V Splat(DType s) { return V{} + s; }
};

}  // namespace cn::simd

#endif  // COARSENET_KERNELS_SIMD_BLOCK_H_
