"""Devices, MXNet style. coarsenet computes on the CPU only; `ctx=` arguments are accepted so
MXNet scripts run unchanged, and asking for a GPU fails clearly."""
from __future__ import annotations

from .base import CoarsenetError


class Context:
    def __init__(self, device_type: str = "cpu", device_id: int = 0):
        if device_type not in ("cpu", "cpu_pinned", "cpu_shared"):
            raise CoarsenetError(
                f"device '{device_type}({device_id})' is not available: coarsenet runs on the CPU "
                "only; use cn.cpu()")
        self.device_type = "cpu"
        self.device_id = device_id

    def __repr__(self) -> str:
        return f"cpu({self.device_id})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Context)

    def __hash__(self) -> int:
        return hash("cpu")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def cpu(device_id: int = 0) -> Context:
    return Context("cpu", device_id)


def gpu(device_id: int = 0) -> Context:
    return Context("gpu", device_id)


def current_context() -> Context:
    return cpu()


def num_gpus() -> int:
    return 0
