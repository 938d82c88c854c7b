// Program: a list of op calls whose arrays were fixed and checked once at bind time, run in
// order by one Python call. Executors build one per plan, so per-op dispatch is a C++ loop.
//
// Inter-op parallelism: the executor may cut the calls into stages (SetStages) whose calls the
// schedule found independent and the memory plan gave disjoint bytes. A stage's calls run as
// stage_plan.h plans: some alone, one after the other, with every thread (their own parallel
// loops fill them), the others at the same time on the host's thread pool, each on one thread
// (the pool's parallel_for and GEMM run single-threaded inside it), spread over the threads.
// The plan is chosen from two least times measured per call, alone and on one thread next to
// the others: the first three runs of a stage put every call on one thread (spread by the
// bind-time cost proxy; the first is not timed), the next two run every call alone, the next
// eight the plan of least estimate and every call alone in turn; later runs use the plan while
// the least time of the whole stage run that way is at most that of every call alone (else
// every call alone: the inter-op off way), and every kExplorePeriod runs the per-call times and
// the other way are measured again. Proxies and
// fixed speed-up guesses misjudged which calls to pair: at 224x224 maps most forward
// convolutions fill both threads alone, at 32x32 few do. A call's kernels still plan for the
// thread count they were bound with, and no two calls of a stage touch the same bytes, so the
// results are the same bits however the calls are spread or interleaved.
//
// Batch parallelism (batch_split.h): a call bound with slices > 1 runs as that many calls on
// slices of its batch, in parallel, each on one thread (in order when the pool has one thread
// or the call is inside a concurrent stage), when its op declares the split valid in the mode
// of the run (training or inference) and the program's batch switch is on.
#ifndef COARSENET_BINDINGS_PROGRAM_H_
#define COARSENET_BINDINGS_PROGRAM_H_

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <numeric>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/batch_split.h"
#include "bindings/call_args.h"
#include "bindings/stage_plan.h"

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
    BatchSplit split;  // slices > 1: may run in slices of the batch
  };

  // workspace_bytes: the planner's figure for this call (executors pass it: the planner asked
  // the op once per node); negative asks the op here.
  int AddForward(std::shared_ptr<OpInstance> op, const py::list& inputs, const py::list& outputs,
                 const std::vector<int32_t>& req, const py::list& aux, const py::object& workspace,
                 uint64_t seed_key, bool is_recompute, int32_t threads,
                 int64_t workspace_bytes, int32_t slices) {
    Call c;
    c.threads = PlanThreads(threads);
    c.in = Pack(*op, inputs, op->input_names().size(), "inputs", op->input_names(), false, false);
    c.out = Pack(*op, outputs, op->output_names().size(), "outputs", op->output_names(), true, false);
    c.aux = Pack(*op, aux, op->aux_names().size(), "auxiliary states", op->aux_names(), true, false);
    CheckReq(*op, req, op->output_names().size(), "outputs");
    CheckShapes(*op, c.in.views, nullptr, c.out.views, nullptr, c.aux.views);
    uint64_t need = workspace_bytes >= 0
                        ? uint64_t(workspace_bytes)
                        : WorkspaceFor(*op, c.threads, c.in.views, c.out.views, false);
    c.split = Split(*op, c, false, slices);
    need = std::max(need, c.split.total);
    c.is_recompute = is_recompute;
    return Append(std::move(c), std::move(op), false, req, workspace, need, seed_key);
  }

  int AddBackward(std::shared_ptr<OpInstance> op, const py::list& out_grads,
                  const py::list& inputs, const py::list& outputs, const py::list& in_grads,
                  const std::vector<int32_t>& req, const py::list& aux,
                  const py::object& workspace, uint64_t seed_key, int32_t threads,
                  int64_t workspace_bytes, int32_t slices) {
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
    uint64_t need = workspace_bytes >= 0
                        ? uint64_t(workspace_bytes)
                        : WorkspaceFor(*op, c.threads, c.in.views, c.out.views, true,
                                       &c.ig.views, &c.og.views);
    c.req = req;
    c.split = Split(*op, c, true, slices);
    need = std::max(need, c.split.total);
    c.is_recompute = false;
    return Append(std::move(c), std::move(op), true, req, workspace, need, seed_key);
  }

  // Runs calls [begin, end). The seed of each call mixes the step seed with its key, so forward
  // and any recomputation of the same node draw the same random numbers.
  void Run(int begin, int end, bool is_train, uint64_t step_seed) {
    if (end < 0 || end > int(calls_.size())) end = int(calls_.size());
    py::gil_scoped_release release;
    for (int i = begin; i < end;) {
      int j = i + 1;
      while (j < end && !stage_.empty() && stage_[j] == stage_[i]) ++j;
      if (j - i > 1 && concurrent_)
        RunStage(i, j, is_train, step_seed);
      else
        for (int k = i; k < j; ++k) RunCall(k, is_train, step_seed);
      i = j;
    }
  }

  // stage[k]: the stage of call k (nondecreasing); cost[k]: its cost proxy (any unit).
  void SetStages(const std::vector<int32_t>& stage, const std::vector<double>& cost) {
    if (stage.size() != calls_.size() || cost.size() != calls_.size())
      throw std::invalid_argument("Program.set_stages: need one stage and one cost per call");
    for (size_t k = 1; k < stage.size(); ++k)
      if (stage[k] < stage[k - 1])
        throw std::invalid_argument("Program.set_stages: stages must not decrease");
    stage_ = stage;
    cost_ = cost;
    one_.assign(cost.size(), 0.0);
    alone_.assign(cost.size(), 0.0);
    changed_.assign(cost.size(), 0);
    stages_.assign(cost.size(), StageState{});
  }

  void set_concurrent(bool on) { concurrent_ = on; }
  void set_batch_parallel(bool on) { batch_parallel_ = on; }
  bool batch_parallel() const { return batch_parallel_; }
  // Slices of call k (1: it always runs whole).
  int slices(int k) const { return calls_.at(size_t(k)).split.slices; }
  bool concurrent() const { return concurrent_; }
  // Per call: the least seconds measured on one thread in a concurrent stage and alone on every
  // thread (0: not yet), for benchmarks and tests.
  py::tuple StageTimes() const { return py::make_tuple(one_, alone_); }
  // The plan stage_plan.h last made for the stage whose first call is `begin`: (calls run
  // alone, bins, least stage seconds as planned, least with every call alone); empty until the
  // stage has run six times concurrently.
  py::tuple StagePlanOf(int begin) const {
    const StageState& st = stages_.at(size_t(begin));
    return py::make_tuple(st.plan.alone, st.plan.bins, st.plan_wall, st.alone_wall);
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

  // The split of a call from its checked views (shape-only views hold their inferred shapes).
  static BatchSplit Split(const OpInstance& op, const Call& c, bool backward, int32_t slices) {
    if (slices <= 1) return BatchSplit{};
    std::vector<cn_shape> si, so;
    std::vector<int32_t> in_dtypes, out_dtypes;
    for (size_t i = 0; i < c.in.views.size(); ++i) {
      const cn_tensor& t = c.in.views[i].ndim >= 0 || !backward ? c.in.views[i] : c.ig.views[i];
      si.push_back(ShapeOf(t));
      in_dtypes.push_back(t.dtype);
    }
    for (size_t j = 0; j < c.out.views.size(); ++j) {
      const cn_tensor& t = c.out.views[j].ndim >= 0 || !backward ? c.out.views[j]
                                                                  : c.og.views[j];
      so.push_back(ShapeOf(t));
      out_dtypes.push_back(t.dtype);
    }
    return PlanSplit(op, si, so, backward, CallDtype(in_dtypes, out_dtypes), in_dtypes,
                     backward ? &c.req : nullptr, slices);
  }

  void RunCall(int i, bool is_train, uint64_t step_seed) const {
    const Call& c = calls_[i];
    cn_op_ctx ctx = MakeCtx(is_train, c.is_recompute, cn::RandomBits(step_seed, c.seed_key),
                            c.threads);
    if (batch_parallel_ && c.split.slices > 1 &&
        (c.split.modes & (is_train ? CN_BATCH_TRAIN : CN_BATCH_INFERENCE)))
      return RunSlices(c, ctx);
    if (c.backward)
      c.op->Backward(ctx, c.og.views.data(), c.in.views.data(), c.out.views.data(),
                     c.ig.views.data(), c.req.data(), c.aux.views.data(), c.workspace);
    else
      c.op->Forward(ctx, c.in.views.data(), c.out.views.data(), c.req.data(),
                    c.aux.views.data(), c.workspace);
  }

  // Calls [begin, end) of one stage (see the top of the file and stage_plan.h).
  void RunStage(int begin, int end, bool is_train, uint64_t step_seed) const {
    const int threads = cn::core::GetNumThreads();
    if (threads <= 1) {
      for (int k = begin; k < end; ++k) RunCall(k, is_train, step_seed);
      return;
    }
    if (threads != timed_threads_) {  // alone times hold for one thread count
      std::fill(alone_.begin(), alone_.end(), 0.0);
      std::fill(stages_.begin(), stages_.end(), StageState{});
      timed_threads_ = threads;
    }
    std::vector<int> calls(end - begin);
    std::iota(calls.begin(), calls.end(), begin);
    auto known = [&](const std::vector<double>& t) {
      return std::all_of(calls.begin(), calls.end(), [&](int k) { return t[k] > 0; });
    };
    StageState& st = stages_[begin];
    const int run = st.runs++;
    const int phase = run % kExplorePeriod;
    StagePlan explore;
    if (run < 3 || phase == kExplorePeriod - 2) {  // every call in a bin
      SpreadOverBins(calls, known(one_) ? one_ : cost_, threads, &explore.bins);
      // The first run is not timed: it pays for first touches of the arena (page faults),
      // up to 20x a call's time at 224x224 maps.
      std::vector<double> untimed(run == 0 ? calls_.size() : 0, 0.0);
      RunPlan(explore, run == 0 ? &untimed : &one_, is_train, step_seed);
      return;
    }
    bool changed = std::any_of(calls.begin(), calls.end(), [&](int k) { return changed_[k]; });
    const bool planned = st.plan.alone.size() + st.plan.bins.size() > 0;
    if (run >= 5 && (changed || !planned)) {
      // A new plan only when clearly better under the new times (kSwitchMargin): a plan that
      // flaps between near-equal ones never gathers stage times of its own.
      StagePlan p = PlanStage(calls, one_, alone_, threads);
      if (!planned || p.estimate < kSwitchMargin * Estimate(st.plan, one_, alone_)) {
        st.plan = std::move(p);
        st.plan_wall = 0, st.plan_runs = 0;
      }
      for (int k : calls) changed_[k] = 0;
    }
    // Which runs: every call alone (the inter-op off way) while exploring, then the plan and
    // all alone in turn until each has a few stage times (a least time taken over more runs
    // is lower by chance alone on a busy machine), then the plan unless its least stage time
    // is above all alone's (per-call times miss how much concurrent calls slow each other
    // through shared caches and memory bandwidth), the other measured every kExplorePeriod runs.
    bool plan_wins = st.plan_runs < 2 || st.plan_wall <= st.alone_wall;
    bool all_alone = run < 5 || (run < 13 ? run % 2 == 0
                                          : phase == kExplorePeriod - 1 ? plan_wins : !plan_wins);
    explore.alone = calls;
    auto t0 = std::chrono::steady_clock::now();
    RunPlan(all_alone ? explore : st.plan, &one_, is_train, step_seed);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double& least = all_alone ? st.alone_wall : st.plan_wall;
    if (least <= 0 || s < least) least = s;
    if (!all_alone) ++st.plan_runs;
  }

  // Runs a stage's plan: its alone calls in order on every thread, then its bins at the same
  // time, one thread each (bin calls' least times kept in *one).
  void RunPlan(const StagePlan& plan, std::vector<double>* one, bool is_train,
               uint64_t step_seed) const {
    for (int k : plan.alone) Timed(k, is_train, step_seed, &alone_);
    if (plan.bins.empty()) return;
    struct Job {
      const Program* self;
      const std::vector<std::vector<int>>* bin;
      std::vector<std::exception_ptr> errors;
      bool is_train;
      uint64_t seed;
      std::vector<double>* one;
    } job{this, &plan.bins, std::vector<std::exception_ptr>(plan.bins.size()), is_train,
          step_seed, one};
    cn::core::HostServices()->parallel_for(
        int64_t(plan.bins.size()), 1,
        [](void* user, int64_t b0, int64_t b1) {
          auto* j = static_cast<Job*>(user);
          for (int64_t b = b0; b < b1; ++b) try {
              for (int k : (*j->bin)[b]) j->self->Timed(k, j->is_train, j->seed, j->one);
            } catch (...) {
              j->errors[b] = std::current_exception();
            }
        },
        &job);
    for (auto& e : job.errors)  // the first bin's error, whichever thread failed first
      if (e) std::rethrow_exception(e);
  }

  // RunCall, keeping in (*least)[k] the least seconds seen for call k (one_: on one thread in a
  // bin; alone_: alone on every thread). Only the stage plans read them: the results do not
  // depend on them. Calls of one stage run on distinct k, so concurrent bins write distinct
  // elements.
  void Timed(int k, bool is_train, uint64_t step_seed, std::vector<double>* least) const {
    auto t0 = std::chrono::steady_clock::now();
    RunCall(k, is_train, step_seed);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double& t = (*least)[k];
    if (t <= 0 || s < t) {
      t = s;
      changed_[k] = 1;
    }
  }

  // One slice of a split call (see batch_split.h): views of its part of the batch, whole
  // outputs written by slice 0 only, whole inputs' gradients of later slices in their buffers.
  void RunSlice(const Call& c, const cn_op_ctx& ctx, int32_t s) const {
    const BatchSplit& sp = c.split;
    const auto& sin = c.op->batch_sliced_in();
    const auto& sout = c.op->batch_sliced_out();
    const int64_t b0 = sp.begin(s), b1 = sp.begin(s + 1);
    auto cut = [&](const std::vector<cn_tensor>& v, const std::vector<int32_t>& sliced) {
      std::vector<cn_tensor> r = v;
      for (size_t i = 0; i < r.size(); ++i)
        if (sliced[i]) r[i] = SliceView(v[i], b0, b1);
      return r;
    };
    std::vector<int32_t> req = c.req;
    void* ws = sp.slot_bytes ? static_cast<char*>(c.workspace) + sp.slot_bytes * uint64_t(s)
                             : nullptr;
    cn_op_ctx one = ctx;
    one.num_threads = 1;  // every slice's workspace was sized for one thread
    std::vector<cn_tensor> in = cut(c.in.views, sin), out = cut(c.out.views, sout);
    if (!c.backward) {
      for (size_t j = 0; j < req.size(); ++j)
        if (!sout[j] && s > 0) req[j] = CN_REQ_NULL;
      c.op->Forward(one, in.data(), out.data(), req.data(), c.aux.views.data(), ws);
      return;
    }
    std::vector<cn_tensor> og = cut(c.og.views, sout), ig = cut(c.ig.views, sin);
    for (size_t k = 0; k < sp.whole_grads.size() && s > 0; ++k) {
      int i = sp.whole_grads[k];
      ig[i].data = GradBuffer(sp, c.workspace, k, s);
      req[i] = CN_REQ_WRITE;
    }
    c.op->Backward(one, og.data(), in.data(), out.data(), ig.data(), req.data(),
                   c.aux.views.data(), ws);
  }

  void RunSlices(const Call& c, const cn_op_ctx& ctx) const {
    struct Job {
      const Program* self;
      const Call* call;
      const cn_op_ctx* ctx;
      std::vector<std::exception_ptr> errors;
    } job{this, &c, &ctx, std::vector<std::exception_ptr>(size_t(c.split.slices))};
    cn::core::HostServices()->parallel_for(
        c.split.slices, 1,
        [](void* user, int64_t s0, int64_t s1) {
          auto* j = static_cast<Job*>(user);
          for (int64_t s = s0; s < s1; ++s) try {
              j->self->RunSlice(*j->call, *j->ctx, int32_t(s));
            } catch (...) {
              j->errors[size_t(s)] = std::current_exception();
            }
        },
        &job);
    for (auto& e : job.errors)  // the first slice's error, whichever thread failed first
      if (e) std::rethrow_exception(e);
    for (size_t k = 0; k < c.split.whole_grads.size(); ++k) {
      const cn_tensor& g = c.ig.views[size_t(c.split.whole_grads[k])];
      int64_t n = 1;
      for (int d = 0; d < g.ndim; ++d) n *= g.dims[d];
      if (g.dtype == CN_FLOAT32)
        ReduceSlices(c.split, c.workspace, k, static_cast<float*>(g.data), n);
      else
        ReduceSlices(c.split, c.workspace, k, static_cast<double*>(g.data), n);
    }
  }

  // Every kExplorePeriod runs of a stage, one runs every call in a bin and the next every call
  // alone, so a time first measured under load (the least seen is kept) is measured again.
  static constexpr int kExplorePeriod = 32;
  static constexpr double kSwitchMargin = 0.97;

  std::vector<Call> calls_;
  std::vector<int32_t> stage_;  // empty: one call per stage
  std::vector<double> cost_;    // bind-time proxy: spreads a stage before any call is measured
  // Per call (see Timed; 0 until measured): least seconds on one thread and alone on
  // timed_threads_ threads; changed_: a least time fell since its stage was last planned.
  mutable std::vector<double> one_, alone_;
  mutable std::vector<char> changed_;
  mutable int timed_threads_ = 0;
  // Per stage, indexed by its first call: how often it ran concurrently, its plan, and the
  // least seconds measured for the whole stage run as planned (over plan_runs runs) and with
  // every call alone.
  struct StageState {
    int runs = 0, plan_runs = 0;
    StagePlan plan;
    double plan_wall = 0, alone_wall = 0;
  };
  mutable std::vector<StageState> stages_;
  bool concurrent_ = true;
  bool batch_parallel_ = true;
};

}  // namespace cn::bindings

#endif  // COARSENET_BINDINGS_PROGRAM_H_
