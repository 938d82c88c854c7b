"""MXNet's `gluon.model_zoo`: `vision` networks with MXNet's exact block structure and parameter
names, so the .params files MXNet's model zoo published load with `net.load_parameters(file)`,
and `model_store.get_model_file` finding them under `root` (~/.mxnet/models by default)."""
from . import model_store, vision  # noqa: F401
from .vision import get_model  # noqa: F401
