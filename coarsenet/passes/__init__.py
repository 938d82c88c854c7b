"""Graph passes, one per module, each a pure function named like its module.

Pipeline of an executor (pipeline.build_plan): gradient -> infer_shape -> infer_type ->
schedule -> plan_memory, or gradient -> infer_shape -> infer_type -> mirror (which returns its
candidate already scheduled and planned). infer_shape and infer_type are the one fixed-point
loop of infer_attr with a rule each.
"""
from .gradient import gradient  # noqa: F401
from .infer_shape import infer_shape  # noqa: F401
from .infer_type import infer_type  # noqa: F401
from .plan_memory import plan_memory  # noqa: F401
from .schedule import schedule  # noqa: F401
