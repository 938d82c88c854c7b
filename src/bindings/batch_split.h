// Batch parallelism: one op call run as independent calls on slices of its batch (axis 0),
// each single-threaded, on the host's thread pool. For calls whose own parallel loop cannot
// fill the threads (small maps, few channels): independent slices need no barrier between
// threads, like one process per core.
//
// The op declares which tensors are sliced (cn_op_def.batch_split); the others go whole to
// every slice. A whole output is written by the first slice only. A whole input's gradient
// (a weight's, a bias's) is a sum over the batch: the first slice writes it with the call's
// request, every other slice writes its own buffer, and the buffers are added in slice order
// afterwards, every element summed in the same order whatever thread adds it.
//
// Determinism: the slices are fixed by the batch size and the call's shapes at bind time (the
// executor's choice, coarsenet/passes/batch_split.py), never by the thread count, and every
// slice plans for one thread: the same bits for any thread count, and the slices run in order
// on one thread when the pool has one (or the call runs inside a concurrent stage).
//
// Memory: one slice's workspace (sized for one thread and the largest slice) times the slices,
// then the gradient buffers, all in the call's planned workspace (the planner asks for it
// through Op.split_workspace_bytes, which uses PlanSplit below, so memory_stats reports it).
#ifndef COARSENET_BINDINGS_BATCH_SPLIT_H_
#define COARSENET_BINDINGS_BATCH_SPLIT_H_

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "bindings/call_args.h"

namespace cn::bindings {

struct BatchSplit {
  int32_t slices = 1;              // 1: the call runs whole
  uint32_t modes = 0;              // CN_BATCH_* in which the split applies
  int64_t batch = 0;
  uint64_t slot_bytes = 0;         // one slice's workspace (a multiple of 64 bytes)
  std::vector<int> whole_grads;    // backward: unsliced inputs whose gradient is requested
  std::vector<uint64_t> grad_bytes;  // one buffer of each (a multiple of 64 bytes)
  uint64_t total = 0;              // all of the above
  int64_t begin(int32_t s) const { return batch * s / slices; }
};

inline uint64_t Align64(uint64_t b) { return (b + 63) / 64 * 64; }

inline int64_t Elements(const cn_shape& s) {
  int64_t n = 1;
  for (int d = 0; d < s.ndim; ++d) n *= s.dims[d];
  return n;
}

// The layout of `op`'s call split into `slices` (in, out: the call's full shapes; in_dtypes:
// each input's dtype code, which its gradient shares; grad_req: backward's requests, one per
// input, or null for a forward call). Fails (a bug in the caller) when the call cannot split.
inline BatchSplit PlanSplit(const OpInstance& op, const std::vector<cn_shape>& in,
                            const std::vector<cn_shape>& out, bool backward, int32_t call_dtype,
                            const std::vector<int32_t>& in_dtypes,
                            const std::vector<int32_t>* grad_req, int32_t slices) {
  BatchSplit sp;
  if (slices <= 1) return sp;
  const auto& sin = op.batch_sliced_in();
  const auto& sout = op.batch_sliced_out();
  if (!op.batch_modes()) op.Fail("is not batch-separable, it cannot run in slices");
  int64_t batch = -1;
  auto check = [&](const cn_shape& s, const std::string& what) {
    if (s.ndim < 1) op.Fail("cannot run in slices: " + what + " has no batch axis");
    if (batch >= 0 && s.dims[0] != batch)
      op.Fail("cannot run in slices: " + what + " has batch " + std::to_string(s.dims[0]) +
              ", another sliced tensor " + std::to_string(batch));
    batch = s.dims[0];
  };
  for (size_t i = 0; i < in.size(); ++i)
    if (sin[i]) check(in[i], "input '" + op.input_names()[i] + "'");
  for (size_t j = 0; j < out.size(); ++j)
    if (sout[j]) check(out[j], "output '" + op.output_names()[j] + "'");
  if (batch < slices)
    op.Fail("cannot cut a batch of " + std::to_string(batch) + " into " +
            std::to_string(slices) + " slices");
  sp.slices = slices;
  sp.modes = op.batch_modes();
  sp.batch = batch;
  for (int64_t m : {batch / slices, (batch + slices - 1) / slices}) {
    std::vector<cn_shape> si = in, so = out;
    for (size_t i = 0; i < si.size(); ++i)
      if (sin[i]) si[i].dims[0] = m;
    for (size_t j = 0; j < so.size(); ++j)
      if (sout[j]) so[j].dims[0] = m;
    sp.slot_bytes = std::max(sp.slot_bytes, Align64(op.WorkspaceBytes(si, so, backward,
                                                                      call_dtype, 1)));
  }
  sp.total = sp.slot_bytes * uint64_t(slices);
  for (size_t i = 0; backward && i < in.size(); ++i) {
    if (sin[i] || (*grad_req)[i] == CN_REQ_NULL) continue;
    if (in_dtypes[i] != CN_FLOAT32 && in_dtypes[i] != CN_FLOAT64)
      op.Fail("cannot run in slices: the gradient of '" + op.input_names()[i] +
              "' is not float32 or float64");
    sp.whole_grads.push_back(int(i));
    sp.grad_bytes.push_back(Align64(uint64_t(Elements(in[i])) * DTypeSize(in_dtypes[i])));
    sp.total += sp.grad_bytes.back() * uint64_t(slices - 1);
  }
  return sp;
}

// Slice [b0, b1) of a tensor along axis 0 (a shape-only view keeps no data).
inline cn_tensor SliceView(const cn_tensor& t, int64_t b0, int64_t b1) {
  cn_tensor v = t;
  if (t.data) {
    int64_t row = int64_t(DTypeSize(t.dtype));
    for (int d = 1; d < t.ndim; ++d) row *= t.dims[d];
    v.data = static_cast<char*>(t.data) + b0 * row;
  }
  v.dims[0] = b1 - b0;
  return v;
}

// The gradient buffer of whole input number k (in sp.whole_grads) for slice s >= 1.
inline char* GradBuffer(const BatchSplit& sp, void* workspace, size_t k, int32_t s) {
  uint64_t offset = sp.slot_bytes * uint64_t(sp.slices);
  for (size_t q = 0; q < k; ++q) offset += sp.grad_bytes[q] * uint64_t(sp.slices - 1);
  return static_cast<char*>(workspace) + offset + sp.grad_bytes[k] * uint64_t(s - 1);
}

// dst += the buffers of slices 1, 2, ... in that order for every element (parallel over
// elements: the order per element never changes).
template <typename T>
void ReduceSlices(const BatchSplit& sp, void* workspace, size_t k, T* dst, int64_t n) {
  struct Job {
    const BatchSplit* sp;
    void* ws;
    size_t k;
    T* dst;
  } job{&sp, workspace, k, dst};
  cn::core::HostServices()->parallel_for(
      n, 1 << 14,
      [](void* user, int64_t e0, int64_t e1) {
        auto* j = static_cast<Job*>(user);
        for (int32_t s = 1; s < j->sp->slices; ++s) {
          const T* src = reinterpret_cast<const T*>(GradBuffer(*j->sp, j->ws, j->k, s));
          for (int64_t e = e0; e < e1; ++e) j->dst[e] += src[e];
        }
      },
      &job);
}

}  // namespace cn::bindings

#endif  // COARSENET_BINDINGS_BATCH_SPLIT_H_
