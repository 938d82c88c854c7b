// The built-in op "Custom" whose kernels are Python callbacks (coarsenet.operator).
#ifndef COARSENET_BINDINGS_CUSTOM_OP_H_
#define COARSENET_BINDINGS_CUSTOM_OP_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace cn::bindings {

// Adds op "Custom" to the registry (once, when _core is imported).
void RegisterCustomOp();
// coarsenet.operator hands over its factory: (op_type, kwargs) -> per-instance Python object.
void SetCustomOpFactory(pybind11::object factory);

}  // namespace cn::bindings

#endif  // COARSENET_BINDINGS_CUSTOM_OP_H_
