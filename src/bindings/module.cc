// coarsenet._core: the pybind11 face of the registry. No math here, only conversion and checks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "bindings/call_args.h"
#include "bindings/custom_op.h"
#include "bindings/imperative.h"
#include "bindings/program.h"
#include "coarsenet/op.h"
#include "core/host_services.h"
#include "core/kernel_variant.h"
#include "core/registry.h"

namespace py = pybind11;
using cn::core::OpError;
using cn::core::OpInstance;
using cn::core::Registry;

namespace {

using ShapeList = std::vector<std::optional<std::vector<int64_t>>>;
using namespace cn::bindings;  // NOLINT: the helpers of this module

std::shared_ptr<OpInstance> MakeOp(const std::string& name, const py::dict& attrs) {
  std::vector<std::pair<std::string, std::string>> kv;
  for (auto item : attrs) kv.emplace_back(py::str(item.first), py::str(item.second));
  return std::make_shared<OpInstance>(Registry::Get().Find(name), kv);
}

void Forward(const OpInstance& op, const py::list& inputs, const py::list& outputs,
             const std::vector<int32_t>& req, const py::list& aux, const py::object& workspace,
             bool is_train, bool is_recompute, uint64_t seed, int32_t threads) {
  auto in = Pack(op, inputs, op.input_names().size(), "inputs", op.input_names(), false, false);
  auto out = Pack(op, outputs, op.output_names().size(), "outputs", op.output_names(), true, false);
  auto ax = Pack(op, aux, op.aux_names().size(), "auxiliary states", op.aux_names(), true, false);
  CheckReq(op, req, op.output_names().size(), "outputs");
  CheckShapes(op, in.views, nullptr, out.views, nullptr, ax.views);
  const int32_t plan = PlanThreads(threads);
  void* ws = WorkspacePtr(op, workspace, WorkspaceFor(op, plan, in.views, out.views, false));
  cn_op_ctx ctx = MakeCtx(is_train, is_recompute, seed, plan);
  py::gil_scoped_release release;
  op.Forward(ctx, in.views.data(), out.views.data(), req.data(), ax.views.data(), ws);
}

void Backward(const OpInstance& op, const py::list& out_grads, const py::list& inputs,
              const py::list& outputs, const py::list& in_grads, const std::vector<int32_t>& req,
              const py::list& aux, const py::object& workspace, bool is_train, uint64_t seed,
              int32_t threads) {
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
  const int32_t plan = PlanThreads(threads);
  void* ws = WorkspacePtr(op, workspace, WorkspaceFor(op, plan, in.views, out.views, true,
                                                      &ig.views, &og.views));
  cn_op_ctx ctx = MakeCtx(is_train, false, seed, plan);
  py::gil_scoped_release release;
  op.Backward(ctx, og.views.data(), in.views.data(), out.views.data(), ig.views.data(), req.data(),
              ax.views.data(), ws);
}

py::dict OpInfo(const std::string& name) {
  auto entry = Registry::Get().Find(name);
  py::dict d;
  d["name"] = entry->name;
  d["doc"] = entry->doc;
  d["library"] = entry->library;
  d["flags"] = entry->def.flags;
  d["onnx_domain"] = entry->onnx_domain;
  d["onnx_op_type"] = entry->onnx_op_type;
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
  cn::bindings::RegisterImperative(m);

  m.attr("ABI_VERSION_MAJOR") = CN_ABI_VERSION_MAJOR;
  m.attr("ABI_VERSION_MINOR") = CN_ABI_VERSION_MINOR;
  // The C ABI's enums, so Python imports them instead of copying the numbers from c_api.h.
  m.attr("REQ_NULL") = int(CN_REQ_NULL);
  m.attr("REQ_WRITE") = int(CN_REQ_WRITE);
  m.attr("REQ_INPLACE") = int(CN_REQ_INPLACE);
  m.attr("REQ_ADD") = int(CN_REQ_ADD);
  m.attr("FLAG_NONDETERMINISTIC") = int(CN_FLAG_NONDETERMINISTIC);
  m.attr("FLAG_UPDATES_AUX") = int(CN_FLAG_UPDATES_AUX);
  m.attr("FLAG_EXPENSIVE") = int(CN_FLAG_EXPENSIVE);
  m.attr("FLAG_NO_GRAD") = int(CN_FLAG_NO_GRAD);
  m.attr("BATCH_INFERENCE") = int(CN_BATCH_INFERENCE);
  m.attr("BATCH_TRAIN") = int(CN_BATCH_TRAIN);
  m.attr("FLAG_LOSS") = int(CN_FLAG_LOSS);
  py::dict dtype_codes;
  dtype_codes["float32"] = int(CN_FLOAT32);
  dtype_codes["float64"] = int(CN_FLOAT64);
  dtype_codes["float16"] = int(CN_FLOAT16);
  dtype_codes["uint8"] = int(CN_UINT8);
  dtype_codes["int32"] = int(CN_INT32);
  dtype_codes["int8"] = int(CN_INT8);
  dtype_codes["int64"] = int(CN_INT64);
  m.attr("DTYPE_CODES") = dtype_codes;
  m.def("call_dtype", &cn::bindings::CallDtype, py::arg("in_dtypes"), py::arg("out_dtypes"),
        "The dtype code an op call's scratch is sized in: its first input's, else its first "
        "output's (-1 unknown).");
  m.def("list_ops", [] { return Registry::Get().Names(); });
  m.def(
      "kernel_variant",
      [] {
        const cn::core::KernelVariant& v = cn::core::ActiveKernelVariant();
        py::dict d;
        d["isa"] = v.isa;
        d["library"] = v.library;
        d["reason"] = v.reason;
        d["error"] = v.error;
        return d;
      },
      "Which build of the built-in ops runs: isa ('native', 'x86-64-v3' or 'x86-64-v4'), the "
      "module they come from, why, and an error for a bad COARSENET_KERNEL_ISA value.");
  m.def("op_info", &OpInfo);
  m.def("load_library", [](const std::string& path) { return Registry::Get().LoadLibrary(path); });
  m.def("_set_custom_op_factory", &cn::bindings::SetCustomOpFactory,
        "Used by coarsenet.operator: (op_type, kwargs) -> the Python side of a Custom op.");
  m.def("set_num_threads", &cn::core::SetNumThreads);
  m.def("get_num_threads", &cn::core::GetNumThreads);
  m.def("thread_info", [] {
    cn::core::ThreadInfo t = cn::core::GetThreadInfo();
    py::dict d;
    d["num_threads"] = t.num_threads;
    d["omp_max_threads"] = t.omp_max_threads;
    d["blas_threads"] = t.blas_threads;
    d["parallel_team"] = t.parallel_team;
    d["blas_threads_in_parallel"] = t.blas_threads_in_parallel;
    return d;
  }, "Thread settings now (see cn.thread_info).");

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
          [](const OpInstance& op, const ShapeList& in, const ShapeList& out, bool backward,
             int32_t dtype, int32_t threads) {
            std::vector<cn_shape> si, so;
            for (auto& s : in) si.push_back(ToShape(op, s));
            for (auto& s : out) so.push_back(ToShape(op, s));
            return op.WorkspaceBytes(si, so, backward, dtype, PlanThreads(threads));
          },
          py::arg("in_shapes"), py::arg("out_shapes"), py::arg("backward") = false,
          py::arg("dtype") = -1, py::arg("threads") = 0,
          "Scratch bytes for one call; dtype is the call's dtype code (its first input's; -1 "
          "unknown: sized for the widest); threads: what its kernels plan for (0: the current "
          "count; calls made with that workspace must pass the same).")
      .def_property_readonly(
          "batch_split",
          [](const OpInstance& o) {
            return py::make_tuple(o.batch_modes(), o.batch_sliced_in(), o.batch_sliced_out());
          },
          "(CN_BATCH_* modes, sliced per input, sliced per output): see cn_op_def.batch_split.")
      .def(
          "split_workspace_bytes",
          [](const OpInstance& op, const ShapeList& in, const ShapeList& out, bool backward,
             const std::vector<int32_t>& in_dtypes, const std::vector<int32_t>& out_dtypes,
             int32_t slices, std::optional<std::vector<int32_t>> grad_req) {
            std::vector<cn_shape> si, so;
            for (auto& s : in) si.push_back(ToShape(op, s));
            for (auto& s : out) so.push_back(ToShape(op, s));
            if (in_dtypes.size() != si.size() || (backward && (!grad_req ||
                                                               grad_req->size() != si.size())))
              op.Fail("split_workspace_bytes: one dtype (and gradient request) per input");
            return PlanSplit(op, si, so, backward, CallDtype(in_dtypes, out_dtypes), in_dtypes,
                             grad_req ? &*grad_req : nullptr, slices)
                .total;
          },
          py::arg("in_shapes"), py::arg("out_shapes"), py::arg("backward"), py::arg("in_dtypes"),
          py::arg("out_dtypes"), py::arg("slices"), py::arg("grad_req") = py::none(),
          "Scratch bytes of one call run in `slices` slices of its batch (bindings/"
          "batch_split.h): the slices' workspaces and the gradient buffers of whole inputs.")
      .def("invoke", &Invoke, py::arg("inputs"), py::arg("aux"), py::arg("is_train") = false,
           py::arg("seed") = 0, py::arg("targets") = py::none(),
           "Allocates the outputs and runs forward; returns all outputs. `targets` (out= "
           "arrays) are written straight into when shape, dtype and layout match and no "
           "input overlaps them (except one the op may share in place).")
      .def("forward", &Forward, py::arg("inputs"), py::arg("outputs"), py::arg("req"),
           py::arg("aux"), py::arg("workspace") = py::none(), py::arg("is_train") = false,
           py::arg("is_recompute") = false, py::arg("seed") = 0, py::arg("threads") = 0)
      .def("backward", &Backward, py::arg("out_grads"), py::arg("inputs"), py::arg("outputs"),
           py::arg("in_grads"), py::arg("req"), py::arg("aux"), py::arg("workspace") = py::none(),
           py::arg("is_train") = true, py::arg("seed") = 0, py::arg("threads") = 0);

  // stage_plan.h's choice for calls 0..n-1 of given one-thread and alone seconds: (alone
  // calls, bins, estimate). For tests of the planner.
  m.def(
      "plan_stage",
      [](const std::vector<double>& one, const std::vector<double>& alone, int threads) {
        if (one.size() != alone.size() || threads < 1)
          throw std::invalid_argument("plan_stage: one and alone need equal lengths");
        std::vector<int> calls(one.size());
        std::iota(calls.begin(), calls.end(), 0);
        StagePlan p = PlanStage(calls, one, alone, threads);
        return py::make_tuple(p.alone, p.bins, p.estimate);
      },
      py::arg("one"), py::arg("alone"), py::arg("threads"));

  py::class_<Program>(m, "Program")
      .def(py::init<>())
      .def("add_forward", &Program::AddForward, py::arg("op"), py::arg("inputs"),
           py::arg("outputs"), py::arg("req"), py::arg("aux"), py::arg("workspace") = py::none(),
           py::arg("seed_key") = 0, py::arg("is_recompute") = false,
           py::arg("threads") = 0, py::arg("workspace_bytes") = -1, py::arg("slices") = 1)
      .def("add_backward", &Program::AddBackward, py::arg("op"), py::arg("out_grads"),
           py::arg("inputs"), py::arg("outputs"), py::arg("in_grads"), py::arg("req"),
           py::arg("aux"), py::arg("workspace") = py::none(), py::arg("seed_key") = 0,
           py::arg("threads") = 0, py::arg("workspace_bytes") = -1, py::arg("slices") = 1)
      .def("run", &Program::Run, py::arg("begin") = 0, py::arg("end") = -1,
           py::arg("is_train") = false, py::arg("step_seed") = 0)
      .def("set_stages", &Program::SetStages, py::arg("stage"), py::arg("cost"))
      .def_property("concurrent", &Program::concurrent, &Program::set_concurrent)
      .def_property("batch_parallel", &Program::batch_parallel, &Program::set_batch_parallel)
      .def("slices", &Program::slices, py::arg("call"))
      .def("stage_times", &Program::StageTimes)
      .def("stage_plan", &Program::StagePlanOf, py::arg("begin"))
      .def("__len__", &Program::size);
}
