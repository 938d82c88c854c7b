// coarsenet._core: the pybind11 face of the registry. No math here, only conversion and checks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings/custom_op.h"
#include "coarsenet/op.h"
#include "core/host_services.h"
#include "core/registry.h"

namespace py = pybind11;
using cn::core::OpError;
using cn::core::OpInstance;
using cn::core::Registry;

namespace {

using ShapeList = std::vector<std::optional<std::vector<int64_t>>>;

cn_shape ToShape(const OpInstance& op, const std::optional<std::vector<int64_t>>& s) {
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

py::object FromShape(const cn_shape& s) {
  if (s.ndim < 0) return py::none();
  py::tuple t(s.ndim);
  for (int i = 0; i < s.ndim; ++i) t[i] = s.dims[i];
  return t;
}

py::list FromShapes(const std::vector<cn_shape>& v) {
  py::list l;
  for (auto& s : v) l.append(FromShape(s));
  return l;
}

int DTypeCode(const py::dtype& dt) {
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
TensorPack Pack(const OpInstance& op, const py::list& arrays, size_t expected, const char* what,
                const std::vector<std::string>& names, bool writable, bool allow_none) {
  if (arrays.size() != expected)
    op.Fail("expected " + std::to_string(expected) + " " + what + ", found " +
            std::to_string(arrays.size()));
  TensorPack pack;
  pack.views.resize(expected);
  for (size_t i = 0; i < expected; ++i) {
    cn_tensor& t = pack.views[i];
    t = cn_tensor{};
    py::handle h = arrays[i];
    std::string label = std::string(what) + " " + std::to_string(i) +
                        (i < names.size() ? " ('" + names[i] + "')" : std::string());
    if (h.is_none()) {
      if (!allow_none) op.Fail(label + " is missing");
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

std::string ShapeStr(const cn_tensor& t) {
  cn_shape s{};
  s.ndim = t.ndim;
  for (int i = 0; i < t.ndim; ++i) s.dims[i] = t.dims[i];
  return cn::Shape(s).str();
}

bool SameShape(const cn_shape& s, const cn_tensor& t) {
  if (s.ndim != t.ndim) return false;
  for (int i = 0; i < s.ndim; ++i)
    if (s.dims[i] != t.dims[i]) return false;
  return true;
}

cn_shape ShapeOf(const cn_tensor& t) {
  cn_shape s{};
  s.ndim = t.data ? t.ndim : -1;
  for (int i = 0; i < t.ndim; ++i) s.dims[i] = t.dims[i];
  return s;
}

// Checks that the given tensors agree with what shape inference says about them. Input shapes
// come from `in` or, where an input was not passed, from its gradient.
void CheckShapes(const OpInstance& op, const std::vector<cn_tensor>& in,
                 const std::vector<cn_tensor>* in_grads, const std::vector<cn_tensor>& out,
                 const std::vector<cn_tensor>* out_grads, const std::vector<cn_tensor>& aux) {
  std::vector<cn_shape> si(in.size()), so, sa(aux.size());
  for (size_t i = 0; i < in.size(); ++i) {
    si[i] = ShapeOf(in[i]);
    if (si[i].ndim < 0 && in_grads) si[i] = ShapeOf((*in_grads)[i]);
  }
  for (size_t i = 0; i < aux.size(); ++i) sa[i] = ShapeOf(aux[i]);
  std::vector<cn_shape> given_in = si;
  op.InferShape(si, so, sa);
  for (size_t i = 0; i < in.size(); ++i)
    if (in_grads && (*in_grads)[i].data && si[i].ndim >= 0 && !SameShape(si[i], (*in_grads)[i]))
      op.Fail("gradient of input '" + op.input_names()[i] + "' expected shape " +
              cn::Shape(si[i]).str() + ", found " + ShapeStr((*in_grads)[i]));
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].data && so[i].ndim >= 0 && !SameShape(so[i], out[i]))
      op.Fail("output '" + op.output_names()[i] + "' expected shape " + cn::Shape(so[i]).str() +
              ", found " + ShapeStr(out[i]));
    if (out_grads && (*out_grads)[i].data && so[i].ndim >= 0 && !SameShape(so[i], (*out_grads)[i]))
      op.Fail("gradient of output '" + op.output_names()[i] + "' expected shape " +
              cn::Shape(so[i]).str() + ", found " + ShapeStr((*out_grads)[i]));
  }
}

void CheckReq(const OpInstance& op, const std::vector<int32_t>& req, size_t expected,
              const char* what) {
  if (req.size() != expected)
    op.Fail("expected " + std::to_string(expected) + " requests for " + what + ", found " +
            std::to_string(req.size()));
  for (int32_t r : req)
    if (r < CN_REQ_NULL || r > CN_REQ_ADD) op.Fail("request codes are 0 (null), 1 (write), 2 (inplace), 3 (add)");
}

// Scratch for imperative calls: grows, never shrinks; one per thread.
void* Scratch(uint64_t bytes) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

uint64_t WorkspaceFor(const OpInstance& op, const std::vector<cn_tensor>& in,
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
  return op.WorkspaceBytes(full_in, full_out, backward);
}

void* WorkspacePtr(const OpInstance& op, const py::object& workspace, uint64_t needed) {
  if (workspace.is_none()) return needed ? Scratch(needed) : nullptr;
  auto a = py::cast<py::array>(workspace);
  if (uint64_t(a.nbytes()) < needed)
    op.Fail("workspace of " + std::to_string(a.nbytes()) + " bytes is smaller than the " +
            std::to_string(needed) + " bytes needed");
  return a.mutable_data();
}

cn_op_ctx MakeCtx(bool is_train, bool is_recompute, uint64_t seed) {
  return cn_op_ctx{sizeof(cn_op_ctx), is_train, is_recompute, seed, cn::core::HostServices()};
}

std::shared_ptr<OpInstance> MakeOp(const std::string& name, const py::dict& attrs) {
  std::vector<std::pair<std::string, std::string>> kv;
  for (auto item : attrs) kv.emplace_back(py::str(item.first), py::str(item.second));
  return std::make_shared<OpInstance>(Registry::Get().Find(name), kv);
}

void Forward(const OpInstance& op, const py::list& inputs, const py::list& outputs,
             const std::vector<int32_t>& req, const py::list& aux, const py::object& workspace,
             bool is_train, bool is_recompute, uint64_t seed) {
  auto in = Pack(op, inputs, op.input_names().size(), "inputs", op.input_names(), false, false);
  auto out = Pack(op, outputs, op.output_names().size(), "outputs", op.output_names(), true, false);
  auto ax = Pack(op, aux, op.aux_names().size(), "auxiliary states", op.aux_names(), true, false);
  CheckReq(op, req, op.output_names().size(), "outputs");
  CheckShapes(op, in.views, nullptr, out.views, nullptr, ax.views);
  void* ws = WorkspacePtr(op, workspace, WorkspaceFor(op, in.views, out.views, false));
  cn_op_ctx ctx = MakeCtx(is_train, is_recompute, seed);
  py::gil_scoped_release release;
  op.Forward(ctx, in.views.data(), out.views.data(), req.data(), ax.views.data(), ws);
}

void Backward(const OpInstance& op, const py::list& out_grads, const py::list& inputs,
              const py::list& outputs, const py::list& in_grads, const std::vector<int32_t>& req,
              const py::list& aux, const py::object& workspace, bool is_train, uint64_t seed) {
  size_t n_in = op.input_names().size(), n_out = op.output_names().size();
  auto og = Pack(op, out_grads, n_out, "output gradients", op.output_names(), false, true);
  auto in = Pack(op, inputs, n_in, "inputs", op.input_names(), false, true);
  auto out = Pack(op, outputs, n_out, "outputs", op.output_names(), false, true);
  auto ig = Pack(op, in_grads, n_in, "input gradients", op.input_names(), true, true);
  auto ax = Pack(op, aux, op.aux_names().size(), "auxiliary states", op.aux_names(), true, true);
  CheckReq(op, req, n_in, "input gradients");
  for (size_t i = 0; i < n_in; ++i) {
    if (req[i] != CN_REQ_NULL && !ig.views[i].data)
      op.Fail("gradient of input '" + op.input_names()[i] + "' is requested but no buffer given");
    if (op.needs_inputs()[i] && !in.views[i].data)
      op.Fail("backward needs input '" + op.input_names()[i] + "'");
  }
  for (size_t i = 0; i < n_out; ++i) {
    if (op.needs_outputs()[i] && !out.views[i].data)
      op.Fail("backward needs output '" + op.output_names()[i] + "'");
    if (op.needs_out_grads()[i] && !og.views[i].data)
      op.Fail("backward needs the gradient of output '" + op.output_names()[i] + "'");
  }
  CheckShapes(op, in.views, &ig.views, out.views, &og.views, ax.views);
  void* ws = WorkspacePtr(op, workspace,
                          WorkspaceFor(op, in.views, out.views, true, &ig.views, &og.views));
  cn_op_ctx ctx = MakeCtx(is_train, false, seed);
  py::gil_scoped_release release;
  op.Backward(ctx, og.views.data(), in.views.data(), out.views.data(), ig.views.data(), req.data(),
              ax.views.data(), ws);
}

py::dtype DTypeOf(const OpInstance& op, int code) {
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

// The imperative path in one crossing: infer output shapes and dtypes from the inputs, allocate
// the outputs, run forward. Returns every output (visible ones first).
py::list Invoke(const OpInstance& op, const py::list& inputs, const py::list& aux, bool is_train,
                uint64_t seed) {
  auto in = Pack(op, inputs, op.input_names().size(), "inputs", op.input_names(), false, false);
  auto ax = Pack(op, aux, op.aux_names().size(), "auxiliary states", op.aux_names(), true, false);
  std::vector<cn_shape> si(in.views.size()), so, sa(ax.views.size());
  std::vector<int32_t> ti(in.views.size()), to, ta;
  for (size_t i = 0; i < si.size(); ++i) {
    si[i] = ShapeOf(in.views[i]);
    ti[i] = in.views[i].dtype;
  }
  for (size_t i = 0; i < sa.size(); ++i) sa[i] = ShapeOf(ax.views[i]);
  std::vector<cn_shape> given = si;
  op.InferShape(si, so, sa);
  for (size_t i = 0; i < si.size(); ++i)
    if (!SameShape(si[i], in.views[i]))
      op.Fail("input '" + op.input_names()[i] + "' expected shape " + cn::Shape(si[i]).str() +
              ", found " + ShapeStr(in.views[i]));
  op.InferType(ti, to, ta);
  py::list outputs;
  std::vector<cn_tensor> out(so.size());
  for (size_t i = 0; i < so.size(); ++i) {
    if (so[i].ndim < 0) op.Fail("could not infer the shape of output '" + op.output_names()[i] + "'");
    std::vector<py::ssize_t> dims(so[i].dims, so[i].dims + so[i].ndim);
    py::array a(DTypeOf(op, to[i] < 0 ? CN_FLOAT32 : to[i]), dims);
    out[i] = cn_tensor{a.mutable_data(), to[i] < 0 ? CN_FLOAT32 : to[i], so[i].ndim, {}};
    std::copy(so[i].dims, so[i].dims + so[i].ndim, out[i].dims);
    outputs.append(a);
  }
  std::vector<int32_t> req(so.size(), CN_REQ_WRITE);
  uint64_t need = op.WorkspaceBytes(si, so, false);
  void* ws = need ? Scratch(need) : nullptr;
  cn_op_ctx ctx = MakeCtx(is_train, false, seed);
  {
    py::gil_scoped_release release;
    op.Forward(ctx, in.views.data(), out.data(), req.data(), ax.views.data(), ws);
  }
  return outputs;
}

// A list of op calls whose arrays were fixed and checked once, run in order with one Python call.
// Executors build one per plan; this keeps per-op dispatch to a C++ loop.
class Program {
 public:
  struct Call {
    std::shared_ptr<OpInstance> op;
    bool backward, is_recompute;
    uint64_t seed_key;
    TensorPack og, in, out, ig, aux;
    std::vector<int32_t> req;
    void* workspace;
    py::object workspace_ref;
  };

  int AddForward(std::shared_ptr<OpInstance> op, const py::list& inputs, const py::list& outputs,
                 const std::vector<int32_t>& req, const py::list& aux, const py::object& workspace,
                 uint64_t seed_key, bool is_recompute) {
    Call c;
    c.in = Pack(*op, inputs, op->input_names().size(), "inputs", op->input_names(), false, false);
    c.out = Pack(*op, outputs, op->output_names().size(), "outputs", op->output_names(), true, false);
    c.aux = Pack(*op, aux, op->aux_names().size(), "auxiliary states", op->aux_names(), true, false);
    CheckReq(*op, req, op->output_names().size(), "outputs");
    CheckShapes(*op, c.in.views, nullptr, c.out.views, nullptr, c.aux.views);
    uint64_t need = WorkspaceFor(*op, c.in.views, c.out.views, false);
    c.workspace = need ? WorkspacePtr(*op, workspace, need) : nullptr;
    if (need && workspace.is_none()) op->Fail("program calls need an explicit workspace");
    c.workspace_ref = workspace;
    c.op = std::move(op);
    c.backward = false;
    c.is_recompute = is_recompute;
    c.seed_key = seed_key;
    c.req = req;
    calls_.push_back(std::move(c));
    return int(calls_.size()) - 1;
  }

  int AddBackward(std::shared_ptr<OpInstance> op, const py::list& out_grads,
                  const py::list& inputs, const py::list& outputs, const py::list& in_grads,
                  const std::vector<int32_t>& req, const py::list& aux,
                  const py::object& workspace, uint64_t seed_key) {
    Call c;
    size_t n_in = op->input_names().size(), n_out = op->output_names().size();
    c.og = Pack(*op, out_grads, n_out, "output gradients", op->output_names(), false, true);
    c.in = Pack(*op, inputs, n_in, "inputs", op->input_names(), false, true);
    c.out = Pack(*op, outputs, n_out, "outputs", op->output_names(), false, true);
    c.ig = Pack(*op, in_grads, n_in, "input gradients", op->input_names(), true, true);
    c.aux = Pack(*op, aux, op->aux_names().size(), "auxiliary states", op->aux_names(), true, true);
    CheckReq(*op, req, n_in, "input gradients");
    CheckShapes(*op, c.in.views, &c.ig.views, c.out.views, &c.og.views, c.aux.views);
    uint64_t need = WorkspaceFor(*op, c.in.views, c.out.views, true, &c.ig.views, &c.og.views);
    c.workspace = need ? WorkspacePtr(*op, workspace, need) : nullptr;
    if (need && workspace.is_none()) op->Fail("program calls need an explicit workspace");
    c.workspace_ref = workspace;
    c.op = std::move(op);
    c.backward = true;
    c.is_recompute = false;
    c.seed_key = seed_key;
    c.req = req;
    calls_.push_back(std::move(c));
    return int(calls_.size()) - 1;
  }

  // Runs calls [begin, end). The seed of each call mixes the step seed with its key, so forward
  // and any recomputation of the same node draw the same random numbers.
  void Run(int begin, int end, bool is_train, uint64_t step_seed) {
    if (end < 0 || end > int(calls_.size())) end = int(calls_.size());
    py::gil_scoped_release release;
    for (int i = begin; i < end; ++i) {
      const Call& c = calls_[i];
      cn_op_ctx ctx = MakeCtx(is_train, c.is_recompute, cn::RandomBits(step_seed, c.seed_key));
      if (c.backward)
        c.op->Backward(ctx, c.og.views.data(), c.in.views.data(), c.out.views.data(),
                       c.ig.views.data(), c.req.data(), c.aux.views.data(), c.workspace);
      else
        c.op->Forward(ctx, c.in.views.data(), c.out.views.data(), c.req.data(),
                      c.aux.views.data(), c.workspace);
    }
  }

  int size() const { return int(calls_.size()); }

 private:
  std::vector<Call> calls_;
};

py::dict OpInfo(const std::string& name) {
  auto entry = Registry::Get().Find(name);
  py::dict d;
  d["name"] = entry->name;
  d["doc"] = entry->doc;
  d["library"] = entry->library;
  d["flags"] = entry->def.flags;
  py::list params;
  for (auto& p : entry->params) {
    py::dict pd;
    pd["name"] = p.name;
    pd["type"] = p.type_name;
    pd["default"] = p.default_value ? py::object(py::str(p.default_value)) : py::object(py::none());
    pd["required"] = p.default_value == nullptr;
    pd["doc"] = p.doc;
    params.append(pd);
  }
  d["params"] = params;
  return d;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "coarsenet's compiled core: op registry, op calls, threads.";
  static py::exception<OpError> error(m, "CoarsenetError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const OpError& e) {
      py::set_error(error, e.what());
    } catch (const cn::Error& e) {
      py::set_error(error, e.what());
    }
  });

  cn::core::RegisterBuiltinOps();
  cn::bindings::RegisterCustomOp();

  m.attr("ABI_VERSION_MAJOR") = CN_ABI_VERSION_MAJOR;
  m.attr("ABI_VERSION_MINOR") = CN_ABI_VERSION_MINOR;
  m.def("list_ops", [] { return Registry::Get().Names(); });
  m.def("op_info", &OpInfo);
  m.def("load_library", [](const std::string& path) { return Registry::Get().LoadLibrary(path); });
  m.def("_set_custom_op_factory", &cn::bindings::SetCustomOpFactory,
        "Used by coarsenet.operator: (op_type, kwargs) -> the Python side of a Custom op.");
  m.def("set_num_threads", &cn::core::SetNumThreads);
  m.def("get_num_threads", &cn::core::GetNumThreads);

  py::class_<OpInstance, std::shared_ptr<OpInstance>>(m, "Op")
      .def(py::init(&MakeOp), py::arg("name"), py::arg("attrs") = py::dict())
      .def_property_readonly("name", [](const OpInstance& o) { return o.op().name; })
      .def_property_readonly("library", [](const OpInstance& o) { return o.op().library; })
      .def_property_readonly("flags", [](const OpInstance& o) { return o.op().def.flags; })
      .def_property_readonly("attrs",
                             [](const OpInstance& o) {
                               py::dict d;
                               for (auto& [k, v] : o.attrs()) d[py::str(k)] = v;
                               return d;
                             })
      .def_property_readonly("input_names", &OpInstance::input_names)
      .def_property_readonly("output_names", &OpInstance::output_names)
      .def_property_readonly("aux_names", &OpInstance::aux_names)
      .def_property_readonly("num_visible_outputs", &OpInstance::num_visible_outputs)
      .def_property_readonly("needs_inputs", &OpInstance::needs_inputs)
      .def_property_readonly("needs_outputs", &OpInstance::needs_outputs)
      .def_property_readonly("needs_out_grads", &OpInstance::needs_out_grads)
      .def_property_readonly("inplace", &OpInstance::inplace)
      .def_property_readonly("backward_inplace", &OpInstance::backward_inplace)
      .def_property_readonly("has_backward", &OpInstance::has_backward)
      .def(
          "infer_shape",
          [](const OpInstance& op, const ShapeList& in, std::optional<ShapeList> aux) {
            std::vector<cn_shape> si, so, sa;
            for (auto& s : in) si.push_back(ToShape(op, s));
            if (aux) {
              if (aux->size() != op.aux_names().size())
                op.Fail("expected " + std::to_string(op.aux_names().size()) +
                        " auxiliary shapes, found " + std::to_string(aux->size()));
              for (auto& s : *aux) sa.push_back(ToShape(op, s));
            } else {
              cn_shape unknown{};
              unknown.ndim = -1;
              sa.assign(op.aux_names().size(), unknown);
            }
            op.InferShape(si, so, sa);
            return py::make_tuple(FromShapes(si), FromShapes(so), FromShapes(sa));
          },
          py::arg("in_shapes"), py::arg("aux_shapes") = py::none(),
          "Returns (input, output, aux) shapes; None marks what is still unknown.")
      .def(
          "infer_type",
          [](const OpInstance& op, std::vector<int32_t> in) {
            if (in.size() != op.input_names().size())
              op.Fail("expected " + std::to_string(op.input_names().size()) +
                      " input dtypes, found " + std::to_string(in.size()));
            std::vector<int32_t> out, aux;
            op.InferType(in, out, aux);
            return py::make_tuple(in, out, aux);
          },
          "dtype codes (-1 unknown) in; (input, output, aux) codes out.")
      .def(
          "workspace_bytes",
          [](const OpInstance& op, const ShapeList& in, const ShapeList& out, bool backward) {
            std::vector<cn_shape> si, so;
            for (auto& s : in) si.push_back(ToShape(op, s));
            for (auto& s : out) so.push_back(ToShape(op, s));
            return op.WorkspaceBytes(si, so, backward);
          },
          py::arg("in_shapes"), py::arg("out_shapes"), py::arg("backward") = false)
      .def("invoke", &Invoke, py::arg("inputs"), py::arg("aux"), py::arg("is_train") = false,
           py::arg("seed") = 0, "Allocates the outputs and runs forward; returns all outputs.")
      .def("forward", &Forward, py::arg("inputs"), py::arg("outputs"), py::arg("req"),
           py::arg("aux"), py::arg("workspace") = py::none(), py::arg("is_train") = false,
           py::arg("is_recompute") = false, py::arg("seed") = 0)
      .def("backward", &Backward, py::arg("out_grads"), py::arg("inputs"), py::arg("outputs"),
           py::arg("in_grads"), py::arg("req"), py::arg("aux"), py::arg("workspace") = py::none(),
           py::arg("is_train") = true, py::arg("seed") = 0);

  py::class_<Program>(m, "Program")
      .def(py::init<>())
      .def("add_forward", &Program::AddForward, py::arg("op"), py::arg("inputs"),
           py::arg("outputs"), py::arg("req"), py::arg("aux"), py::arg("workspace") = py::none(),
           py::arg("seed_key") = 0, py::arg("is_recompute") = false)
      .def("add_backward", &Program::AddBackward, py::arg("op"), py::arg("out_grads"),
           py::arg("inputs"), py::arg("outputs"), py::arg("in_grads"), py::arg("req"),
           py::arg("aux"), py::arg("workspace") = py::none(), py::arg("seed_key") = 0)
      .def("run", &Program::Run, py::arg("begin") = 0, py::arg("end") = -1,
           py::arg("is_train") = false, py::arg("step_seed") = 0)
      .def("__len__", &Program::size);
}
