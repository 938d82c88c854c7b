/* coarsenet op ABI: the plain-C contract between the host (coarsenet._core) and every op library.
 *
 * Built-in ops and user plugins both reach the host only through these structs, so a plugin built
 * with another compiler or C++ standard library still loads. Rules that keep the boundary safe:
 *   - no C++ type and no exception crosses it; a failing callback returns nonzero and writes a
 *     message into the cn_error it was given;
 *   - every struct that may grow starts with `struct_size`, so the reader can tell which fields
 *     the writer knew about;
 *   - a library states the ABI major version it was compiled for; the host refuses a different
 *     major version (minor versions only append fields, so a 1.0 library still loads: the
 *     host reads a field only when the writer's struct_size covers it).
 * Op authors normally never touch this file directly: coarsenet/op.h builds these tables from
 * ordinary C++ functions.
 */
#ifndef COARSENET_C_API_H_
#define COARSENET_C_API_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CN_ABI_VERSION_MAJOR 1
#define CN_ABI_VERSION_MINOR 4
#define CN_MAX_NDIM 8
#define CN_ERROR_MSG_BYTES 1024

/* Element types; the codes are MXNet's dtype flags, so .params files map one to one. */
typedef enum {
  CN_FLOAT32 = 0,
  CN_FLOAT64 = 1,
  CN_FLOAT16 = 2,
  CN_UINT8 = 3,
  CN_INT32 = 4,
  CN_INT8 = 5,
  CN_INT64 = 6
} cn_dtype;

/* What a kernel must do with one output or input gradient (MXNet's OpReqType codes). */
typedef enum {
  CN_REQ_NULL = 0,     /* not wanted: do not touch the buffer */
  CN_REQ_WRITE = 1,    /* overwrite */
  CN_REQ_INPLACE = 2,  /* overwrite; the buffer is shared with an input (same as WRITE for kernels) */
  CN_REQ_ADD = 3       /* add into what the buffer already holds */
} cn_req;

/* Op flags consumed by the graph passes and autograd. */
enum {
  CN_FLAG_NONDETERMINISTIC = 1, /* output depends on the RNG (Dropout): replay the seed to recompute */
  CN_FLAG_UPDATES_AUX = 2,      /* forward in training mode writes aux states (BatchNorm) */
  CN_FLAG_EXPENSIVE = 4,        /* costly to recompute (Conv, FC): preferred mirror checkpoints */
  CN_FLAG_NO_GRAD = 8,          /* has no gradient (BlockGrad-like ops return zeros or nothing) */
  CN_FLAG_LOSS = 16             /* backward ignores head gradients and produces the loss gradient */
};

/* Modes in which a call may run as independent calls on slices of the batch (cn_op_def.batch_split). */
enum {
  CN_BATCH_INFERENCE = 1, /* calls with is_train = 0 (forward, and backward of inference mode) */
  CN_BATCH_TRAIN = 2      /* calls with is_train = 1 */
};

typedef struct {
  int32_t ndim; /* -1: unknown (shape inference fills it) */
  int64_t dims[CN_MAX_NDIM];
} cn_shape;

/* A dense, C-contiguous view. `data` may be NULL for tensors the op said it does not need. */
typedef struct {
  void* data;
  int32_t dtype;
  int32_t ndim;
  int64_t dims[CN_MAX_NDIM];
} cn_tensor;

typedef struct {
  char message[CN_ERROR_MSG_BYTES];
} cn_error;

/* Services the host lends to every op library: one BLAS, one thread pool, for built-ins and
 * plugins alike. GEMM is row-major; trans_a / trans_b are 0 or 1. When called from inside a
 * parallel_for body, gemm runs single-threaded (one threading layer at a time). */
typedef struct {
  uint32_t struct_size;
  void (*sgemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc);
  void (*dgemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
                int64_t ldc);
  /* Calls body(user, begin, end) on disjoint chunks covering [0, n), in parallel. The body must not
   * throw; it reports failure through its own state. */
  void (*parallel_for)(int64_t n, int64_t grain, void (*body)(void* user, int64_t begin, int64_t end),
                       void* user);
  int (*num_threads)(void);
} cn_host_api;

/* Per-call context. `seed` is fixed per node and per step by the caller, so a recomputation
 * (mirror, checkpoint) that passes the same seed reproduces the same random numbers. */
typedef struct {
  uint32_t struct_size;
  int32_t is_train;
  int32_t is_recompute; /* forward re-run during backward: do not update aux states again */
  uint64_t seed;
  const cn_host_api* host;
  /* ---- ABI 1.3 (read only when struct_size covers it) ---- */
  /* Threads this call's kernels plan for: the count its workspace was sized with (see
   * cn_op_def.workspace_elems_threads). The host's thread pool may run the plan on fewer. */
  int32_t num_threads;
} cn_op_ctx;

/* The names an op instance has once its params are known (Concat's num_args, no_bias, ...).
 * Strings are owned by the op's param state and live as long as it. */
typedef struct {
  int32_t num_inputs;
  const char* const* input_names;
  int32_t num_outputs;
  const char* const* output_names;
  int32_t num_visible_outputs; /* the first ones; the rest are hidden (BatchNorm mean/var) */
  int32_t num_aux;
  const char* const* aux_names;
} cn_signature;

/* What backward reads; an entry of 0 lets the memory planner free that buffer after forward. */
typedef struct {
  int32_t* inputs;    /* [num_inputs] */
  int32_t* outputs;   /* [num_outputs] */
  int32_t* out_grads; /* [num_outputs] */
} cn_backward_needs;

typedef struct {
  const char* name;
  const char* type_name; /* for docs: "int", "float", "boolean", "Shape(tuple)", "{'max','avg'}" */
  const char* default_value; /* string form; NULL when required */
  const char* doc;
} cn_param_info;

/* One op. Callbacks receive the opaque param state made by `parse_params`. */
typedef struct cn_op_def {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* name;
  const char* doc;
  int32_t num_params;
  const cn_param_info* params;
  uint32_t flags;
  const void* op_data; /* the library's own description of the op, handed back to parse_params */

  /* Parse MXNet-style string attributes into a param state; unknown keys and bad values fail. */
  int (*parse_params)(const void* op_data, int32_t num, const char* const* keys,
                      const char* const* values, void** state, cn_error* err);
  void (*free_params)(void* state);
  int (*signature)(const void* state, cn_signature* out, cn_error* err);

  /* Shapes: unknown entries have ndim = -1. Fills outputs and aux, and may fill unknown inputs
   * (FullyConnected's weight from data and num_hidden). */
  int (*infer_shape)(const void* state, cn_shape* in, cn_shape* out, cn_shape* aux, cn_error* err);
  /* dtypes: -1 unknown. NULL means every input, output and aux share the first known dtype. */
  int (*infer_type)(const void* state, int32_t* in, int32_t* out, int32_t* aux, cn_error* err);

  int (*forward)(const void* state, const cn_op_ctx* ctx, const cn_tensor* in,
                 const cn_tensor* out, const int32_t* req, const cn_tensor* aux, void* workspace,
                 cn_error* err);
  /* out_grads, in, out are indexed like the forward's; entries backward_needs left out are empty.
   * req has one entry per input gradient. NULL for ops without gradient. */
  int (*backward)(const void* state, const cn_op_ctx* ctx, const cn_tensor* out_grads,
                  const cn_tensor* in, const cn_tensor* out, const cn_tensor* in_grads,
                  const int32_t* req, const cn_tensor* aux, void* workspace, cn_error* err);
  int (*backward_needs)(const void* state, cn_backward_needs* needs, cn_error* err);

  /* Pairs (input i, output j) that may share one buffer in forward, and (output-grad j,
   * input-grad i) in backward. Writes at most `capacity` pairs as i0, j0, i1, j1, ...;
   * returns the count. */
  int32_t (*inplace_pairs)(const void* state, int32_t* pairs, int32_t capacity);
  int32_t (*backward_inplace_pairs)(const void* state, int32_t* pairs, int32_t capacity);

  /* Scratch bytes for one call with these (fully known) shapes. */
  int (*workspace_bytes)(const void* state, const cn_shape* in, const cn_shape* out,
                         int32_t is_backward, uint64_t* bytes, cn_error* err);

  /* ---- ABI 1.1 ---- */
  /* Scratch for one call in elements of the call's dtype (its first input's, or its first
   * output's when it has no input), so a float32 call gets half a float64 call's bytes. When
   * set, the host uses it instead of workspace_bytes. NULL: workspace_bytes decides. */
  int (*workspace_elems)(const void* state, const cn_shape* in, const cn_shape* out,
                         int32_t is_backward, uint64_t* elems, cn_error* err);

  /* ---- ABI 1.2 ---- */
  /* How ONNX export writes this op (user ops, which coarsenet has no mapping for): a node of
   * type `onnx_op_type` in the custom domain `onnx_domain`, its attributes the op's params as
   * MXNet strings; import turns such nodes back into the op. NULL: no mapping. */
  const char* onnx_domain;
  const char* onnx_op_type;

  /* ---- ABI 1.3 ---- */
  /* As workspace_elems, for a call whose kernels plan for `num_threads` threads (parallel
   * slots each with its own scratch): the host passes the same count in cn_op_ctx.num_threads
   * of every call it sizes this way. When set (and the op declares abi_minor >= 3), the host
   * uses it instead of workspace_elems and workspace_bytes. */
  int (*workspace_elems_threads)(const void* state, const cn_shape* in, const cn_shape* out,
                                 int32_t is_backward, int32_t num_threads, uint64_t* elems,
                                 cn_error* err);

  /* ---- ABI 1.4 ---- */
  /* Batch separability: may one call run as independent calls on slices of axis 0 (the batch)?
   * Writes sliced_in[i] (one per input) and sliced_out[j] (one per output): 1 for a tensor that
   * is cut along axis 0 (its gradient too), 0 for one every slice gets whole (weights, biases,
   * per-channel outputs). Returns a mask of CN_BATCH_* modes (0: never split). The host gives
   * an unsliced output's write to the first slice only and sums an unsliced input's gradient
   * over the slices in a fixed order; aux states go whole to every slice and must not be
   * written in a mode the mask names (BatchNorm in training is therefore not separable).
   * NULL, or a library older than ABI 1.4: never split. */
  int32_t (*batch_split)(const void* state, int32_t* sliced_in, int32_t* sliced_out);
} cn_op_def;

/* cn_op_def as ABI 1.0 wrote it: the smallest struct_size the host accepts. */
#define CN_OP_DEF_SIZE_1_0 (offsetof(cn_op_def, workspace_elems))
/* ... and as ABI 1.1 wrote it. */
#define CN_OP_DEF_SIZE_1_1 (offsetof(cn_op_def, onnx_domain))
/* ... and as ABI 1.2 wrote it. */
#define CN_OP_DEF_SIZE_1_2 (offsetof(cn_op_def, workspace_elems_threads))
/* ... and as ABI 1.3 wrote it. */
#define CN_OP_DEF_SIZE_1_3 (offsetof(cn_op_def, batch_split))
/* cn_op_ctx before ABI 1.3 (no num_threads). */
#define CN_OP_CTX_SIZE_1_2 (offsetof(cn_op_ctx, num_threads))

/* A library registers its ops by calling `add_op` for each; the host copies what it keeps. */
typedef struct {
  uint32_t struct_size;
  void* host_state;
  int (*add_op)(void* host_state, const cn_op_def* def, cn_error* err);
} cn_registrar;

/* The one symbol a plugin library exports. */
typedef int (*cn_plugin_entry_fn)(const cn_host_api* host, const cn_registrar* registrar,
                                  uint32_t host_abi_major, cn_error* err);
#define CN_PLUGIN_ENTRY_NAME "coarsenet_register_ops"

#ifdef __cplusplus
}
#endif

#endif /* COARSENET_C_API_H_ */
