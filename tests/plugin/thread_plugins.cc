// Op libraries for tests/plugin/test_plugin_threads.py: the thread count in the op contract
// (ABI 1.3). Compiled once per -DMODE_*: CURRENT (built with this SDK) and ABI_1_2 (declares
// minor version 2, so the host must neither call workspace_elems_threads nor rely on it).
#include <cstdint>
#include <cstring>

#include "coarsenet/op.h"

namespace {

struct NoParam {
  static void Declare(cn::ParamDecl<NoParam>&) {}
};

// 8 scratch elements per planned thread, like an op with one buffer per parallel slot.
size_t SlotElems(const NoParam&, const std::vector<cn::Shape>&, const std::vector<cn::Shape>&,
                 bool, int threads) {
  return 8 * size_t(threads);
}

// out = [threads the call plans for, its workspace's last slot element after writing it].
template <typename DType>
void Report(const cn::ForwardArgs& a) {
  auto* ws = static_cast<DType*>(a.workspace);
  const int threads = a.ctx.threads;
  for (int s = 0; s < threads; ++s) ws[8 * s + 7] = DType(s);  // every slot's own bytes
  DType* out = a.out[0].ptr<DType>();
  out[0] = DType(threads);
  out[1] = ws[8 * (threads - 1) + 7];
}
void Forward(const NoParam&, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, { Report<DType>(a); });
}
void Shape2(const NoParam&, cn::ShapeContext& s) { s.SetOutput(0, cn::Shape{2}); }

}  // namespace

#if defined(MODE_CURRENT)
CN_REGISTER_OP(PluginThreadSlots, NoParam)
    .infer_shape(Shape2)
    .forward(Forward)
    .workspace_elems_threads(SlotElems);
CN_PLUGIN_MAIN()

#elif defined(MODE_ABI_1_2)
CN_REGISTER_OP(PluginThreadSlots12, NoParam)
    .infer_shape(Shape2)
    .forward(Forward)
    .workspace_elems_threads(SlotElems);
extern "C" __attribute__((visibility("default"))) int coarsenet_register_ops(
    const cn_host_api* host, const cn_registrar* registrar, uint32_t, cn_error* err) {
  cn::HostApi() = host;
  for (cn::OpDefBase* def : cn::RegisteredOps()) {
    cn_op_def c = def->ToC();
    c.abi_minor = 2;
    // A 1.2 library's struct may be followed by anything: the declared minor version says
    // this field is not the library's, so the host must not call it.
    c.workspace_elems_threads =
        reinterpret_cast<decltype(c.workspace_elems_threads)>(uintptr_t(8));
    if (registrar->add_op(registrar->host_state, &c, err)) return 1;
  }
  return 0;
}
#endif
