// Op registry, plugin loading and op instances: the host side of the C ABI.
#include "core/registry.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "coarsenet/op.h"
#include "core/host_services.h"
#include "core/kernel_variant.h"

namespace cn::core {
namespace {

// MXNet parameters that only tuned its GPU backends. Old model files carry them, so they are
// accepted and ignored unless an op declares a parameter of the same name.
const std::set<std::string> kIgnoredMxnetParams = {"workspace", "cudnn_tune", "cudnn_off"};

struct Collector {
  std::vector<cn_op_def> defs;
};

int CollectOp(void* state, const cn_op_def* def, cn_error* err) {
  if (def->struct_size < CN_OP_DEF_SIZE_1_0 || def->abi_major != CN_ABI_VERSION_MAJOR) {
    std::snprintf(err->message, CN_ERROR_MSG_BYTES,
                  "op '%s' was built for op ABI %u (struct of %u bytes); this coarsenet speaks ABI "
                  "%d (%zu to %zu bytes)",
                  def->name ? def->name : "?", def->abi_major, def->struct_size,
                  CN_ABI_VERSION_MAJOR, size_t(CN_OP_DEF_SIZE_1_0), sizeof(cn_op_def));
    return 1;
  }
  // Fields a 1.0 library did not know stay zero (NULL); a newer minor's extra fields are
  // ignored.
  cn_op_def copy{};
  std::memcpy(&copy, def, std::min<size_t>(def->struct_size, sizeof(cn_op_def)));
  copy.struct_size = sizeof(cn_op_def);
  static_cast<Collector*>(state)->defs.push_back(copy);
  return 0;
}

}  // namespace

Registry& Registry::Get() {
  static Registry* registry = new Registry();  // never destroyed: plugins are never unloaded
  return *registry;
}

void Registry::AddLibraryOps(const std::string& library, const std::vector<cn_op_def>& defs) {
  std::lock_guard<std::mutex> hold(lock_);
  std::set<std::string> seen;
  for (const cn_op_def& def : defs) {
    std::string name = def.name ? def.name : "";
    if (name.empty()) throw OpError("library " + library + " registered an op without a name");
    auto existing = ops_.find(name);
    if (existing != ops_.end() || !seen.insert(name).second) {
      std::string where = existing == ops_.end() ? library
                          : existing->second->library.empty() ? "coarsenet's built-in ops"
                                                              : existing->second->library;
      throw OpError("cannot register op '" + name + "' from " +
                    (library.empty() ? std::string("coarsenet") : library) +
                    ": the name is already registered by " + where);
    }
  }
  for (const cn_op_def& def : defs) {
    auto entry = std::make_shared<OpEntry>();
    entry->def = def;
    entry->name = def.name;
    entry->doc = def.doc ? def.doc : "";
    entry->library = library;
    if (def.onnx_domain && def.onnx_op_type) {
      entry->onnx_domain = def.onnx_domain;
      entry->onnx_op_type = def.onnx_op_type;
    }
    entry->params.assign(def.params, def.params + def.num_params);
    ops_[entry->name] = entry;
  }
}

std::shared_ptr<const OpEntry> Registry::Find(const std::string& name) const {
  std::lock_guard<std::mutex> hold(lock_);
  auto it = ops_.find(name);
  if (it == ops_.end())
    throw OpError("unknown op '" + name + "' (not built in and not loaded from a library)");
  return it->second;
}

std::vector<std::string> Registry::Names() const {
  std::lock_guard<std::mutex> hold(lock_);
  std::vector<std::string> names;
  for (auto& kv : ops_) names.push_back(kv.first);
  return names;
}

std::vector<std::string> Registry::LoadLibrary(const std::string& path) {
  char resolved[PATH_MAX];
  if (!realpath(path.c_str(), resolved)) throw OpError("op library " + path + ": file not found");
  std::string real = resolved;
  {
    std::lock_guard<std::mutex> hold(lock_);
    auto it = libraries_.find(real);
    if (it != libraries_.end()) return it->second;  // loading twice is harmless
  }
  // RTLD_LOCAL: the plugin's copies of the SDK's inline code stay its own. The handle is never
  // closed; unloading code that registered callbacks is a classic exit-time crash.
  void* handle = dlopen(real.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw OpError("op library " + path + ": cannot load: " + dlerror());
  auto entry = reinterpret_cast<cn_plugin_entry_fn>(dlsym(handle, CN_PLUGIN_ENTRY_NAME));
  if (!entry)
    throw OpError("op library " + path + ": no entry point '" CN_PLUGIN_ENTRY_NAME
                  "' (did the library use CN_PLUGIN_MAIN()?)");
  Collector collector;
  cn_registrar registrar{sizeof(cn_registrar), &collector, &CollectOp};
  cn_error err{};
  if (entry(HostServices(), &registrar, CN_ABI_VERSION_MAJOR, &err) != 0)
    throw OpError("op library " + path + ": registration failed: " + err.message);
  AddLibraryOps(real, collector.defs);
  std::vector<std::string> names;
  for (auto& d : collector.defs) names.push_back(d.name);
  std::lock_guard<std::mutex> hold(lock_);
  libraries_[real] = names;
  return names;
}

void RegisterBuiltinOps() {
  // In a portable build on an AVX-512 CPU the x86-64-v4 build of the ops replaces _core's own
  // (core/kernel_variant.h); ops it does not provide stay _core's.
  Collector variant;
  std::set<std::string> provided;
  if (cn_plugin_entry_fn entry = SelectKernelVariant()) {
    cn_registrar registrar{sizeof(cn_registrar), &variant, &CollectOp};
    cn_error err{};
    if (entry(HostServices(), &registrar, CN_ABI_VERSION_MAJOR, &err) == 0) {
      for (const cn_op_def& def : variant.defs) provided.insert(def.name);
    } else {
      KernelVariant& active = ActiveKernelVariant();
      active.isa = "x86-64-v3";
      active.library.clear();
      active.reason = "the x86-64-v4 ops failed to register: " + std::string(err.message);
      variant.defs.clear();
    }
  }
  Collector own;
  cn_registrar registrar{sizeof(cn_registrar), &own, &CollectOp};
  cn_error err{};
  if (cn::RegisterAll(HostServices(), &registrar, &err) != 0)
    throw OpError(std::string("registering built-in ops failed: ") + err.message);
  std::vector<cn_op_def> defs = variant.defs;
  for (const cn_op_def& def : own.defs)
    if (!provided.count(def.name)) defs.push_back(def);
  Registry::Get().AddLibraryOps("", defs);
}

// ---------------------------------------------------------------- OpInstance

OpInstance::OpInstance(std::shared_ptr<const OpEntry> op,
                       const std::vector<std::pair<std::string, std::string>>& attrs)
    : op_(std::move(op)), attrs_(attrs) {
  std::set<std::string> declared;
  for (auto& p : op_->params) declared.insert(p.name);
  std::vector<const char*> keys, values;
  for (auto& [k, v] : attrs_) {
    if (kIgnoredMxnetParams.count(k) && !declared.count(k)) continue;
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  cn_error err{};
  if (op_->def.parse_params(op_->def.op_data, int32_t(keys.size()), keys.data(), values.data(),
                            &state_, &err) != 0)
    Fail(err.message);
  cn_signature sig{};
  if (op_->def.signature(state_, &sig, &err) != 0) Fail(err.message);
  inputs_.assign(sig.input_names, sig.input_names + sig.num_inputs);
  outputs_.assign(sig.output_names, sig.output_names + sig.num_outputs);
  aux_.assign(sig.aux_names, sig.aux_names + sig.num_aux);
  visible_ = sig.num_visible_outputs;
  if (visible_ < 1 || visible_ > sig.num_outputs)
    Fail("declares " + std::to_string(visible_) + " visible outputs out of " +
         std::to_string(sig.num_outputs));

  needs_inputs_.assign(inputs_.size(), 0);
  needs_outputs_.assign(outputs_.size(), 0);
  needs_out_grads_.assign(outputs_.size(), 0);
  cn_backward_needs needs{needs_inputs_.data(), needs_outputs_.data(), needs_out_grads_.data()};
  if (op_->def.backward_needs(state_, &needs, &err) != 0) Fail(err.message);

  int32_t pairs[64];
  int32_t n = op_->def.inplace_pairs(state_, pairs, 32);
  for (int i = 0; i < n; ++i) inplace_.emplace_back(pairs[2 * i], pairs[2 * i + 1]);
  n = op_->def.backward_inplace_pairs(state_, pairs, 32);
  for (int i = 0; i < n; ++i) backward_inplace_.emplace_back(pairs[2 * i], pairs[2 * i + 1]);

  // Batch separability: only a library that declares ABI >= 1.4 owns the field (CollectOp
  // zeroes it for shorter structs, but a 1.3 library's struct may be followed by anything).
  batch_sliced_in_.assign(inputs_.size(), 0);
  batch_sliced_out_.assign(outputs_.size(), 0);
  if (op_->def.abi_minor >= 4 && op_->def.batch_split) {
    batch_modes_ = uint32_t(op_->def.batch_split(state_, batch_sliced_in_.data(),
                                                 batch_sliced_out_.data()));
    batch_modes_ &= CN_BATCH_INFERENCE | CN_BATCH_TRAIN;
    bool any = false;  // a call with nothing sliced has no batch to split
    for (int32_t v : batch_sliced_out_) any |= v != 0;
    if (!any) batch_modes_ = 0;
  }
}

OpInstance::~OpInstance() {
  if (state_) op_->def.free_params(state_);
}

void OpInstance::Fail(const std::string& what) const { throw OpError(op_->Label() + ": " + what); }

void OpInstance::InferShape(std::vector<cn_shape>& in, std::vector<cn_shape>& out,
                            std::vector<cn_shape>& aux) const {
  if (in.size() != inputs_.size())
    Fail("expected " + std::to_string(inputs_.size()) + " inputs, found " +
         std::to_string(in.size()));
  cn_shape unknown{};
  unknown.ndim = -1;
  out.resize(outputs_.size(), unknown);
  aux.resize(aux_.size(), unknown);
  cn_error err{};
  if (op_->def.infer_shape(state_, in.data(), out.data(), aux.data(), &err) != 0) Fail(err.message);
  // Whatever an op (built-in or plugin) inferred must be a shape memory can hold: no negative
  // dims from wrapped geometry, and an element count that fits int64 with room for 8-byte
  // elements. Checked here once instead of trusting every op's arithmetic.
  auto check = [&](const std::vector<cn_shape>& shapes, const std::vector<std::string>& names,
                   const char* kind) {
    for (size_t i = 0; i < shapes.size() && i < names.size(); ++i) {
      const cn_shape& s = shapes[i];
      if (s.ndim < 0) continue;
      std::string dims;
      for (int d = 0; d < s.ndim && d < CN_MAX_NDIM; ++d)
        dims += (d ? ", " : "") + std::to_string(s.dims[d]);
      if (s.ndim > CN_MAX_NDIM) Fail(std::string(kind) + " '" + names[i] + "' has too many dims");
      uint64_t n = 1;
      bool too_big = false;
      for (int d = 0; d < s.ndim; ++d) {
        if (s.dims[d] < 0)
          Fail(std::string(kind) + " '" + names[i] + "' inferred with a negative dim: (" + dims +
               ")");
        // zero dims are skipped: NumPy refuses an empty array whose other dims overflow too
        if (s.dims[d] != 0)
          too_big = too_big || __builtin_mul_overflow(n, static_cast<uint64_t>(s.dims[d]), &n);
      }
      if (too_big || n > (uint64_t(1) << 59))
        Fail(std::string(kind) + " '" + names[i] + "' of shape (" + dims +
             ") has more than 2^59 elements (counting its non-zero dims)");
    }
  };
  check(out, outputs_, "output");
  check(aux, aux_, "aux state");
}

void OpInstance::InferType(std::vector<int32_t>& in, std::vector<int32_t>& out,
                           std::vector<int32_t>& aux) const {
  out.resize(outputs_.size(), -1);
  aux.resize(aux_.size(), -1);
  if (op_->def.infer_type) {
    cn_error err{};
    if (op_->def.infer_type(state_, in.data(), out.data(), aux.data(), &err) != 0)
      Fail(err.message);
    return;
  }
  // Default rule: everything shares the first known dtype.
  int32_t dtype = -1;
  for (auto* v : {&in, &out, &aux})
    for (int32_t t : *v)
      if (dtype < 0 && t >= 0) dtype = t;
  if (dtype < 0) return;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] >= 0 && in[i] != dtype)
      Fail("input '" + inputs_[i] + "' expected dtype " + DTypeName(dtype) + ", found " +
           DTypeName(in[i]));
    in[i] = dtype;
  }
  for (auto& t : out) t = dtype;
  for (auto& t : aux) t = dtype;
}

uint64_t OpInstance::WorkspaceBytes(const std::vector<cn_shape>& in,
                                    const std::vector<cn_shape>& out, bool backward,
                                    int32_t dtype, int32_t threads) const {
  uint64_t bytes = 0;
  cn_error err{};
  // A library built before ABI 1.3 left the field zero (CollectOp), but only its declared
  // minor version says the field is its own.
  const bool by_threads = op_->def.abi_minor >= 3 && op_->def.workspace_elems_threads;
  if (by_threads || op_->def.workspace_elems) {
    uint64_t elems = 0;
    int rc = by_threads ? op_->def.workspace_elems_threads(state_, in.data(), out.data(),
                                                           backward, threads, &elems, &err)
                        : op_->def.workspace_elems(state_, in.data(), out.data(), backward,
                                                   &elems, &err);
    if (rc != 0) Fail(err.message);
    const uint64_t size = cn::DTypeSize(dtype);
    if (elems > UINT64_MAX / size)
      Fail("workspace of " + std::to_string(elems) + " elements overflows 64 bits");
    return elems * size;
  }
  if (op_->def.workspace_bytes(state_, in.data(), out.data(), backward, &bytes, &err) != 0)
    Fail(err.message);
  return bytes;
}

void OpInstance::Forward(const cn_op_ctx& ctx, const cn_tensor* in, const cn_tensor* out,
                         const int32_t* req, const cn_tensor* aux, void* workspace) const {
  cn_error err{};
  if (op_->def.forward(state_, &ctx, in, out, req, aux, workspace, &err) != 0) Fail(err.message);
}

void OpInstance::Backward(const cn_op_ctx& ctx, const cn_tensor* out_grads, const cn_tensor* in,
                          const cn_tensor* out, const cn_tensor* in_grads, const int32_t* req,
                          const cn_tensor* aux, void* workspace) const {
  if (!op_->def.backward) Fail("has no backward");
  cn_error err{};
  if (op_->def.backward(state_, &ctx, out_grads, in, out, in_grads, req, aux, workspace, &err) != 0)
    Fail(err.message);
}

}  // namespace cn::core
