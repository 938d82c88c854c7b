// The imperative op call in C++: Op.invoke (arrays in, arrays out) and the fast path behind
// cn.nd.<op>(...) and NDArray arithmetic when autograd is not recording, which takes the
// NDArrays themselves: counts, types, unwrapping, shape and dtype inference, output
// allocation, the kernel call and wrapping the results happen in one crossing, with no Python
// loop per call. Shapes, dtypes and scratch size of a call are remembered per op instance,
// so a repeated call with inputs of the same shapes and dtypes skips inference (the op's
// inference is a function of its params and those alone).
#ifndef COARSENET_BINDINGS_IMPERATIVE_H_
#define COARSENET_BINDINGS_IMPERATIVE_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <structmember.h>  // T_OBJECT_EX

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings/call_args.h"

namespace cn::bindings {

inline py::dtype DTypeOf(const OpInstance& op, int code) {
  switch (code) {
    case CN_FLOAT32: return py::dtype::of<float>();
    case CN_FLOAT64: return py::dtype::of<double>();
    case CN_FLOAT16: return py::dtype("float16");
    case CN_UINT8: return py::dtype::of<uint8_t>();
    case CN_INT32: return py::dtype::of<int32_t>();
    case CN_INT8: return py::dtype::of<int8_t>();
    case CN_INT64: return py::dtype::of<int64_t>();
  }
  op.Fail("cannot allocate an output of dtype code " + std::to_string(code));
}

// What a call needs besides the data, from its inputs' shapes and dtypes.
struct CallPlan {
  std::vector<cn_shape> out_shapes;
  std::vector<int32_t> out_dtypes;
  uint64_t workspace = 0;
  int32_t threads = 0;
};

// Shape and type inference of one call, with the checks Op.invoke has always made (in this
// order, with these messages).
inline CallPlan PlanCall(const OpInstance& op, const std::vector<cn_tensor>& in,
                         const std::vector<cn_tensor>& aux, int32_t threads) {
  std::vector<cn_shape> si(in.size()), sa(aux.size());
  std::vector<int32_t> ti(in.size()), ta;
  for (size_t i = 0; i < si.size(); ++i) {
    si[i] = ShapeOf(in[i]);
    ti[i] = in[i].dtype;
  }
  for (size_t i = 0; i < sa.size(); ++i) sa[i] = ShapeOf(aux[i]);
  CallPlan plan;
  op.InferShape(si, plan.out_shapes, sa);
  for (size_t i = 0; i < si.size(); ++i)
    if (!SameShape(si[i], in[i]))
      op.Fail("input '" + op.input_names()[i] + "' expected shape " + cn::Shape(si[i]).str() +
              ", found " + ShapeStr(in[i]));
  op.InferType(ti, plan.out_dtypes, ta);
  uint64_t out_bytes = 0;
  for (size_t i = 0; i < plan.out_shapes.size(); ++i) {
    if (plan.out_shapes[i].ndim < 0)
      op.Fail("could not infer the shape of output '" + op.output_names()[i] + "'");
    if (plan.out_dtypes[i] < 0) plan.out_dtypes[i] = CN_FLOAT32;
    DTypeOf(op, plan.out_dtypes[i]);  // fails for a code no numpy dtype matches
    uint64_t bytes = cn::DTypeSize(plan.out_dtypes[i]);
    for (int d = 0; d < plan.out_shapes[i].ndim; ++d)  // saturating: overflow is "too large"
      if (__builtin_mul_overflow(bytes, uint64_t(plan.out_shapes[i].dims[d]), &bytes))
        bytes = ~uint64_t(0);
    if (__builtin_add_overflow(out_bytes, bytes, &out_bytes)) out_bytes = ~uint64_t(0);
  }
  // Params can ask for outputs of terabytes (tile's reps, broadcast_to's shape): named here,
  // not a MemoryError from numpy. Plans are cached, so this costs nothing per call.
  if (!plan.out_shapes.empty())
    CheckFitsInMemory(op, out_bytes,
                      "the outputs (first of shape " + cn::Shape(plan.out_shapes[0]).str() + ")");
  plan.threads = threads;
  plan.workspace = op.WorkspaceBytes(si, plan.out_shapes, false, CallDtype(ti, plan.out_dtypes),
                                     threads);
  CheckFitsInMemory(op, plan.workspace, "the scratch workspace");
  return plan;
}

// Byte range [begin, end) of a packed view (empty for a shape-only view).
inline std::pair<const char*, const char*> Bytes(const cn_tensor& t) {
  if (!t.data || t.ndim < 0) return {nullptr, nullptr};
  uint64_t n = cn::DTypeSize(t.dtype);
  for (int d = 0; d < t.ndim; ++d) n *= uint64_t(t.dims[d]);
  const char* b = static_cast<const char*>(t.data);
  return {b, b + n};
}

// Whether output `j` may be written straight into `target` (a caller's out= array) instead of
// a fresh array copied into it afterwards: same dtype and shape, C-contiguous, writable, and
// sharing no byte with the inputs, the auxiliary states or the other targets, except that one
// input the op lets output j share (its inplace pairs) may be exactly the same buffer, as the
// memory planner allows (plan_memory.py). Any other overlap (an input the kernel still reads
// while writing, a shifted view, the same array in two input slots) takes the copy.
inline bool WritableTarget(const OpInstance& op, const CallPlan& plan, size_t j,
                           const py::handle& target, const std::vector<cn_tensor>& in,
                           const std::vector<cn_tensor>& aux,
                           const std::vector<cn_tensor>& taken) {
  if (target.is_none() || !py::isinstance<py::array>(target)) return false;
  auto a = py::reinterpret_borrow<py::array>(target);
  constexpr int kFlags = py::array::c_style | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if ((a.flags() & kFlags) != kFlags || !a.writeable()) return false;
  if (DTypeCode(a.dtype()) != plan.out_dtypes[j] || a.ndim() != plan.out_shapes[j].ndim)
    return false;
  for (int d = 0; d < a.ndim(); ++d)
    if (a.shape(d) != plan.out_shapes[j].dims[d]) return false;
  const char* b = static_cast<const char*>(a.data());
  const char* e = b + a.nbytes();
  auto overlaps = [&](const cn_tensor& t) {
    auto [tb, te] = Bytes(t);
    return tb < e && b < te;
  };
  int shared = 0;  // as the memory planner: one input slot only, same bytes and dtype
  for (size_t i = 0; i < in.size(); ++i) {
    if (!overlaps(in[i])) continue;
    const bool pair = std::find(op.inplace().begin(), op.inplace().end(),
                                std::pair<int, int>(int(i), int(j))) != op.inplace().end();
    if (!pair || ++shared > 1 || in[i].dtype != plan.out_dtypes[j] ||
        Bytes(in[i]) != std::make_pair(b, e))
      return false;
  }
  for (const cn_tensor& t : aux)
    if (overlaps(t)) return false;
  for (const cn_tensor& t : taken)
    if (overlaps(t)) return false;
  return true;
}

// Allocates the outputs (or, for `targets[j]` that WritableTarget accepts, writes output j
// straight into it), runs forward; returns every output array (visible ones first).
inline std::vector<py::object> RunPlanned(const OpInstance& op, const CallPlan& plan,
                                          const std::vector<cn_tensor>& in,
                                          const std::vector<cn_tensor>& aux, bool is_train,
                                          uint64_t seed, const py::list* targets = nullptr) {
  // Indexed by dtype code; never freed (no Python object may die after the interpreter).
  static const auto& kDescrs = *[] {
    auto* d = new std::array<py::object, 7>();
    const char* names[7] = {"float32", "float64", "float16", "uint8", "int32", "int8", "int64"};
    for (int i = 0; i < 7; ++i) (*d)[i] = py::dtype(names[i]);
    return d;
  }();
  auto& api = py::detail::npy_api::get();
  const size_t n_out = plan.out_shapes.size();
  std::vector<py::object> arrays(n_out);
  std::vector<cn_tensor> out(n_out);
  int64_t elements = 0;
  std::vector<cn_tensor> taken;  // targets written straight into
  for (size_t i = 0; i < n_out; ++i) {
    const cn_shape& s = plan.out_shapes[i];
    if (targets && i < targets->size() &&
        WritableTarget(op, plan, i, (*targets)[i], in, aux, taken)) {
      arrays[i] = py::reinterpret_borrow<py::object>((*targets)[i]);
      out[i] = cn_tensor{py::detail::array_proxy(arrays[i].ptr())->data, plan.out_dtypes[i],
                         s.ndim, {}};
      std::copy(s.dims, s.dims + s.ndim, out[i].dims);
      taken.push_back(out[i]);
      elements += py::reinterpret_borrow<py::array>(arrays[i]).size();
      continue;
    }
    py::object descr = kDescrs[plan.out_dtypes[i]];  // PyArray_NewFromDescr steals a reference
    Py_intptr_t dims[CN_MAX_NDIM];
    int64_t n = 1;
    for (int d = 0; d < s.ndim; ++d) n *= (dims[d] = s.dims[d]);
    arrays[i] = py::reinterpret_steal<py::object>(api.PyArray_NewFromDescr_(
        api.PyArray_Type_, descr.release().ptr(), s.ndim, dims, nullptr, nullptr, 0, nullptr));
    if (!arrays[i]) throw py::error_already_set();
    out[i] = cn_tensor{py::detail::array_proxy(arrays[i].ptr())->data, plan.out_dtypes[i],
                       s.ndim, {}};
    std::copy(s.dims, s.dims + s.ndim, out[i].dims);
    elements += n;
  }
  static const std::vector<int32_t> kWrite(64, CN_REQ_WRITE);
  std::vector<int32_t> req_own;
  const int32_t* req = kWrite.data();
  if (n_out > kWrite.size()) req = (req_own = std::vector<int32_t>(n_out, CN_REQ_WRITE)).data();
  void* ws = plan.workspace ? Scratch(plan.workspace) : nullptr;
  cn_op_ctx ctx = MakeCtx(is_train, false, seed, plan.threads);
  // Handing the GIL over costs about as much as a tiny kernel: only for calls with real work.
  constexpr int64_t kReleaseElements = 1 << 14;
  if (elements >= kReleaseElements || plan.workspace) {
    py::gil_scoped_release release;
    op.Forward(ctx, in.data(), out.data(), req, aux.data(), ws);
  } else {
    op.Forward(ctx, in.data(), out.data(), req, aux.data(), ws);
  }
  return arrays;
}

// Op.invoke: infer output shapes and dtypes from the inputs, allocate the outputs, run
// forward. Returns every output (visible ones first). `targets` (out= arrays, or None) are
// written straight into where WritableTarget allows; the caller copies the others.
inline py::list Invoke(const OpInstance& op, const py::list& inputs, const py::list& aux,
                       bool is_train, uint64_t seed, const py::object& targets) {
  auto in = Pack(op, inputs, op.input_names().size(), "inputs", op.input_names(), false, false);
  auto ax = Pack(op, aux, op.aux_names().size(), "auxiliary states", op.aux_names(), true, false);
  CallPlan plan = PlanCall(op, in.views, ax.views, PlanThreads(0));
  py::list target_list;
  if (!targets.is_none()) target_list = py::list(targets);
  py::list outputs;
  for (auto& a : RunPlanned(op, plan, in.views, ax.views, is_train, seed,
                            targets.is_none() ? nullptr : &target_list))
    outputs.append(a);
  return outputs;
}

// ---------------------------------------------------------------- the NDArray fast path

struct NDArrayType {
  py::object type;       // coarsenet.ndarray.NDArray
  py::object data_attr;  // "_data"
  // Making an NDArray without running __init__ (a Python frame costs about as much as the
  // rest of a tiny call): when the class keeps its state in __slots__ (no __dict__), a new
  // instance gets every slot's value from `proto`, an NDArray made by __init__ at
  // registration, except `_data`, which is the result. So __init__ must give the other slots
  // values that instances may share (None, strings, numbers), as it does. slot_offsets is
  // empty when the class does not qualify; then the class is called.
  py::object proto;
  Py_ssize_t data_offset = -1;
  std::vector<Py_ssize_t> slot_offsets;  // the other slots
};
inline NDArrayType& RegisteredNDArray() {
  static NDArrayType* t = new NDArrayType();  // never freed: outlives interpreter teardown
  return *t;
}

// NDArray(array), as NDArrayType describes.
inline py::object WrapNDArray(const NDArrayType& nd, const py::object& array) {
  if (nd.data_offset < 0) {
    py::object r = py::reinterpret_steal<py::object>(PyObject_CallOneArg(nd.type.ptr(),
                                                                         array.ptr()));
    if (!r) throw py::error_already_set();
    return r;
  }
  auto* type = reinterpret_cast<PyTypeObject*>(nd.type.ptr());
  py::object r = py::reinterpret_steal<py::object>(type->tp_alloc(type, 0));
  if (!r) throw py::error_already_set();
  auto slot = [](PyObject* o, Py_ssize_t offset) {
    return reinterpret_cast<PyObject**>(reinterpret_cast<char*>(o) + offset);
  };
  *slot(r.ptr(), nd.data_offset) = array.inc_ref().ptr();
  for (Py_ssize_t offset : nd.slot_offsets) {
    PyObject* value = *slot(nd.proto.ptr(), offset);
    Py_XINCREF(value);
    *slot(r.ptr(), offset) = value;
  }
  return r;
}

// Registers the NDArray class (see NDArrayType).
inline void SetNDArrayType(py::object type) {
  NDArrayType& nd = RegisteredNDArray();
  nd.type = type;
  nd.data_attr = py::str("_data");
  nd.data_offset = -1;
  nd.slot_offsets.clear();
  auto* t = reinterpret_cast<PyTypeObject*>(type.ptr());
  if (!PyType_Check(type.ptr()) || t->tp_dictoffset != 0 || !py::hasattr(type, "__slots__"))
    return;
  std::vector<Py_ssize_t> others;
  Py_ssize_t data_offset = -1;
  for (auto name : py::iter(type.attr("__slots__"))) {
    std::string n = py::str(name);
    if (n == "__weakref__") continue;
    py::object descr = type.attr("__dict__")[name];
    if (Py_TYPE(descr.ptr()) != &PyMemberDescr_Type) return;
    PyMemberDef* def = reinterpret_cast<PyMemberDescrObject*>(descr.ptr())->d_member;
    if (def->type != T_OBJECT_EX) return;
    (n == "_data" ? data_offset : others.emplace_back()) = def->offset;
  }
  if (data_offset < 0) return;
  nd.proto = type(py::module_::import("numpy").attr("empty")(0));
  nd.slot_offsets = std::move(others);
  nd.data_offset = data_offset;
}

// A numpy array as the view Pack makes of it, when it is one Pack accepts without a message
// (C-contiguous, writable where needed, a supported dtype); false otherwise.
inline bool QuickView(PyObject* a, bool writable, cn_tensor* t) {
  auto& api = py::detail::npy_api::get();
  if (!api.PyArray_Check_(a)) return false;
  auto* p = py::detail::array_proxy(a);
  constexpr int kCContiguous = 0x1, kWriteable = 0x400;
  if (!(p->flags & kCContiguous) || (writable && !(p->flags & kWriteable))) return false;
  if (p->nd > CN_MAX_NDIM) return false;
  int code;
  switch (py::detail::array_descriptor_proxy(p->descr)->type_num) {
    case 11: code = CN_FLOAT32; break;  // NPY_FLOAT
    case 12: code = CN_FLOAT64; break;  // NPY_DOUBLE
    default: code = DTypeCode(py::reinterpret_borrow<py::dtype>(p->descr));
  }
  if (code < 0) return false;
  t->data = p->data;
  t->dtype = code;
  t->ndim = p->nd;
  for (int d = 0; d < p->nd; ++d) t->dims[d] = p->dimensions[d];
  return true;
}

// The last plan of each op instance, with the shapes and dtypes it was made for. Only used
// with the GIL held.
struct PlanCacheEntry {
  std::weak_ptr<OpInstance> op;  // alive and at this address: the same instance
  const OpInstance* raw = nullptr;
  std::vector<cn_tensor> key;  // inputs then aux: dtype, ndim, dims (no data)
  CallPlan plan;
};
inline bool SameMeta(const std::vector<cn_tensor>& key, const std::vector<cn_tensor>& in,
                     const std::vector<cn_tensor>& aux) {
  if (key.size() != in.size() + aux.size()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    const cn_tensor& a = key[i];
    const cn_tensor& b = i < in.size() ? in[i] : aux[i - in.size()];
    if (a.dtype != b.dtype || a.ndim != b.ndim) return false;
    for (int d = 0; d < a.ndim; ++d)
      if (a.dims[d] != b.dims[d]) return false;
  }
  return true;
}

// cn.nd's call when autograd does not record and no out= is given: `inputs` (a list or
// tuple of NDArrays: the op's inputs, then its aux states) -> its visible output NDArray, or
// a list of them. Errors are those of coarsenet.ndarray._call and Op.invoke, word for word.
inline py::object ImperativeCall(const std::shared_ptr<OpInstance>& op_ptr,
                                 const py::handle& inputs, bool is_train, uint64_t seed) {
  const OpInstance& op = *op_ptr;
  const NDArrayType& nd = RegisteredNDArray();
  const size_t n_in = op.input_names().size(), n_aux = op.aux_names().size();
  if (!PyList_Check(inputs.ptr()) && !PyTuple_Check(inputs.ptr()))
    throw py::type_error("inputs must be a list or tuple of NDArrays");
  const size_t n = size_t(PySequence_Fast_GET_SIZE(inputs.ptr()));
  PyObject** items = PySequence_Fast_ITEMS(inputs.ptr());
  if (n != n_in + n_aux) {
    std::string names;
    for (size_t i = 0; i < n_in + n_aux; ++i)
      names += (i ? ", " : "") + (i < n_in ? op.input_names()[i] : op.aux_names()[i - n_in]);
    throw cn::core::OpError(op.op().name + ": expected " + std::to_string(n_in + n_aux) +
                            " inputs (" + names + "), found " + std::to_string(n));
  }
  // As _call: whatever has `_data` is unwrapped; when something has not, the first input
  // that is not an NDArray is named.
  std::vector<py::object> data(n);
  for (size_t i = 0; i < n; ++i) {
    data[i] = py::reinterpret_steal<py::object>(PyObject_GetAttr(items[i], nd.data_attr.ptr()));
    if (data[i]) continue;
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) throw py::error_already_set();
    PyErr_Clear();
    for (size_t j = 0; j < n; ++j) {
      if (PyObject_IsInstance(items[j], nd.type.ptr()) == 1) continue;
      PyErr_Clear();
      const std::string& name = j < n_in ? op.input_names()[j] : op.aux_names()[j - n_in];
      std::string type_name = py::str(py::type::handle_of(items[j]).attr("__name__"));
      throw cn::core::OpError(op.op().name + ": input '" + name + "' must be an NDArray, found " +
                              type_name);
    }
    throw py::attribute_error("'" + std::string(Py_TYPE(items[i])->tp_name) +
                              "' object has no attribute '_data'");
  }
  std::vector<cn_tensor> in(n_in), aux(n_aux);
  bool quick = true;
  for (size_t i = 0; i < n && quick; ++i)
    quick = QuickView(data[i].ptr(), i >= n_in, i < n_in ? &in[i] : &aux[i - n_in]);
  std::vector<py::object> arrays;
  if (!quick) {  // something Pack has a message for: the general path says it
    py::list li, la;
    for (size_t i = 0; i < n; ++i) (i < n_in ? li : la).append(data[i]);
    py::list all = Invoke(op, li, la, is_train, seed, py::none());
    for (auto h : all) arrays.push_back(py::reinterpret_borrow<py::object>(h));
  } else {
    static std::array<PlanCacheEntry, 64> cache;  // direct-mapped by op instance
    PlanCacheEntry& slot = cache[(reinterpret_cast<uintptr_t>(&op) >> 4) % cache.size()];
    const int32_t threads = PlanThreads(0);
    if (slot.raw != &op || slot.op.expired() || slot.plan.threads != threads ||
        !SameMeta(slot.key, in, aux)) {
      slot.plan = PlanCall(op, in, aux, threads);
      slot.op = op_ptr;
      slot.raw = &op;
      slot.key.assign(in.begin(), in.end());
      slot.key.insert(slot.key.end(), aux.begin(), aux.end());
    }
    arrays = RunPlanned(op, slot.plan, in, aux, is_train, seed);
  }
  const size_t visible = size_t(op.num_visible_outputs());
  auto wrap = [&](size_t i) { return WrapNDArray(nd, arrays[i]); };
  if (visible == 1) return wrap(0);
  py::list result(visible);
  for (size_t i = 0; i < visible; ++i) result[i] = wrap(i);
  return result;
}

inline void RegisterImperative(py::module_& m) {
  m.def("_set_ndarray_type", &SetNDArrayType,
        "Used by coarsenet.ndarray: the class imperative_call takes and returns.");
  m.def("imperative_call", &ImperativeCall, py::arg("op"), py::arg("inputs"),
        py::arg("is_train"), py::arg("seed"),
        "An op call autograd does not record: NDArray inputs (then aux states) -> the visible "
        "output NDArray, or a list of them.");
}

}  // namespace cn::bindings

#endif  // COARSENET_BINDINGS_IMPERATIVE_H_
