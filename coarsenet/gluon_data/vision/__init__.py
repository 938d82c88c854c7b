"""gluon.data.vision: standard image datasets and transforms."""
from ..dataset import ImageFolderDataset, ImageListDataset, ImageRecordDataset  # noqa: F401
from . import transforms  # noqa: F401
from .datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST  # noqa: F401
