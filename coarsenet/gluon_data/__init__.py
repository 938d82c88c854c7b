"""MXNet's gluon.data: datasets, samplers, DataLoader and vision (reachable as
coarsenet.gluon.data and `from coarsenet.gluon.data.vision import transforms`)."""
from . import vision  # noqa: F401
from .dataloader import DataLoader, default_batchify_fn  # noqa: F401
from .dataset import (  # noqa: F401
                      ArrayDataset,
                      Dataset,
                      ImageFolderDataset,
                      ImageListDataset,
                      ImageRecordDataset,
                      RecordFileDataset,
                      SimpleDataset,
)
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler  # noqa: F401
