// What kernels receive: tensors by index with a request each (write / add / null), the call
// context, shape-inference state and the backward-needs declaration. Included by coarsenet/op.h.
#ifndef COARSENET_KERNEL_ARGS_H_
#define COARSENET_KERNEL_ARGS_H_

#include <cstdint>

#include "coarsenet/c_api.h"
#include "coarsenet/tensor.h"

namespace cn CN_HIDDEN {

// What a write/add request means for one element.
template <typename DType>
inline void Store(DType* dst, int32_t req, DType value) {
  if (req == CN_REQ_ADD)
    *dst += value;
  else
    *dst = value;
}

struct TensorList {
  const Tensor* items = nullptr;
  int32_t count = 0;
  const Tensor& operator[](int i) const { return items[i]; }
  int32_t size() const { return count; }
};

struct OpContext {
  bool is_train = false;
  bool is_recompute = false;
  uint64_t seed = 0;
  // Threads to plan parallel work for: the count the call's workspace was sized with (an op
  // declared with workspace_elems_threads gets the same number there).
  int threads = 1;
};

struct ForwardArgs {
  OpContext ctx;
  TensorList in, out, aux;
  const int32_t* req;  // one per output
  void* workspace;
};

struct BackwardArgs {
  OpContext ctx;
  TensorList out_grad, in, out, in_grad, aux;  // indexed like forward; unneeded ones are empty
  const int32_t* req;                          // one per input gradient
  void* workspace;
};

// Shape inference state. Unknown shapes have ndim == -1. The Set* helpers fill an unknown shape
// or check a known one, naming the input or output in the error.
class ShapeContext {
 public:
  ShapeContext(cn_shape* in, int n_in, const char* const* in_names, cn_shape* out, int n_out,
               const char* const* out_names, cn_shape* aux, int n_aux, const char* const* aux_names)
      : in_(in), out_(out), aux_(aux), n_in_(n_in), n_out_(n_out), n_aux_(n_aux),
        in_names_(in_names), out_names_(out_names), aux_names_(aux_names) {}

  Shape in(int i) const { return Shape(in_[i]); }
  Shape out(int i) const { return Shape(out_[i]); }
  Shape aux(int i) const { return Shape(aux_[i]); }
  int num_in() const { return n_in_; }
  int num_out() const { return n_out_; }
  int num_aux() const { return n_aux_; }
  const char* in_name(int i) const { return in_names_[i]; }

  void SetInput(int i, const Shape& s) { Set(in_[i], s, "input", in_names_[i]); }
  void SetOutput(int i, const Shape& s) { Set(out_[i], s, "output", out_names_[i]); }
  void SetAux(int i, const Shape& s) { Set(aux_[i], s, "auxiliary state", aux_names_[i]); }

  // Throws unless input i is known and has `ndim` dims (ndim < 0: any).
  Shape RequireInput(int i, int ndim = -1) const {
    Shape s(in_[i]);
    if (ndim >= 0 && s.ndim != ndim)
      throw Error(Msg("input '", in_names_[i], "' expected ", ndim, " dims, found shape ", s));
    return s;
  }

 private:
  static void Set(cn_shape& slot, const Shape& s, const char* what, const char* name) {
    if (!s.known()) return;
    for (int d = 0; d < s.ndim; ++d)
      if (s.dims[d] < 0)
        throw Error(Msg(what, " '", name, "': inferred shape ", s, " has a negative dim"));
    if (slot.ndim >= 0 && Shape(slot) != s)
      throw Error(Msg(what, " '", name, "' expected shape ", s, ", found ", Shape(slot)));
    slot = s;
  }
  cn_shape *in_, *out_, *aux_;
  int n_in_, n_out_, n_aux_;
  const char* const* in_names_;
  const char* const* out_names_;
  const char* const* aux_names_;
};

// Which tensors backward reads. Everything starts unneeded; mark what the backward uses.
class BackwardNeeds {
 public:
  explicit BackwardNeeds(cn_backward_needs* c, int n_in, int n_out) : c_(c), n_in_(n_in), n_out_(n_out) {}
  BackwardNeeds& input(int i) { c_->inputs[i] = 1; return *this; }
  BackwardNeeds& output(int i) { c_->outputs[i] = 1; return *this; }
  BackwardNeeds& out_grad(int i) { c_->out_grads[i] = 1; return *this; }
  BackwardNeeds& all_inputs() { for (int i = 0; i < n_in_; ++i) input(i); return *this; }
  BackwardNeeds& all_out_grads() { for (int i = 0; i < n_out_; ++i) out_grad(i); return *this; }

 private:
  cn_backward_needs* c_;
  int n_in_, n_out_;
};

// Infers every output (and nothing else) as the shape of input 0: elementwise ops.
template <typename P>
void SameShape(const P&, ShapeContext& s) {
  Shape data = s.in(0);
  for (int i = 1; i < s.num_in(); ++i) {
    if (!data.known()) data = s.in(i);
  }
  if (!data.known()) return;
  for (int i = 0; i < s.num_in(); ++i) s.SetInput(i, data);
  for (int i = 0; i < s.num_out(); ++i) s.SetOutput(i, data);
}

}  // namespace cn

#endif  // COARSENET_KERNEL_ARGS_H_
