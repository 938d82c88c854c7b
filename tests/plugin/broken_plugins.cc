// Deliberately broken (and one healthy) op libraries for tests/plugin/test_plugin_failures.py.
// Each library is this file compiled with one -DMODE_* flag.
#include <cstring>
#include <stdexcept>

#include "coarsenet/op.h"

namespace {

struct NoParam {
  static void Declare(cn::ParamDecl<NoParam>&) {}
};

void Copy(const NoParam&, const cn::ForwardArgs& a) {
  std::memcpy(a.out[0].data, a.in[0].data, a.in[0].size() * (a.in[0].dtype == CN_FLOAT32 ? 4 : 8));
}

// Copies through its workspace, so the memory planner must provide one of the declared size.
[[maybe_unused]] size_t CopyWorkspaceBytes(const NoParam&, const std::vector<cn::Shape>& in,
                                           const std::vector<cn::Shape>&, bool) {
  return in[0].size() * sizeof(double);
}
// The same scratch stated in elements of the call's dtype (ABI 1.1): exactly enough, so a
// float64 call given float32-sized scratch would be caught by the output check.
[[maybe_unused]] size_t CopyWorkspaceElems(const NoParam&, const std::vector<cn::Shape>& in,
                                           const std::vector<cn::Shape>&, bool) {
  return in[0].size();
}
[[maybe_unused]] void CopyViaWorkspace(const NoParam&, const cn::ForwardArgs& a) {
  size_t bytes = a.in[0].size() * (a.in[0].dtype == CN_FLOAT32 ? 4 : 8);
  std::memcpy(a.workspace, a.in[0].data, bytes);
  std::memcpy(a.out[0].data, a.workspace, bytes);
}

[[maybe_unused]] void ThrowingShape(const NoParam&, cn::ShapeContext&) {
  throw cn::Error("infer_shape refuses every input");
}
[[maybe_unused]] void ThrowingForward(const NoParam&, const cn::ForwardArgs&) {
  throw std::runtime_error("forward hit a C++ exception");
}
[[maybe_unused]] void ThrowingBackward(const NoParam&, const cn::BackwardArgs&) {
  throw std::logic_error("backward hit a C++ exception");
}

}  // namespace

#if defined(MODE_HEALTHY)  // a good library whose op name the next modes collide with
CN_REGISTER_OP(PluginDupA, NoParam).forward(Copy);
CN_REGISTER_OP(PluginWorkspaceCopy, NoParam)
    .forward(CopyViaWorkspace)
    .workspace(CopyWorkspaceBytes);
CN_REGISTER_OP(PluginElemsCopy, NoParam)
    .forward(CopyViaWorkspace)
    .workspace_elems(CopyWorkspaceElems);
CN_PLUGIN_MAIN()

#elif defined(MODE_DUP_PLUGIN)  // a fresh name first, then one the healthy library owns
CN_REGISTER_OP(PluginFreshOne, NoParam).forward(Copy);
CN_REGISTER_OP(PluginDupA, NoParam).forward(Copy);
CN_PLUGIN_MAIN()

#elif defined(MODE_DUP_BUILTIN)
CN_REGISTER_OP(PluginFreshTwo, NoParam).forward(Copy);
CN_REGISTER_OP(FullyConnected, NoParam).forward(Copy);
CN_PLUGIN_MAIN()

#elif defined(MODE_ABI_OP)  // its op tables claim another ABI major version
CN_REGISTER_OP(PluginFreshThree, NoParam).forward(Copy);
CN_REGISTER_OP(PluginFutureAbi, NoParam).forward(Copy);
extern "C" __attribute__((visibility("default"))) int coarsenet_register_ops(
    const cn_host_api* host, const cn_registrar* registrar, uint32_t, cn_error* err) {
  cn::HostApi() = host;
  for (cn::OpDefBase* def : cn::RegisteredOps()) {
    cn_op_def c = def->ToC();
    if (def->name() == "PluginFutureAbi") c.abi_major = CN_ABI_VERSION_MAJOR + 1;
    if (registrar->add_op(registrar->host_state, &c, err)) return 1;
  }
  return 0;
}

#elif defined(MODE_ABI_1_0)  // built against ABI 1.0: a shorter cn_op_def, no workspace_elems
CN_REGISTER_OP(PluginAbi10Copy, NoParam)
    .forward(CopyViaWorkspace)
    .workspace(CopyWorkspaceBytes);
extern "C" __attribute__((visibility("default"))) int coarsenet_register_ops(
    const cn_host_api* host, const cn_registrar* registrar, uint32_t, cn_error* err) {
  cn::HostApi() = host;
  for (cn::OpDefBase* def : cn::RegisteredOps()) {
    cn_op_def c = def->ToC();
    c.struct_size = CN_OP_DEF_SIZE_1_0;
    c.abi_minor = 0;
    // Past a 1.0 struct_size the bytes are not the library's: the host must not call this.
    c.workspace_elems = reinterpret_cast<decltype(c.workspace_elems)>(uintptr_t(8));
    if (registrar->add_op(registrar->host_state, &c, err)) return 1;
  }
  return 0;
}

#elif defined(MODE_ABI_ENTRY)  // what CN_PLUGIN_MAIN of a future SDK says to this host
CN_REGISTER_OP(PluginFreshFour, NoParam).forward(Copy);
extern "C" __attribute__((visibility("default"))) int coarsenet_register_ops(
    const cn_host_api*, const cn_registrar*, uint32_t host_abi_major, cn_error* err) {
  const uint32_t built_for = CN_ABI_VERSION_MAJOR + 1;
  if (host_abi_major != built_for) {
    std::snprintf(err->message, CN_ERROR_MSG_BYTES,
                  "plugin was built for coarsenet op ABI %u, the host speaks ABI %u", built_for,
                  host_abi_major);
    return 1;
  }
  return 0;
}

#elif defined(MODE_NO_ENTRY)  // forgot CN_PLUGIN_MAIN()
CN_REGISTER_OP(PluginFreshFive, NoParam).forward(Copy);

#elif defined(MODE_THROWING)  // loads fine; its callbacks fail at run time
CN_REGISTER_OP(PluginBadShape, NoParam).infer_shape(ThrowingShape).forward(Copy);
CN_REGISTER_OP(PluginBadKernels, NoParam)
    .forward(ThrowingForward)
    .backward(ThrowingBackward);

// An op written against the C ABI alone (no op.h builder) whose kernels return error codes.
extern "C" {
static const char* kData[] = {"data"};
static const char* kOut[] = {"output"};
static int RawParse(const void*, int32_t n, const char* const* keys, const char* const*,
                    void** state, cn_error* err) {
  if (n > 0) {
    std::snprintf(err->message, CN_ERROR_MSG_BYTES, "unknown parameter '%s'", keys[0]);
    return 1;
  }
  *state = nullptr;
  return 0;
}
static void RawFree(void*) {}
static int RawSignature(const void*, cn_signature* s, cn_error*) {
  *s = cn_signature{1, kData, 1, kOut, 1, 0, nullptr};
  return 0;
}
static int RawShape(const void*, cn_shape* in, cn_shape* out, cn_shape*, cn_error*) {
  out[0] = in[0];
  return 0;
}
static int RawForward(const void*, const cn_op_ctx*, const cn_tensor*, const cn_tensor*,
                      const int32_t*, const cn_tensor*, void*, cn_error* err) {
  std::snprintf(err->message, CN_ERROR_MSG_BYTES, "forward returned error code 7");
  return 7;
}
static int RawBackward(const void*, const cn_op_ctx*, const cn_tensor*, const cn_tensor*,
                       const cn_tensor*, const cn_tensor*, const int32_t*, const cn_tensor*,
                       void*, cn_error* err) {
  std::snprintf(err->message, CN_ERROR_MSG_BYTES, "backward returned error code 8");
  return 8;
}
static int RawNeeds(const void*, cn_backward_needs* n, cn_error*) {
  n->out_grads[0] = 1;
  return 0;
}
static int32_t RawNoPairs(const void*, int32_t*, int32_t) { return 0; }
static int RawWorkspace(const void*, const cn_shape*, const cn_shape*, int32_t, uint64_t* b,
                        cn_error*) {
  *b = 0;
  return 0;
}

__attribute__((visibility("default"))) int coarsenet_register_ops(
    const cn_host_api* host, const cn_registrar* registrar, uint32_t host_abi_major,
    cn_error* err) {
  if (::cn::RegisterAll(host, registrar, err)) return 1;
  cn_op_def d{};
  d.struct_size = sizeof(cn_op_def);
  d.abi_major = CN_ABI_VERSION_MAJOR;
  d.abi_minor = CN_ABI_VERSION_MINOR;
  d.name = "PluginErrorCodes";
  d.doc = "Raw C ABI op whose kernels fail.";
  d.parse_params = RawParse;
  d.free_params = RawFree;
  d.signature = RawSignature;
  d.infer_shape = RawShape;
  d.forward = RawForward;
  d.backward = RawBackward;
  d.backward_needs = RawNeeds;
  d.inplace_pairs = RawNoPairs;
  d.backward_inplace_pairs = RawNoPairs;
  d.workspace_bytes = RawWorkspace;
  return registrar->add_op(registrar->host_state, &d, err);
}
}  // extern "C"

#else
#error "compile with one -DMODE_..."
#endif
