"""Learning-rate schedules (MXNet's names): lr as a function of the update count, with warm-up."""
from __future__ import annotations

import math

from .base import CoarsenetError


class LRScheduler:
    """A constant learning rate after an optional warm-up; the base of the decaying schedules.
    `scheduler(num_update)` returns the learning rate for that update.

    warmup_steps updates ramp from warmup_begin_lr to base_lr ('linear') or stay at
    warmup_begin_lr ('constant') before the schedule proper starts.
    """

    def __init__(self, base_lr: float = 0.01, warmup_steps: int = 0, warmup_begin_lr: float = 0.0,
                 warmup_mode: str = "linear"):
        if warmup_mode not in ("linear", "constant"):
            raise CoarsenetError(
                f"LRScheduler: warmup_mode must be 'linear' or 'constant', found '{warmup_mode}'")
        if warmup_steps < 0:
            raise CoarsenetError(f"LRScheduler: warmup_steps must be >= 0, found {warmup_steps}")
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.warmup_begin_lr = warmup_begin_lr
        self.warmup_final_lr = base_lr
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update: int) -> float:
        if self.warmup_mode == "constant":
            return self.warmup_begin_lr
        fraction = num_update / self.warmup_steps
        return self.warmup_begin_lr + (self.warmup_final_lr - self.warmup_begin_lr) * fraction

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        return self.base_lr


class FactorScheduler(LRScheduler):
    """lr = base_lr * factor ** k after k full `step`s have passed (MXNet: decay once
    num_update > k * step), never below stop_factor_lr."""

    def __init__(self, step: int, factor: float = 1.0, stop_factor_lr: float = 1e-8,
                 base_lr: float = 0.01, **warmup):
        super().__init__(base_lr, **warmup)
        if step < 1:
            raise CoarsenetError(f"FactorScheduler: step must be >= 1, found {step}")
        if factor > 1.0:
            raise CoarsenetError(f"FactorScheduler: factor must be <= 1 to decay, found {factor}")
        self.step, self.factor, self.stop_factor_lr = step, factor, stop_factor_lr

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        decays = max(0, num_update - self.warmup_steps - 1) // self.step
        return max(self.base_lr * self.factor ** decays, self.stop_factor_lr)


class MultiFactorScheduler(LRScheduler):
    """lr is multiplied by factor each time num_update passes one of the increasing `step`s."""

    def __init__(self, step: list[int], factor: float = 1.0, base_lr: float = 0.01, **warmup):
        super().__init__(base_lr, **warmup)
        if not step or any(b <= a for a, b in zip(step, step[1:])) or step[0] < 1:
            raise CoarsenetError(
                f"MultiFactorScheduler: step must be a non-empty increasing list of positive "
                f"integers, found {step}")
        self.step, self.factor = list(step), factor

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        passed = sum(1 for s in self.step if num_update > s)
        return self.base_lr * self.factor ** passed


class CosineScheduler(LRScheduler):
    """Cosine decay from base_lr to final_lr over max_update updates (after warm-up)."""

    def __init__(self, max_update: int, base_lr: float = 0.01, final_lr: float = 0.0, **warmup):
        super().__init__(base_lr, **warmup)
        if max_update < 1:
            raise CoarsenetError(f"CosineScheduler: max_update must be >= 1, found {max_update}")
        self.max_update, self.final_lr = max_update, final_lr

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        span = max(1, self.max_update - self.warmup_steps)
        t = min(num_update - self.warmup_steps, span) / span
        return self.final_lr + (self.base_lr - self.final_lr) * (1 + math.cos(math.pi * t)) / 2


class PolyScheduler(LRScheduler):
    """Polynomial decay: base_lr * (1 - t/max_update) ** pwr, down to final_lr."""

    def __init__(self, max_update: int, base_lr: float = 0.01, pwr: float = 2.0,
                 final_lr: float = 0.0, **warmup):
        super().__init__(base_lr, **warmup)
        if max_update < 1:
            raise CoarsenetError(f"PolyScheduler: max_update must be >= 1, found {max_update}")
        self.max_update, self.pwr, self.final_lr = max_update, pwr, final_lr

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        span = max(1, self.max_update - self.warmup_steps)
        t = min(num_update - self.warmup_steps, span) / span
        return self.final_lr + (self.base_lr - self.final_lr) * (1 - t) ** self.pwr
