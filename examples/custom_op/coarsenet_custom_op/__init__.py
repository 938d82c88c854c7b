"""Example coarsenet op library. Importing it registers ScaledTanh and SquaredDistance, which
then appear as cn.nd.ScaledTanh, cn.sym.ScaledTanh, in cn.ops.list() and in saved graphs."""
import glob
import os

import coarsenet as cn

_here = os.path.dirname(os.path.abspath(__file__))
_libs = glob.glob(os.path.join(_here, "libcustom_ops*.so"))
if not _libs:
    raise ImportError(f"coarsenet_custom_op: libcustom_ops.so not found in {_here}; "
                      "install the package with pip (it compiles the C++ ops)")

ops = cn.load_op_library(_libs[0])
"""The op names this library added."""
