// Op libraries for tests/plugin/test_plugin_batch.py: batch separability in the op contract
// (ABI 1.4). Compiled once per -DMODE_*: CURRENT (built with this SDK, declares the op
// separable) and ABI_1_3 (declares minor version 3 with a garbage batch_split pointer: the host
// must neither call it nor split the op).
#include <cstdint>

#include "coarsenet/op.h"

namespace {

struct NoParam {
  static void Declare(cn::ParamDecl<NoParam>&) {}
};

// out = 2 * in, element by element.
template <typename DType>
void Twice(const cn::ForwardArgs& a) {
  const DType* x = a.in[0].ptr<DType>();
  DType* y = a.out[0].ptr<DType>();
  for (int64_t i = 0; i < a.in[0].size(); ++i) y[i] = 2 * x[i];
}
void Forward(const NoParam&, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, { Twice<DType>(a); });
}

}  // namespace

#if defined(MODE_CURRENT)
CN_REGISTER_OP(PluginTwice, NoParam)
    .forward(Forward)
    .batch_separable(CN_BATCH_INFERENCE | CN_BATCH_TRAIN);
CN_PLUGIN_MAIN()

#elif defined(MODE_ABI_1_3)
CN_REGISTER_OP(PluginTwice13, NoParam)
    .forward(Forward)
    .batch_separable(CN_BATCH_INFERENCE | CN_BATCH_TRAIN);
extern "C" __attribute__((visibility("default"))) int coarsenet_register_ops(
    const cn_host_api* host, const cn_registrar* registrar, uint32_t, cn_error* err) {
  cn::HostApi() = host;
  for (cn::OpDefBase* def : cn::RegisteredOps()) {
    cn_op_def c = def->ToC();
    c.abi_minor = 3;
    // A 1.3 library's struct may be followed by anything: the declared minor version says
    // this field is not the library's.
    c.batch_split = reinterpret_cast<decltype(c.batch_split)>(uintptr_t(8));
    if (registrar->add_op(registrar->host_state, &c, err)) return 1;
  }
  return 0;
}
#endif
