// The host's table of ops (built-in and from plugin libraries) and parsed op instances.
#ifndef COARSENET_CORE_REGISTRY_H_
#define COARSENET_CORE_REGISTRY_H_

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "coarsenet/c_api.h"

namespace cn::core {

// Raised for every op or library failure; Python sees it as coarsenet.CoarsenetError.
class OpError : public std::runtime_error {
 public:
  explicit OpError(const std::string& what) : std::runtime_error(what) {}
};

struct OpEntry {
  cn_op_def def;        // callbacks and flags as the library declared them
  std::string name;     // registered name (an alias has its own entry)
  std::string doc;
  std::string library;  // "" for built-ins, else the plugin's path
  std::string onnx_domain, onnx_op_type;  // ONNX export mapping of a user op; "" when none
  std::vector<cn_param_info> params;
  // "Convolution" or "ScaledTanh (from /path/libmy_ops.so)" for error messages.
  std::string Label() const { return library.empty() ? name : name + " (from " + library + ")"; }
};

class Registry {
 public:
  static Registry& Get();
  // Adds ops from the library at `path` ("" for the core's own); on failure adds none of them.
  void AddLibraryOps(const std::string& library, const std::vector<cn_op_def>& defs);
  std::shared_ptr<const OpEntry> Find(const std::string& name) const;  // throws for unknown
  std::vector<std::string> Names() const;
  // Loads a plugin library once; returns the names of the ops it registered.
  std::vector<std::string> LoadLibrary(const std::string& path);

 private:
  mutable std::mutex lock_;
  std::map<std::string, std::shared_ptr<const OpEntry>> ops_;
  std::map<std::string, std::vector<std::string>> libraries_;  // real path -> op names
};

void RegisterBuiltinOps();

// One op with parsed params: what the graph layer and NDArray hold per node.
class OpInstance {
 public:
  OpInstance(std::shared_ptr<const OpEntry> op,
             const std::vector<std::pair<std::string, std::string>>& attrs);
  ~OpInstance();
  OpInstance(const OpInstance&) = delete;
  OpInstance& operator=(const OpInstance&) = delete;

  const OpEntry& op() const { return *op_; }
  const std::vector<std::pair<std::string, std::string>>& attrs() const { return attrs_; }
  const std::vector<std::string>& input_names() const { return inputs_; }
  const std::vector<std::string>& output_names() const { return outputs_; }
  const std::vector<std::string>& aux_names() const { return aux_; }
  int num_visible_outputs() const { return visible_; }
  const std::vector<int32_t>& needs_inputs() const { return needs_inputs_; }
  const std::vector<int32_t>& needs_outputs() const { return needs_outputs_; }
  const std::vector<int32_t>& needs_out_grads() const { return needs_out_grads_; }
  const std::vector<std::pair<int, int>>& inplace() const { return inplace_; }
  const std::vector<std::pair<int, int>>& backward_inplace() const { return backward_inplace_; }
  bool has_backward() const { return op_->def.backward != nullptr; }
  // Batch separability (cn_op_def.batch_split): CN_BATCH_* modes (0: never split) and which
  // inputs / outputs are sliced along axis 0.
  uint32_t batch_modes() const { return batch_modes_; }
  const std::vector<int32_t>& batch_sliced_in() const { return batch_sliced_in_; }
  const std::vector<int32_t>& batch_sliced_out() const { return batch_sliced_out_; }

  void InferShape(std::vector<cn_shape>& in, std::vector<cn_shape>& out,
                  std::vector<cn_shape>& aux) const;
  void InferType(std::vector<int32_t>& in, std::vector<int32_t>& out,
                 std::vector<int32_t>& aux) const;
  // Scratch bytes for one call; `dtype` is the call's (first input's) dtype, which sizes ops
  // that state their scratch in elements (unknown: the widest, 8 bytes). `threads`: the count
  // the call's kernels will plan for (cn_op_ctx.num_threads of the calls this sizes).
  uint64_t WorkspaceBytes(const std::vector<cn_shape>& in, const std::vector<cn_shape>& out,
                          bool backward, int32_t dtype, int32_t threads) const;
  void Forward(const cn_op_ctx& ctx, const cn_tensor* in, const cn_tensor* out,
               const int32_t* req, const cn_tensor* aux, void* workspace) const;
  void Backward(const cn_op_ctx& ctx, const cn_tensor* out_grads, const cn_tensor* in,
                const cn_tensor* out, const cn_tensor* in_grads, const int32_t* req,
                const cn_tensor* aux, void* workspace) const;

  [[noreturn]] void Fail(const std::string& what) const;

 private:
  std::shared_ptr<const OpEntry> op_;
  std::vector<std::pair<std::string, std::string>> attrs_;
  void* state_ = nullptr;
  std::vector<std::string> inputs_, outputs_, aux_;
  int visible_ = 0;
  std::vector<int32_t> needs_inputs_, needs_outputs_, needs_out_grads_;
  std::vector<std::pair<int, int>> inplace_, backward_inplace_;
  uint32_t batch_modes_ = 0;
  std::vector<int32_t> batch_sliced_in_, batch_sliced_out_;
};

}  // namespace cn::core

#endif  // COARSENET_CORE_REGISTRY_H_
