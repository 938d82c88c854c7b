// The choice between _core's own ops and the x86-64-v4 build of them (see kernel_variant.h).
#include "core/kernel_variant.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <string>


namespace cn::core {
namespace {

#ifdef COARSENET_PORTABLE_X86
// Every feature GCC's -march=x86-64-v4 may use beyond x86-64-v3.
bool CpuHasX86_64_V4() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

// The folder _core was loaded from: the variant module is installed beside it.
std::string CoreFolder() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&SelectKernelVariant), &info) || !info.dli_fname) return "";
  std::string path = info.dli_fname;
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}
#endif

cn_plugin_entry_fn Choose(KernelVariant& chosen) {
  const char* env = std::getenv("COARSENET_KERNEL_ISA");
  std::string wanted = env ? env : "";
  std::string error;
  if (!wanted.empty() && wanted != "x86-64-v3" && wanted != "x86-64-v4") {
    error = "COARSENET_KERNEL_ISA: expected x86-64-v3 or x86-64-v4, found '" + wanted + "'";
    wanted.clear();
  }
#ifndef COARSENET_PORTABLE_X86
  chosen = {"native", "", "built with -march=native for the machine it was compiled on", error};
  return nullptr;
#else
  chosen = {"x86-64-v3", "", "", error};
  if (wanted == "x86-64-v3") {
    chosen.reason = "COARSENET_KERNEL_ISA=x86-64-v3";
    return nullptr;
  }
  if (!CpuHasX86_64_V4()) {
    chosen.reason = "this CPU lacks the AVX-512 features of x86-64-v4";
    return nullptr;
  }
  std::string path = CoreFolder() + "/_ops_x86_64_v4.so";
  if (access(path.c_str(), R_OK) != 0) {
    chosen.reason = "the x86-64-v4 ops module is missing: " + path;
    return nullptr;
  }
  // RTLD_LOCAL and never closed, as for any op library (Registry::LoadLibrary).
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  const char* load_error = handle ? nullptr : dlerror();
  auto entry = handle ? reinterpret_cast<cn_plugin_entry_fn>(dlsym(handle, CN_PLUGIN_ENTRY_NAME))
                      : nullptr;
  if (!entry) {
    chosen.reason = "cannot load " + path + ": " + (load_error ? load_error : "no entry point");
    return nullptr;
  }
  chosen = {"x86-64-v4", path, "this CPU has AVX-512 (x86-64-v4)", error};
  return entry;
#endif
}

}  // namespace

KernelVariant& ActiveKernelVariant() {
  static KernelVariant variant;
  return variant;
}

cn_plugin_entry_fn SelectKernelVariant() { return Choose(ActiveKernelVariant()); }

}  // namespace cn::core
