"""mx.model: the namespace. Checkpoint files live in model_base, FeedForward in feedforward
(which saves and loads through model_base): imports go one way.
"""
from .base_module import BatchEndParam  # noqa: F401  mx.model.BatchEndParam
from .feedforward import FeedForward  # noqa: F401  mx.model.FeedForward
from .model_base import *  # noqa: F401,F403  save_checkpoint, load_checkpoint, ...
