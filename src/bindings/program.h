// Program: a list of op calls whose arrays were fixed and checked once at bind time, run in
// order by one Python call. Executors build one per plan, so per-op dispatch is a C++ loop.
#ifndef COARSENET_BINDINGS_PROGRAM_H_
#define COARSENET_BINDINGS_PROGRAM_H_

#include <memory>
#include <vector>

#include "bindings/call_args.h"

namespace cn::bindings {

class Program {
 public:
  struct Call {
    std::shared_ptr<OpInstance> op;
    bool backward, is_recompute;
    uint64_t seed_key;
    int32_t threads;  // what its workspace was sized for: the kernels plan for this many
    TensorPack og, in, out, ig, aux;
    std::vector<int32_t> req;
    void* workspace;
    py::object workspace_ref;
  };

  int AddForward(std::shared_ptr<OpInstance> op, const py::list& inputs, const py::list& outputs,
                 const std::vector<int32_t>& req, const py::list& aux, const py::object& workspace,
                 uint64_t seed_key, bool is_recompute, int32_t threads) {
    Call c;
    c.threads = PlanThreads(threads);
    c.in = Pack(*op, inputs, op->input_names().size(), "inputs", op->input_names(), false, false);
    c.out = Pack(*op, outputs, op->output_names().size(), "outputs", op->output_names(), true, false);
    c.aux = Pack(*op, aux, op->aux_names().size(), "auxiliary states", op->aux_names(), true, false);
    CheckReq(*op, req, op->output_names().size(), "outputs");
    CheckShapes(*op, c.in.views, nullptr, c.out.views, nullptr, c.aux.views);
    uint64_t need = WorkspaceFor(*op, c.threads, c.in.views, c.out.views, false);
    c.is_recompute = is_recompute;
    return Append(std::move(c), std::move(op), false, req, workspace, need, seed_key);
  }

  int AddBackward(std::shared_ptr<OpInstance> op, const py::list& out_grads,
                  const py::list& inputs, const py::list& outputs, const py::list& in_grads,
                  const std::vector<int32_t>& req, const py::list& aux,
                  const py::object& workspace, uint64_t seed_key, int32_t threads) {
    Call c;
    c.threads = PlanThreads(threads);
    size_t n_in = op->input_names().size(), n_out = op->output_names().size();
    c.og = Pack(*op, out_grads, n_out, "output gradients", op->output_names(), false, true);
    c.in = Pack(*op, inputs, n_in, "inputs", op->input_names(), false, true);
    c.out = Pack(*op, outputs, n_out, "outputs", op->output_names(), false, true);
    c.ig = Pack(*op, in_grads, n_in, "input gradients", op->input_names(), true, true);
    c.aux = Pack(*op, aux, op->aux_names().size(), "auxiliary states", op->aux_names(), true, true);
    CheckReq(*op, req, n_in, "input gradients");
    CheckShapes(*op, c.in.views, &c.ig.views, c.out.views, &c.og.views, c.aux.views);
    uint64_t need = WorkspaceFor(*op, c.threads, c.in.views, c.out.views, true, &c.ig.views, &c.og.views);
    c.is_recompute = false;
    return Append(std::move(c), std::move(op), true, req, workspace, need, seed_key);
  }

  // Runs calls [begin, end). The seed of each call mixes the step seed with its key, so forward
  // and any recomputation of the same node draw the same random numbers.
  void Run(int begin, int end, bool is_train, uint64_t step_seed) {
    if (end < 0 || end > int(calls_.size())) end = int(calls_.size());
    py::gil_scoped_release release;
    for (int i = begin; i < end; ++i) {
      const Call& c = calls_[i];
      cn_op_ctx ctx = MakeCtx(is_train, c.is_recompute, cn::RandomBits(step_seed, c.seed_key),
                              c.threads);
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
  // The part both kinds of call share: the planned workspace and the bookkeeping.
  int Append(Call c, std::shared_ptr<OpInstance> op, bool backward,
             const std::vector<int32_t>& req, const py::object& workspace, uint64_t need,
             uint64_t seed_key) {
    if (need && workspace.is_none()) op->Fail("program calls need an explicit workspace");
    c.workspace = need ? WorkspacePtr(*op, workspace, need) : nullptr;
    c.workspace_ref = workspace;
    c.op = std::move(op);
    c.backward = backward;
    c.seed_key = seed_key;
    c.req = req;
    calls_.push_back(std::move(c));
    return int(calls_.size()) - 1;
  }

  std::vector<Call> calls_;
};

}  // namespace cn::bindings

#endif  // COARSENET_BINDINGS_PROGRAM_H_
