// Which build of the built-in ops runs on this CPU.
//
// A native build (-march=native, the default) has one build of every op, made for the machine it
// was compiled on. A portable build (COARSENET_NATIVE=OFF on x86-64) compiles the engine for
// x86-64-v3 (AVX2 + FMA) and every op a second time for x86-64-v4 (AVX-512) into the module
// _ops_x86_64_v4.so beside _core. At import the core loads that module through the plugin ABI when
// the CPU has the AVX-512 features x86-64-v4 requires, and its ops replace the built-in ones
// (GEMM needs no such thing: OpenBLAS dispatches by itself).
#ifndef COARSENET_CORE_KERNEL_VARIANT_H_
#define COARSENET_CORE_KERNEL_VARIANT_H_

#include <string>

#include "coarsenet/c_api.h"

namespace cn::core {

struct KernelVariant {
  std::string isa;      // "native", "x86-64-v3" or "x86-64-v4": what the running ops were built for
  std::string library;  // the module the ops come from ("" when they are _core's own)
  std::string reason;   // why this variant was chosen
  std::string error;    // a bad COARSENET_KERNEL_ISA value; coarsenet's import raises it
};

// Chooses the variant (once) and returns the chosen module's entry point, or nullptr for _core's own
// ops. COARSENET_KERNEL_ISA=x86-64-v3 forces the baseline in a portable build; any other value than
// x86-64-v3 / x86-64-v4 is an error (recorded in `error`, raised by `import coarsenet` as a
// CoarsenetError: an exception from the module's init would read as a missing _core).
cn_plugin_entry_fn SelectKernelVariant();

// The choice SelectKernelVariant made; a failed load of the module is recorded and falls back.
KernelVariant& ActiveKernelVariant();

}  // namespace cn::core

#endif  // COARSENET_CORE_KERNEL_VARIANT_H_
