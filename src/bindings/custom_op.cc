// The built-in op "Custom": runs an op written in Python (coarsenet.operator.register), MXNet's
// prototyping path. Its param `op_type` names the registered CustomOpProp; every other attribute
// is handed to the prop's constructor as a string, as MXNet does.
//
// The op table is written against the C ABI directly (not the op.h builder) because its inputs,
// outputs and backward needs come from Python per instance and its params are open-ended. Each
// callback takes the GIL: the bindings release it around forward/backward, and executors may run
// ops from a C++ loop. A Python exception becomes an op error naming the op_type.
#include "bindings/custom_op.h"

#include <pybind11/stl.h>

#include <cstdio>
#include <string>
#include <vector>

#include "coarsenet/op.h"
#include "core/registry.h"

namespace py = pybind11;

namespace cn::bindings {
namespace {

// coarsenet.operator._create(op_type, kwargs) -> the Python side of one instance. Leaked on
// purpose: it must outlive op instances destroyed during interpreter shutdown.
py::object* g_factory = nullptr;

struct CustomState {
  std::string op_type;
  py::object impl;  // coarsenet.operator._Instance
  std::vector<std::string> in, out, aux;
  std::vector<const char*> in_c, out_c, aux_c;
  std::vector<int32_t> needs_in, needs_out, needs_out_grad;
};

const CustomState& S(const void* state) { return *static_cast<const CustomState*>(state); }

void SetError(cn_error* err, const std::string& op_type, const std::string& what) {
  std::snprintf(err->message, CN_ERROR_MSG_BYTES, "op_type '%s': %s", op_type.c_str(),
                what.c_str());
}

// "ValueError: bad shape (at my_ops.py:12 in forward)": the innermost frame is where users look.
std::string DescribePythonError(py::error_already_set& e) {
  std::string type = py::str(e.type().attr("__name__"));
  if (type == "CoarsenetError") return py::str(e.value());  // already says what went wrong
  std::string text = type + ": " + std::string(py::str(e.value()));
  try {
    py::list frames = py::module_::import("traceback").attr("extract_tb")(e.trace());
    if (!frames.empty()) {
      py::handle f = frames[frames.size() - 1];
      text += " (at " + std::string(py::str(f.attr("filename"))) + ":" +
              std::string(py::str(f.attr("lineno"))) + " in " +
              std::string(py::str(f.attr("name"))) + ")";
    }
  } catch (py::error_already_set&) {
  }
  return text;
}

// Runs `body` holding the GIL; any exception becomes an error return.
template <typename Body>
int WithPython(const std::string& op_type, cn_error* err, Body&& body) {
  py::gil_scoped_acquire gil;
  try {
    body();
    return 0;
  } catch (py::error_already_set& e) {
    SetError(err, op_type, DescribePythonError(e));
  } catch (const std::exception& e) {
    SetError(err, op_type, e.what());
  }
  return 1;
}

std::vector<std::string> Strings(const py::handle& seq) {
  std::vector<std::string> v;
  for (auto item : seq) v.push_back(py::str(item));
  return v;
}

std::vector<const char*> CStrings(const std::vector<std::string>& names) {
  std::vector<const char*> v;
  for (auto& n : names) v.push_back(n.c_str());
  return v;
}

py::object ShapeTuple(const cn_shape& s) {
  py::tuple t(s.ndim);
  for (int i = 0; i < s.ndim; ++i) t[i] = s.dims[i];
  return t;
}

cn::Shape ToShape(const py::handle& seq) {
  std::vector<int64_t> dims;
  for (auto d : seq) dims.push_back(py::cast<int64_t>(d));
  return cn::Shape(dims);
}

// A numpy view of a tensor (no copy), or None for a tensor the call left out.
py::object View(const cn_tensor& t) {
  if (!t.data) return py::none();
  std::vector<py::ssize_t> dims(t.dims, t.dims + t.ndim);
  // A base object makes numpy wrap the memory instead of copying it; the caller keeps it alive.
  static py::object* no_owner = new py::capsule(&g_factory, "coarsenet.view");
  return py::array(py::dtype(cn::DTypeName(t.dtype)), dims, t.data, *no_owner);
}

py::list Views(const cn_tensor* t, size_t n) {
  py::list l;
  for (size_t i = 0; i < n; ++i) l.append(View(t[i]));
  return l;
}

py::list ReqNames(const int32_t* req, size_t n) {
  static const char* names[] = {"null", "write", "inplace", "add"};
  py::list l;
  for (size_t i = 0; i < n; ++i) l.append(names[req[i] >= 0 && req[i] <= 3 ? req[i] : 0]);
  return l;
}

// ---------------------------------------------------------------- the C ABI callbacks

int Parse(const void*, int32_t n, const char* const* keys, const char* const* values,
          void** out, cn_error* err) {
  std::string op_type;
  for (int32_t i = 0; i < n; ++i)
    if (std::string(keys[i]) == "op_type") op_type = values[i];
  if (op_type.empty()) {
    std::snprintf(err->message, CN_ERROR_MSG_BYTES,
                  "missing parameter 'op_type' (the name given to coarsenet.operator.register)");
    return 1;
  }
  auto* st = new CustomState{};
  st->op_type = op_type;
  int rc = WithPython(op_type, err, [&] {
    if (!g_factory) throw std::runtime_error("coarsenet.operator is not initialised");
    py::dict kwargs;
    for (int32_t i = 0; i < n; ++i)
      if (std::string(keys[i]) != "op_type") kwargs[py::str(keys[i])] = py::str(values[i]);
    st->impl = (*g_factory)(op_type, kwargs);
    st->in = Strings(st->impl.attr("arguments"));
    st->out = Strings(st->impl.attr("outputs"));
    st->aux = Strings(st->impl.attr("aux"));
    py::tuple needs = st->impl.attr("backward_needs")();
    st->needs_out_grad = py::cast<std::vector<int32_t>>(needs[0]);
    st->needs_in = py::cast<std::vector<int32_t>>(needs[1]);
    st->needs_out = py::cast<std::vector<int32_t>>(needs[2]);
  });
  if (rc != 0) {
    py::gil_scoped_acquire gil;
    delete st;
    return rc;
  }
  st->in_c = CStrings(st->in);
  st->out_c = CStrings(st->out);
  st->aux_c = CStrings(st->aux);
  *out = st;
  return 0;
}

void Free(void* state) {
  auto* st = static_cast<CustomState*>(state);
  if (!Py_IsInitialized()) {  // too late to release Python objects: leak them
    st->impl.release();
    delete st;
    return;
  }
  py::gil_scoped_acquire gil;
  delete st;
}

int Signature(const void* state, cn_signature* sig, cn_error*) {
  const CustomState& s = S(state);
  sig->num_inputs = int32_t(s.in.size());
  sig->input_names = s.in_c.data();
  sig->num_outputs = int32_t(s.out.size());
  sig->output_names = s.out_c.data();
  sig->num_visible_outputs = int32_t(s.out.size());
  sig->num_aux = int32_t(s.aux.size());
  sig->aux_names = s.aux_c.data();
  return 0;
}

// As MXNet, the prop is asked once the first input's shape is known, with unknown inputs given
// as empty shapes (MXNet's "unknown"), so it can fill them (a label shaped like the data).
// While some input is unknown, an empty shape it returns means "still unknown", not a scalar.
int InferShape(const void* state, cn_shape* in, cn_shape* out, cn_shape* aux, cn_error* err) {
  const CustomState& s = S(state);
  bool partial = false;
  for (size_t i = 0; i < s.in.size(); ++i) partial = partial || in[i].ndim < 0;
  if (s.in.empty() || in[0].ndim < 0) return 0;
  return WithPython(s.op_type, err, [&] {
    py::list shapes;
    for (size_t i = 0; i < s.in.size(); ++i)
      shapes.append(in[i].ndim < 0 ? py::object(py::list()) : ShapeTuple(in[i]));
    py::tuple r;
    try {
      r = s.impl.attr("infer_shape")(shapes);
    } catch (py::error_already_set&) {
      if (!partial) throw;
      return;  // a prop that needs every input shape: ask again once they are known
    }
    py::list ri = r[0], ro = r[1], ra = r[2];
    if (ri.size() != s.in.size() || ro.size() != s.out.size() || ra.size() != s.aux.size())
      throw cn::Error(cn::Msg("infer_shape returned ", ri.size(), " input, ", ro.size(),
                              " output and ", ra.size(), " aux shapes; expected ", s.in.size(),
                              ", ", s.out.size(), " and ", s.aux.size()));
    cn::ShapeContext ctx(in, int(s.in.size()), s.in_c.data(), out, int(s.out.size()),
                         s.out_c.data(), aux, int(s.aux.size()), s.aux_c.data());
    auto known = [&](const py::handle& shape) { return !partial || py::len(shape) > 0; };
    for (size_t i = 0; i < s.in.size(); ++i)
      if (known(ri[i])) ctx.SetInput(int(i), ToShape(ri[i]));
    for (size_t i = 0; i < s.out.size(); ++i)
      if (known(ro[i])) ctx.SetOutput(int(i), ToShape(ro[i]));
    for (size_t i = 0; i < s.aux.size(); ++i)
      if (known(ra[i])) ctx.SetAux(int(i), ToShape(ra[i]));
  });
}

int InferType(const void* state, int32_t* in, int32_t* out, int32_t* aux, cn_error* err) {
  const CustomState& s = S(state);
  return WithPython(s.op_type, err, [&] {
    std::vector<int32_t> codes(in, in + s.in.size());
    py::tuple r = s.impl.attr("infer_type")(codes);
    auto ri = py::cast<std::vector<int32_t>>(r[0]), ro = py::cast<std::vector<int32_t>>(r[1]),
         ra = py::cast<std::vector<int32_t>>(r[2]);
    if (ri.size() != s.in.size() || ro.size() != s.out.size() || ra.size() != s.aux.size())
      throw cn::Error("infer_type returned the wrong number of dtypes");
    std::copy(ri.begin(), ri.end(), in);
    std::copy(ro.begin(), ro.end(), out);
    std::copy(ra.begin(), ra.end(), aux);
  });
}

int Forward(const void* state, const cn_op_ctx* ctx, const cn_tensor* in, const cn_tensor* out,
            const int32_t* req, const cn_tensor* aux, void*, cn_error* err) {
  const CustomState& s = S(state);
  return WithPython(s.op_type, err, [&] {
    s.impl.attr("forward")(bool(ctx->is_train), ReqNames(req, s.out.size()),
                           Views(in, s.in.size()), Views(out, s.out.size()),
                           Views(aux, s.aux.size()));
  });
}

int Backward(const void* state, const cn_op_ctx*, const cn_tensor* out_grads,
             const cn_tensor* in, const cn_tensor* out, const cn_tensor* in_grads,
             const int32_t* req, const cn_tensor* aux, void*, cn_error* err) {
  const CustomState& s = S(state);
  return WithPython(s.op_type, err, [&] {
    s.impl.attr("backward")(ReqNames(req, s.in.size()), Views(out_grads, s.out.size()),
                            Views(in, s.in.size()), Views(out, s.out.size()),
                            Views(in_grads, s.in.size()), Views(aux, s.aux.size()));
  });
}

int Needs(const void* state, cn_backward_needs* needs, cn_error*) {
  const CustomState& s = S(state);
  std::copy(s.needs_in.begin(), s.needs_in.end(), needs->inputs);
  std::copy(s.needs_out.begin(), s.needs_out.end(), needs->outputs);
  std::copy(s.needs_out_grad.begin(), s.needs_out_grad.end(), needs->out_grads);
  return 0;
}

int32_t NoPairs(const void*, int32_t*, int32_t) { return 0; }

int NoWorkspace(const void*, const cn_shape*, const cn_shape*, int32_t, uint64_t* bytes,
                cn_error*) {
  *bytes = 0;
  return 0;
}

const cn_param_info kParams[] = {
    {"op_type", "string", nullptr,
     "Name of the Python op (coarsenet.operator.register); other arguments go to its prop."}};

}  // namespace

void SetCustomOpFactory(py::object factory) {
  if (!g_factory) g_factory = new py::object();
  *g_factory = std::move(factory);
}

void RegisterCustomOp() {
  cn_op_def d{};
  d.struct_size = sizeof(cn_op_def);
  d.abi_major = CN_ABI_VERSION_MAJOR;
  d.abi_minor = CN_ABI_VERSION_MINOR;
  d.name = "Custom";
  d.doc =
      "Runs an op implemented in Python with numpy (coarsenet.operator.CustomOp, registered by "
      "coarsenet.operator.register(op_type)). Slower than a C++ op: every forward and backward "
      "is a Python call. For prototyping; write the op in C++ for speed.";
  d.num_params = 1;
  d.params = kParams;
  d.parse_params = &Parse;
  d.free_params = &Free;
  d.signature = &Signature;
  d.infer_shape = &InferShape;
  d.infer_type = &InferType;
  d.forward = &Forward;
  d.backward = &Backward;
  d.backward_needs = &Needs;
  d.inplace_pairs = &NoPairs;
  d.backward_inplace_pairs = &NoPairs;
  d.workspace_bytes = &NoWorkspace;
  cn::core::Registry::Get().AddLibraryOps("", {d});
}

}  // namespace cn::bindings
