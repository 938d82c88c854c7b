"""Devices, MXNet style. coarsenet computes on the CPU only; `ctx=` arguments are accepted so
MXNet scripts run unchanged. As in MXNet on a machine without a GPU, `mx.gpu()` makes a context
object (scripts write `dev=mx.gpu()` as a default argument), and putting data on it fails clearly."""
from __future__ import annotations

from .base import CoarsenetError


class Context:
    def __init__(self, device_type: str = "cpu", device_id: int = 0):
        if device_type not in ("cpu", "cpu_pinned", "cpu_shared", "gpu"):
            raise CoarsenetError(f"unknown device type '{device_type}': expected cpu or gpu")
        self.device_type = "gpu" if device_type == "gpu" else "cpu"
        self.device_id = device_id

    def __repr__(self) -> str:
        return f"{self.device_type}({self.device_id})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Context) and other.device_type == self.device_type

    def __hash__(self) -> int:
        return hash(self.device_type)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def cpu(device_id: int = 0) -> Context:
    return Context("cpu", device_id)


def gpu(device_id: int = 0) -> Context:
    return Context("gpu", device_id)


def cpu_pinned(device_id: int = 0) -> Context:
    return Context("cpu_pinned", device_id)


def check_usable(ctx) -> None:
    """Raises when data is put on a device coarsenet cannot compute on (a GPU)."""
    for c in ctx if isinstance(ctx, (list, tuple)) else [ctx]:
        if isinstance(c, Context) and c.device_type != "cpu":
            raise CoarsenetError(f"device '{c}' is not available: coarsenet runs on the CPU "
                                 "only; use cn.cpu()")


def current_context() -> Context:
    return cpu()


def num_gpus() -> int:
    return 0
