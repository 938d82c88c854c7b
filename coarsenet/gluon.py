"""MXNet's `mxnet.gluon` names: gluon.nn, gluon.loss, gluon.Trainer, gluon.Parameter.

`from coarsenet.gluon.nn import Dense` works too: the submodules are registered under these
names, so MXNet imports port by renaming the package only.
"""
import sys

from . import nn  # noqa: F401
from .nn import Block, HybridBlock, Parameter, ParameterDict, Trainer, loss  # noqa: F401

sys.modules[__name__ + ".nn"] = nn
sys.modules[__name__ + ".loss"] = loss

from .nn import rnn  # gluon.rnn: recurrent layers and cells

sys.modules[__name__ + ".rnn"] = rnn
# gluon.data lives in coarsenet/gluon_data (gluon is a module, not a package).
from . import gluon_data as data

sys.modules[__name__ + ".data"] = data
for _sub in ("dataset", "sampler", "dataloader", "vision", "vision.transforms", "vision.datasets"):
    sys.modules[f"{__name__}.data.{_sub}"] = sys.modules[f"{data.__name__}.{_sub}"]

from . import gluon_utils as utils  # gluon.utils: split_and_load, clip_global_norm, download

sys.modules[__name__ + ".utils"] = utils

# gluon.model_zoo(.vision, .model_store) lives in coarsenet/gluon_model_zoo.
from . import gluon_model_zoo as model_zoo  # noqa: E402

sys.modules[__name__ + ".model_zoo"] = model_zoo
for _sub in ("vision", "model_store", "vision.resnet", "vision.vgg", "vision.alexnet",
             "vision.densenet", "vision.squeezenet", "vision.mobilenet", "vision.inception"):
    sys.modules[f"{__name__}.model_zoo.{_sub}"] = sys.modules[f"{model_zoo.__name__}.{_sub}"]

# gluon.contrib.nn: the containers the model zoo uses (HybridConcurrent, Identity).
import types as _types  # noqa: E402

from .nn import concurrent as _concurrent  # noqa: E402

contrib = _types.ModuleType(__name__ + ".contrib", "MXNet's gluon.contrib (its nn part).")
contrib.nn = _concurrent
sys.modules[__name__ + ".contrib"] = contrib
sys.modules[__name__ + ".contrib.nn"] = _concurrent
