// The op SDK: write an op as ordinary C++ functions and register it with one builder chain.
// Built-in ops and user plugins use exactly this header.
//
//   CN_REGISTER_OP(ScaledTanh, ScaledTanhParam)
//       .describe("y = scale * tanh(x)")
//       .inputs({"data"})
//       .outputs({"output"})
//       .infer_shape(cn::SameShape)
//       .forward(ScaledTanhForward)
//       .backward(ScaledTanhBackward)
//       .backward_needs(ScaledTanhNeeds)
//       .inplace({{0, 0}});
//   CN_PLUGIN_MAIN()   // once per plugin library (built-ins are registered by the core)
//
// Kernels receive tensors by index, a request per output (write / add / null), and call the host's
// GEMM and thread pool through cn::Gemm and cn::ParallelFor. A kernel reports a user mistake by
// throwing cn::Error; the host turns it into a Python exception that names the op.
#ifndef COARSENET_OP_H_
#define COARSENET_OP_H_

#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "coarsenet/c_api.h"
#include "coarsenet/host.h"
#include "coarsenet/kernel_args.h"
#include "coarsenet/params.h"
#include "coarsenet/tensor.h"

namespace cn CN_HIDDEN {

// ---------------------------------------------------------------- the builder

class OpDefBase {
 public:
  virtual ~OpDefBase() = default;
  virtual cn_op_def ToC() const = 0;
  const std::string& name() const { return name_; }
  const std::vector<std::string>& aliases() const { return aliases_; }

 protected:
  std::string name_, doc_;
  std::vector<std::string> aliases_;
};

#define CN_GUARD_BEGIN try {
#define CN_GUARD_END(err)                                                           \
  }                                                                                 \
  catch (const std::exception& e) {                                                 \
    std::snprintf((err)->message, CN_ERROR_MSG_BYTES, "%s", e.what());              \
    return 1;                                                                       \
  }                                                                                 \
  catch (...) {                                                                     \
    std::snprintf((err)->message, CN_ERROR_MSG_BYTES, "unknown C++ exception");     \
    return 1;                                                                       \
  }                                                                                 \
  return 0;

template <typename P>
class OpDef : public OpDefBase {
 public:
  using Names = std::vector<std::string>;
  using NamesFn = std::function<Names(const P&)>;
  using ShapeFn = std::function<void(const P&, ShapeContext&)>;
  using TypeFn = std::function<void(const P&, std::vector<int>& in, std::vector<int>& out,
                                    std::vector<int>& aux)>;
  using ForwardFn = std::function<void(const P&, const ForwardArgs&)>;
  using BackwardFn = std::function<void(const P&, const BackwardArgs&)>;
  using NeedsFn = std::function<void(const P&, BackwardNeeds&)>;
  using Pairs = std::vector<std::pair<int, int>>;
  using PairsFn = std::function<Pairs(const P&)>;
  using WorkspaceFn = std::function<size_t(const P&, const std::vector<Shape>& in,
                                           const std::vector<Shape>& out, bool backward)>;
  using WorkspaceThreadsFn = std::function<size_t(const P&, const std::vector<Shape>& in,
                                                  const std::vector<Shape>& out, bool backward,
                                                  int threads)>;

  explicit OpDef(const char* name) {
    name_ = name;
    P::Declare(decl_);
    outputs_ = [](const P&) { return Names{"output"}; };
  }

  OpDef& describe(const char* doc) { doc_ = doc; return *this; }
  OpDef& alias(const char* name) { aliases_.push_back(name); return *this; }
  OpDef& inputs(Names names) { inputs_ = [names](const P&) { return names; }; return *this; }
  OpDef& inputs(NamesFn fn) { inputs_ = std::move(fn); return *this; }
  OpDef& outputs(Names names) { outputs_ = [names](const P&) { return names; }; return *this; }
  OpDef& outputs(NamesFn fn) { outputs_ = std::move(fn); return *this; }
  OpDef& aux(Names names) { aux_ = [names](const P&) { return names; }; return *this; }
  OpDef& aux(NamesFn fn) { aux_ = std::move(fn); return *this; }
  // How many leading outputs users see; the rest are kept for backward only.
  OpDef& visible_outputs(int n) { visible_ = [n](const P&) { return n; }; return *this; }
  OpDef& visible_outputs(std::function<int(const P&)> fn) { visible_ = std::move(fn); return *this; }
  OpDef& infer_shape(ShapeFn fn) { shape_ = std::move(fn); return *this; }
  OpDef& infer_type(TypeFn fn) { type_ = std::move(fn); return *this; }
  OpDef& forward(ForwardFn fn) { forward_ = std::move(fn); return *this; }
  OpDef& backward(BackwardFn fn) { backward_ = std::move(fn); return *this; }
  OpDef& backward_needs(NeedsFn fn) { needs_ = std::move(fn); return *this; }
  OpDef& inplace(Pairs pairs) { inplace_ = [pairs](const P&) { return pairs; }; return *this; }
  OpDef& inplace(PairsFn fn) { inplace_ = std::move(fn); return *this; }
  OpDef& backward_inplace(Pairs pairs) {
    backward_inplace_ = [pairs](const P&) { return pairs; };
    return *this;
  }
  OpDef& workspace(WorkspaceFn fn) { workspace_ = std::move(fn); return *this; }
  // Scratch in elements of the call's dtype (see cn_op_def.workspace_elems); preferred over
  // workspace() for kernels whose scratch holds values of the data's type.
  OpDef& workspace_elems(WorkspaceFn fn) { workspace_elems_ = std::move(fn); return *this; }
  // As workspace_elems, for kernels that plan for the call's thread count (parallel slots with
  // their own scratch): the kernel reads the same count from its OpContext::threads.
  OpDef& workspace_elems_threads(WorkspaceThreadsFn fn) {
    workspace_threads_ = std::move(fn);
    return *this;
  }
  // Batch separability (see cn_op_def.batch_split): in the CN_BATCH_* `modes`, a call may run
  // as calls on slices of axis 0 of every input and output except the `whole_inputs` and
  // `whole_outputs` (weights, biases, per-channel outputs), whose gradients the host sums.
  OpDef& batch_separable(uint32_t modes, std::vector<int> whole_inputs = {},
                         std::vector<int> whole_outputs = {}) {
    return batch_separable([=](const P&) { return modes; }, whole_inputs, whole_outputs);
  }
  // As above with modes that depend on the params (BatchNorm's axis 0 is not separable).
  OpDef& batch_separable(std::function<uint32_t(const P&)> modes,
                         std::vector<int> whole_inputs = {}, std::vector<int> whole_outputs = {}) {
    batch_modes_ = std::move(modes);
    batch_whole_in_ = std::move(whole_inputs);
    batch_whole_out_ = std::move(whole_outputs);
    return *this;
  }
  OpDef& flags(uint32_t f) { flags_ = f; return *this; }
  // ONNX export writes this op as node `op_type` of the custom `domain` (see cn_op_def).
  OpDef& onnx(const char* domain, const char* op_type) {
    onnx_domain_ = domain;
    onnx_op_type_ = op_type;
    return *this;
  }

  cn_op_def ToC() const override {
    param_infos_.clear();
    for (auto& f : decl_.fields())
      param_infos_.push_back({f.name.c_str(), f.type_name.c_str(),
                              f.required ? nullptr : f.default_str.c_str(), f.doc.c_str()});
    cn_op_def d{};
    d.struct_size = sizeof(cn_op_def);
    d.abi_major = CN_ABI_VERSION_MAJOR;
    d.abi_minor = CN_ABI_VERSION_MINOR;
    d.name = name_.c_str();
    d.doc = doc_.c_str();
    d.num_params = static_cast<int32_t>(param_infos_.size());
    d.params = param_infos_.data();
    d.flags = flags_;
    d.op_data = this;
    d.parse_params = &Parse;
    d.free_params = &Free;
    d.signature = &Signature;
    d.infer_shape = &InferShape;
    d.infer_type = type_ ? &InferType : nullptr;
    d.forward = &Forward;
    d.backward = backward_ ? &Backward : nullptr;
    d.backward_needs = &Needs;
    d.inplace_pairs = &Inplace;
    d.backward_inplace_pairs = &BackwardInplace;
    d.workspace_bytes = &Workspace;
    if (workspace_elems_) d.workspace_elems = &WorkspaceElems;
    if (workspace_threads_) {
      d.workspace_elems_threads = &WorkspaceElemsThreads;
      d.workspace_elems = &WorkspaceElemsNow;  // what a host older than ABI 1.3 asks
    }
    if (batch_modes_) d.batch_split = &BatchSplit;
    if (!onnx_domain_.empty()) {
      d.onnx_domain = onnx_domain_.c_str();
      d.onnx_op_type = onnx_op_type_.c_str();
    }
    return d;
  }

 private:
  // The parsed params plus the names they imply; the C ABI's opaque param state.
  struct State {
    const OpDef* def;
    P param;
    Names in, out, aux;
    std::vector<const char*> in_c, out_c, aux_c;
    int visible;
  };

  static std::vector<const char*> CStrings(const Names& names) {
    std::vector<const char*> v;
    for (auto& n : names) v.push_back(n.c_str());
    return v;
  }
  static const State& S(const void* state) { return *static_cast<const State*>(state); }
  static TensorList List(const cn_tensor* t, size_t n) {
    return TensorList{reinterpret_cast<const Tensor*>(t), static_cast<int32_t>(n)};
  }
  // A host older than ABI 1.3 sends no thread count; it sized the workspace without one too
  // (WorkspaceElemsNow), for the pool's current size.
  static OpContext Ctx(const cn_op_ctx* c) {
    const bool has_threads = c->struct_size >= CN_OP_CTX_SIZE_1_2 + sizeof(int32_t);
    const int threads = has_threads && c->num_threads > 0 ? c->num_threads : NumThreads();
    return OpContext{c->is_train != 0, c->is_recompute != 0, c->seed, threads};
  }

  static int Parse(const void* op_data, int32_t n, const char* const* keys,
                   const char* const* values, void** out, cn_error* err) {
    CN_GUARD_BEGIN
    const auto* def = static_cast<const OpDef*>(op_data);
    std::vector<std::pair<std::string, std::string>> kv;
    for (int32_t i = 0; i < n; ++i) kv.emplace_back(keys[i], values[i]);
    auto* st = new State{def, ParseParams(def->decl_, kv), {}, {}, {}, {}, {}, {}, 0};
    try {
      st->in = def->inputs_ ? def->inputs_(st->param) : Names{"data"};
      st->out = def->outputs_(st->param);
      st->aux = def->aux_ ? def->aux_(st->param) : Names{};
      st->visible = def->visible_ ? def->visible_(st->param) : static_cast<int>(st->out.size());
    } catch (...) {
      delete st;
      throw;
    }
    st->in_c = CStrings(st->in);
    st->out_c = CStrings(st->out);
    st->aux_c = CStrings(st->aux);
    *out = st;
    CN_GUARD_END(err)
  }

  static void Free(void* state) { delete static_cast<State*>(state); }

  static int Signature(const void* state, cn_signature* sig, cn_error* err) {
    CN_GUARD_BEGIN
    const State& s = S(state);
    sig->num_inputs = static_cast<int32_t>(s.in.size());
    sig->input_names = s.in_c.data();
    sig->num_outputs = static_cast<int32_t>(s.out.size());
    sig->output_names = s.out_c.data();
    sig->num_visible_outputs = s.visible;
    sig->num_aux = static_cast<int32_t>(s.aux.size());
    sig->aux_names = s.aux_c.data();
    CN_GUARD_END(err)
  }

  static int InferShape(const void* state, cn_shape* in, cn_shape* out, cn_shape* aux, cn_error* err) {
    CN_GUARD_BEGIN
    const State& s = S(state);
    ShapeContext ctx(in, static_cast<int>(s.in.size()), s.in_c.data(), out,
                     static_cast<int>(s.out.size()), s.out_c.data(), aux,
                     static_cast<int>(s.aux.size()), s.aux_c.data());
    if (s.def->shape_)
      s.def->shape_(s.param, ctx);
    else
      SameShape(s.param, ctx);
    CN_GUARD_END(err)
  }

  static int InferType(const void* state, int32_t* in, int32_t* out, int32_t* aux, cn_error* err) {
    CN_GUARD_BEGIN
    const State& s = S(state);
    std::vector<int> vi(in, in + s.in.size()), vo(out, out + s.out.size()), va(aux, aux + s.aux.size());
    s.def->type_(s.param, vi, vo, va);
    std::copy(vi.begin(), vi.end(), in);
    std::copy(vo.begin(), vo.end(), out);
    std::copy(va.begin(), va.end(), aux);
    CN_GUARD_END(err)
  }

  static int Forward(const void* state, const cn_op_ctx* ctx, const cn_tensor* in,
                     const cn_tensor* out, const int32_t* req, const cn_tensor* aux,
                     void* workspace, cn_error* err) {
    CN_GUARD_BEGIN
    const State& s = S(state);
    ForwardArgs a{Ctx(ctx), List(in, s.in.size()), List(out, s.out.size()),
                  List(aux, s.aux.size()), req, workspace};
    s.def->forward_(s.param, a);
    CN_GUARD_END(err)
  }

  static int Backward(const void* state, const cn_op_ctx* ctx, const cn_tensor* out_grads,
                      const cn_tensor* in, const cn_tensor* out, const cn_tensor* in_grads,
                      const int32_t* req, const cn_tensor* aux, void* workspace, cn_error* err) {
    CN_GUARD_BEGIN
    const State& s = S(state);
    BackwardArgs a{Ctx(ctx),
                   List(out_grads, s.out.size()),
                   List(in, s.in.size()),
                   List(out, s.out.size()),
                   List(in_grads, s.in.size()),
                   List(aux, s.aux.size()),
                   req,
                   workspace};
    s.def->backward_(s.param, a);
    CN_GUARD_END(err)
  }

  static int Needs(const void* state, cn_backward_needs* needs, cn_error* err) {
    CN_GUARD_BEGIN
    const State& s = S(state);
    int n_in = static_cast<int>(s.in.size()), n_out = static_cast<int>(s.out.size());
    for (int i = 0; i < n_in; ++i) needs->inputs[i] = 0;
    for (int i = 0; i < n_out; ++i) needs->outputs[i] = needs->out_grads[i] = 0;
    BackwardNeeds b(needs, n_in, n_out);
    if (s.def->needs_) {
      s.def->needs_(s.param, b);
    } else {  // conservative default: every input and every visible output gradient
      b.all_inputs();
      if (!(s.def->flags_ & CN_FLAG_LOSS))
        for (int i = 0; i < s.visible; ++i) b.out_grad(i);
    }
    CN_GUARD_END(err)
  }

  static int32_t WritePairs(const Pairs& pairs, int32_t* out, int32_t capacity) {
    int32_t n = 0;
    for (auto& [a, b] : pairs) {
      if (n >= capacity) break;
      out[2 * n] = a;
      out[2 * n + 1] = b;
      ++n;
    }
    return n;
  }
  static int32_t Inplace(const void* state, int32_t* pairs, int32_t capacity) {
    const State& s = S(state);
    try {
      return s.def->inplace_ ? WritePairs(s.def->inplace_(s.param), pairs, capacity) : 0;
    } catch (...) {
      return 0;  // in-place is an optimisation; failing to declare it is safe
    }
  }
  static int32_t BackwardInplace(const void* state, int32_t* pairs, int32_t capacity) {
    const State& s = S(state);
    try {
      return s.def->backward_inplace_ ? WritePairs(s.def->backward_inplace_(s.param), pairs, capacity)
                                      : 0;
    } catch (...) {
      return 0;
    }
  }

  static int Workspace(const void* state, const cn_shape* in, const cn_shape* out,
                       int32_t is_backward, uint64_t* bytes, cn_error* err) {
    CN_GUARD_BEGIN
    const State& s = S(state);
    *bytes = 0;
    if (s.def->workspace_) {
      std::vector<Shape> vi(in, in + s.in.size()), vo(out, out + s.out.size());
      *bytes = s.def->workspace_(s.param, vi, vo, is_backward != 0);
    }
    CN_GUARD_END(err)
  }

  static int WorkspaceElems(const void* state, const cn_shape* in, const cn_shape* out,
                            int32_t is_backward, uint64_t* elems, cn_error* err) {
    CN_GUARD_BEGIN
    const State& s = S(state);
    std::vector<Shape> vi(in, in + s.in.size()), vo(out, out + s.out.size());
    *elems = s.def->workspace_elems_(s.param, vi, vo, is_backward != 0);
    CN_GUARD_END(err)
  }

  static int WorkspaceElemsThreads(const void* state, const cn_shape* in, const cn_shape* out,
                                   int32_t is_backward, int32_t threads, uint64_t* elems,
                                   cn_error* err) {
    CN_GUARD_BEGIN
    if (threads < 1) throw Error(Msg("workspace asked for ", threads, " threads"));
    const State& s = S(state);
    std::vector<Shape> vi(in, in + s.in.size()), vo(out, out + s.out.size());
    *elems = s.def->workspace_threads_(s.param, vi, vo, is_backward != 0, threads);
    CN_GUARD_END(err)
  }
  static int WorkspaceElemsNow(const void* state, const cn_shape* in, const cn_shape* out,
                               int32_t is_backward, uint64_t* elems, cn_error* err) {
    return WorkspaceElemsThreads(state, in, out, is_backward, NumThreads(), elems, err);
  }

  static int32_t BatchSplit(const void* state, int32_t* sliced_in, int32_t* sliced_out) {
    const State& s = S(state);
    try {
      for (size_t i = 0; i < s.in.size(); ++i) sliced_in[i] = 1;
      for (size_t j = 0; j < s.out.size(); ++j) sliced_out[j] = 1;
      for (int i : s.def->batch_whole_in_)
        if (i >= 0 && size_t(i) < s.in.size()) sliced_in[i] = 0;
      for (int j : s.def->batch_whole_out_)
        if (j >= 0 && size_t(j) < s.out.size()) sliced_out[j] = 0;
      return static_cast<int32_t>(s.def->batch_modes_(s.param));
    } catch (...) {
      return 0;  // splitting is an optimisation; failing to declare it is safe
    }
  }

  ParamDecl<P> decl_;
  std::function<uint32_t(const P&)> batch_modes_;
  std::vector<int> batch_whole_in_, batch_whole_out_;
  NamesFn inputs_, outputs_, aux_;
  std::function<int(const P&)> visible_;
  ShapeFn shape_;
  TypeFn type_;
  ForwardFn forward_;
  BackwardFn backward_;
  NeedsFn needs_;
  PairsFn inplace_, backward_inplace_;
  WorkspaceFn workspace_, workspace_elems_;
  WorkspaceThreadsFn workspace_threads_;
  std::string onnx_domain_, onnx_op_type_;
  uint32_t flags_ = 0;
  mutable std::vector<cn_param_info> param_infos_;
};

// Every op defined in this library, in registration order. Never freed: op tables must outlive
// any graph that still points at them.
inline std::vector<OpDefBase*>& RegisteredOps() {
  static std::vector<OpDefBase*> ops;
  return ops;
}

template <typename P>
OpDef<P>& NewOp(const char* name) {
  auto* def = new OpDef<P>(name);
  RegisteredOps().push_back(def);
  return *def;
}

// Hands every op of this library (and its aliases) to the host.
inline int RegisterAll(const cn_host_api* host, const cn_registrar* registrar, cn_error* err) {
  HostApi() = host;
  for (OpDefBase* def : RegisteredOps()) {
    cn_op_def c = def->ToC();
    if (registrar->add_op(registrar->host_state, &c, err)) return 1;
    for (const std::string& alias : def->aliases()) {
      c.name = alias.c_str();
      if (registrar->add_op(registrar->host_state, &c, err)) return 1;
    }
  }
  return 0;
}

}  // namespace cn

#define CN_REGISTER_OP(Name, ParamType) \
  [[maybe_unused]] static ::cn::OpDef<ParamType>& cn_op_registration_##Name = ::cn::NewOp<ParamType>(#Name)

// Defines the plugin's entry point; put it in exactly one source file of a plugin library.
#define CN_PLUGIN_MAIN()                                                                          \
  extern "C" __attribute__((visibility("default"))) int coarsenet_register_ops(                   \
      const cn_host_api* host, const cn_registrar* registrar, uint32_t host_abi_major,            \
      cn_error* err) {                                                                            \
    if (host_abi_major != CN_ABI_VERSION_MAJOR) {                                                 \
      std::snprintf(err->message, CN_ERROR_MSG_BYTES,                                             \
                    "plugin was built for coarsenet op ABI %d, the host speaks ABI %u",           \
                    CN_ABI_VERSION_MAJOR, host_abi_major);                                        \
      return 1;                                                                                   \
    }                                                                                             \
    return ::cn::RegisterAll(host, registrar, err);                                               \
  }

#endif  // COARSENET_OP_H_
