"""`mx.util`: device queries. coarsenet computes on the CPU only."""


def get_gpu_count() -> int:
    return 0


def get_gpu_memory(gpu_dev_id: int = 0):
    from .base import CoarsenetError

    raise CoarsenetError(f"get_gpu_memory({gpu_dev_id}): coarsenet has no GPUs (CPU only)")
