// Conversions between numpy arrays and the C ABI's tensors, and the checks every op call makes
// before it reaches a kernel (counts, dtypes, contiguity, shapes against shape inference).
#ifndef COARSENET_BINDINGS_CALL_ARGS_H_
#define COARSENET_BINDINGS_CALL_ARGS_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "coarsenet/op.h"
#include "core/host_services.h"
#include "core/registry.h"

namespace cn::bindings {

namespace py = pybind11;
using cn::core::OpInstance;

inline cn_shape ToShape(const OpInstance& op, const std::optional<std::vector<int64_t>>& s) {
  cn_shape out{};
  out.ndim = -1;
  if (!s) return out;
  if (s->size() > CN_MAX_NDIM)
    op.Fail("shapes have at most " + std::to_string(CN_MAX_NDIM) + " dims, found " +
            std::to_string(s->size()));
  out.ndim = int32_t(s->size());
  for (size_t i = 0; i < s->size(); ++i) out.dims[i] = (*s)[i];
  return out;
}

inline py::object FromShape(const cn_shape& s) {
  if (s.ndim < 0) return py::none();
  py::tuple t(s.ndim);
  for (int i = 0; i < s.ndim; ++i) t[i] = s.dims[i];
  return t;
}

inline py::list FromShapes(const std::vector<cn_shape>& v) {
  py::list l;
  for (auto& s : v) l.append(FromShape(s));
  return l;
}

inline int DTypeCode(const py::dtype& dt) {
  switch (dt.kind()) {
    case 'f':
      if (dt.itemsize() == 4) return CN_FLOAT32;
      if (dt.itemsize() == 8) return CN_FLOAT64;
      if (dt.itemsize() == 2) return CN_FLOAT16;
      break;
    case 'i':
      if (dt.itemsize() == 4) return CN_INT32;
      if (dt.itemsize() == 8) return CN_INT64;
      if (dt.itemsize() == 1) return CN_INT8;
      break;
    case 'u':
      if (dt.itemsize() == 1) return CN_UINT8;
      break;
  }
  return -1;
}

// Holds the numpy arrays of one call alive and their C views.
struct TensorPack {
  std::vector<cn_tensor> views;
  std::vector<py::object> keep;
};

// Converts a list of arrays (or None) to views; `writable` for outputs and gradients.
inline TensorPack Pack(const OpInstance& op, const py::list& arrays, size_t expected,
                       const char* what, const std::vector<std::string>& names, bool writable,
                       bool allow_none) {
  if (arrays.size() != expected)
    op.Fail("expected " + std::to_string(expected) + " " + what + ", found " +
            std::to_string(arrays.size()));
  TensorPack pack;
  pack.views.resize(expected);
  for (size_t i = 0; i < expected; ++i) {
    cn_tensor& t = pack.views[i];
    t = cn_tensor{};
    t.ndim = -1;  // unknown until shape inference fills it (see CheckShapes)
    t.dtype = -1;
    py::handle h = arrays[i];
    std::string label = std::string(what) + " " + std::to_string(i) +
                        (i < names.size() ? " ('" + names[i] + "')" : std::string());
    if (h.is_none()) {
      if (!allow_none) op.Fail(label + " is missing");
      continue;
    }
    if (allow_none && py::isinstance<py::tuple>(h)) {  // a shape only: no data is read
      auto dims = py::cast<std::vector<int64_t>>(h);
      if (dims.size() > CN_MAX_NDIM) op.Fail(label + " has too many dims");
      t.ndim = int32_t(dims.size());
      std::copy(dims.begin(), dims.end(), t.dims);
      continue;
    }
    if (!py::isinstance<py::array>(h)) op.Fail(label + " must be a numpy array");
    auto a = py::reinterpret_borrow<py::array>(h);
    if (!(a.flags() & py::array::c_style)) op.Fail(label + " must be C-contiguous");
    if (writable && !a.writeable()) op.Fail(label + " must be writable");
    if (a.ndim() > CN_MAX_NDIM)
      op.Fail(label + " has " + std::to_string(a.ndim()) + " dims; at most " +
              std::to_string(CN_MAX_NDIM) + " are supported");
    int code = DTypeCode(a.dtype());
    if (code < 0) op.Fail(label + " has unsupported dtype " + std::string(py::str(a.dtype())));
    t.data = const_cast<void*>(a.data());
    t.dtype = code;
    t.ndim = int32_t(a.ndim());
    for (int d = 0; d < t.ndim; ++d) t.dims[d] = a.shape(d);
    pack.keep.push_back(a);
  }
  return pack;
}

inline std::string ShapeStr(const cn_tensor& t) {
  cn_shape s{};
  s.ndim = t.ndim;
  for (int i = 0; i < t.ndim; ++i) s.dims[i] = t.dims[i];
  return cn::Shape(s).str();
}

inline bool SameShape(const cn_shape& s, const cn_tensor& t) {
  if (s.ndim != t.ndim) return false;
  for (int i = 0; i < s.ndim; ++i)
    if (s.dims[i] != t.dims[i]) return false;
  return true;
}

inline cn_shape ShapeOf(const cn_tensor& t) {
  cn_shape s{};
  s.ndim = t.ndim;
  for (int i = 0; i < t.ndim; ++i) s.dims[i] = t.dims[i];
  return s;
}

// Checks that the given tensors agree with what shape inference says about them. Input shapes
// come from `in` or, where an input was not passed, from its gradient. Afterwards every view
// that carries no data (a tensor backward does not read, a gradient not requested) holds its
// inferred shape when one is known, so kernels can always read shapes.
inline void CheckShapes(const OpInstance& op, std::vector<cn_tensor>& in,
                        std::vector<cn_tensor>* in_grads, std::vector<cn_tensor>& out,
                        std::vector<cn_tensor>* out_grads, std::vector<cn_tensor>& aux) {
  std::vector<cn_shape> si(in.size()), so, sa(aux.size());
  for (size_t i = 0; i < in.size(); ++i) {
    si[i] = ShapeOf(in[i]);
    if (si[i].ndim < 0 && in_grads) si[i] = ShapeOf((*in_grads)[i]);
  }
  for (size_t i = 0; i < aux.size(); ++i) sa[i] = ShapeOf(aux[i]);
  op.InferShape(si, so, sa);
  auto check = [&op](const cn_shape& expected, cn_tensor& t, const std::string& what) {
    if (expected.ndim < 0) return;
    if (t.ndim < 0) {  // no data and no shape given: take the inferred one
      t.ndim = expected.ndim;
      std::copy(expected.dims, expected.dims + expected.ndim, t.dims);
    } else if (!SameShape(expected, t)) {
      op.Fail(what + " expected shape " + cn::Shape(expected).str() + ", found " + ShapeStr(t));
    }
  };
  for (size_t i = 0; i < in.size(); ++i) {
    check(si[i], in[i], "input '" + op.input_names()[i] + "'");
    if (in_grads) check(si[i], (*in_grads)[i], "gradient of input '" + op.input_names()[i] + "'");
  }
  for (size_t i = 0; i < out.size(); ++i) {
    check(so[i], out[i], "output '" + op.output_names()[i] + "'");
    if (out_grads)
      check(so[i], (*out_grads)[i], "gradient of output '" + op.output_names()[i] + "'");
  }
  // Views without data take the call's dtype (kernels dispatch on whichever tensor they like).
  std::vector<std::vector<cn_tensor>*> lists = {&in, &out, &aux};
  if (in_grads) lists.push_back(in_grads);
  if (out_grads) lists.push_back(out_grads);
  int32_t dtype = -1;
  for (auto* l : lists)
    for (auto& t : *l)
      if (dtype < 0 && t.data) dtype = t.dtype;
  for (auto* l : lists)
    for (auto& t : *l)
      if (!t.data) t.dtype = dtype;
}

inline void CheckReq(const OpInstance& op, const std::vector<int32_t>& req, size_t expected,
              const char* what) {
  if (req.size() != expected)
    op.Fail("expected " + std::to_string(expected) + " requests for " + what + ", found " +
            std::to_string(req.size()));
  for (int32_t r : req)
    if (r < CN_REQ_NULL || r > CN_REQ_ADD) op.Fail("request codes are 0 (null), 1 (write), 2 (inplace), 3 (add)");
}

// The machine's physical memory: no single call may ask for more. Shapes come from params (a
// loaded file's num_filter, tile's reps), and an allocation beyond it is a user error to name, not
// a MemoryError from numpy or an overcommitted buffer the OOM killer ends later.
inline uint64_t PhysicalMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : ~uint64_t(0);
}

inline void CheckFitsInMemory(const OpInstance& op, uint64_t bytes, const std::string& what) {
  uint64_t limit = PhysicalMemoryBytes();
  if (bytes > limit)
    op.Fail(what + " needs " + std::to_string(bytes >> 20) + " MiB, more than this machine's " +
            std::to_string(limit >> 20) + " MiB of memory");
}

// Scratch for imperative calls: grows, never shrinks; one per thread.
inline void* Scratch(uint64_t bytes) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

// The dtype of one op call, in one place: its first input's, else its first output's (-1:
// unknown). Ops that state scratch in elements are sized in it; the memory planner asks for it
// through _core.call_dtype, so Python never restates the rule.
inline int32_t CallDtype(const std::vector<int32_t>& in, const std::vector<int32_t>& out) {
  if (!in.empty()) return in[0];
  if (!out.empty()) return out[0];
  return -1;
}

// The thread count a call plans for: `requested` when positive, else the current setting.
inline int32_t PlanThreads(int32_t requested) {
  return requested > 0 ? requested : cn::core::GetNumThreads();
}

// Scratch bytes of one call whose kernels plan for `threads` threads (see PlanThreads).
inline uint64_t WorkspaceFor(const OpInstance& op, int32_t threads,
                      const std::vector<cn_tensor>& in,
                      const std::vector<cn_tensor>& out, bool backward,
                      const std::vector<cn_tensor>* in_grads = nullptr,
                      const std::vector<cn_tensor>* out_grads = nullptr) {
  std::vector<cn_shape> si(in.size()), so(out.size());
  for (size_t i = 0; i < in.size(); ++i) {
    si[i] = ShapeOf(in[i]);
    if (si[i].ndim < 0 && in_grads) si[i] = ShapeOf((*in_grads)[i]);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    so[i] = ShapeOf(out[i]);
    if (so[i].ndim < 0 && out_grads) so[i] = ShapeOf((*out_grads)[i]);
  }
  std::vector<cn_shape> full_in = si, full_out, aux;
  op.InferShape(full_in, full_out, aux);
  // Gradients share their tensors' dtypes, so forward and backward calls size alike.
  std::vector<int32_t> in_codes, out_codes;
  for (auto& t : in) in_codes.push_back(t.dtype);
  for (auto& t : out) out_codes.push_back(t.dtype);
  return op.WorkspaceBytes(full_in, full_out, backward, CallDtype(in_codes, out_codes),
                          threads);
}

inline void* WorkspacePtr(const OpInstance& op, const py::object& workspace, uint64_t needed) {
  if (workspace.is_none()) return needed ? Scratch(needed) : nullptr;
  auto a = py::cast<py::array>(workspace);
  if (uint64_t(a.nbytes()) < needed)
    op.Fail("workspace of " + std::to_string(a.nbytes()) + " bytes is smaller than the " +
            std::to_string(needed) + " bytes needed");
  return a.mutable_data();
}

// `threads` must be the count the call's workspace was sized with (WorkspaceFor).
inline cn_op_ctx MakeCtx(bool is_train, bool is_recompute, uint64_t seed, int32_t threads) {
  return cn_op_ctx{sizeof(cn_op_ctx), is_train, is_recompute, seed, cn::core::HostServices(),
                   threads};
}

}  // namespace cn::bindings

#endif  // COARSENET_BINDINGS_CALL_ARGS_H_
