"""Graph passes, one per module, each a pure function named like its module.

Pipeline of an executor: infer_shape -> infer_type -> gradient -> (mirror) -> schedule ->
plan_memory.
"""
from .gradient import gradient  # noqa: F401
from .infer_shape import infer_shape  # noqa: F401
from .infer_type import infer_type  # noqa: F401
from .plan_memory import plan_memory  # noqa: F401
from .schedule import schedule  # noqa: F401
