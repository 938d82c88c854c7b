"""Training callbacks, MXNet style: Speedometer, do_checkpoint, log_train_metric,
module_checkpoint, LogValidationMetricsCallback, ProgressBar."""
from __future__ import annotations

import logging
import math
import time


class Speedometer:
    """Logs samples/s and the running metric every `frequent` batches."""

    def __init__(self, batch_size: int, frequent: int = 50, auto_reset: bool = True):
        self.batch_size, self.frequent, self.auto_reset = batch_size, frequent, auto_reset
        self._tic = None
        self._last = 0

    def __call__(self, param) -> None:
        if self._tic is None or param.nbatch < self._last:
            self._tic, self._last = time.time(), param.nbatch
            return
        if param.nbatch % self.frequent == 0:
            speed = self.frequent * self.batch_size / max(time.time() - self._tic, 1e-9)
            metrics = ""
            if param.eval_metric is not None:
                metrics = " ".join(f"{n}={v:.6f}" for n, v in param.eval_metric.get_name_value())
                if self.auto_reset:
                    param.eval_metric.reset()
            logging.info("Epoch[%d] Batch [%d]\tSpeed: %.2f samples/sec\t%s", param.epoch,
                         param.nbatch, speed, metrics)
            self._tic = time.time()
        self._last = param.nbatch


def do_checkpoint(prefix: str, period: int = 1):
    """An epoch-end callback saving prefix-symbol.json and prefix-%04d.params every `period`."""
    from . import model

    period = max(1, int(period))

    def callback(epoch, symbol, arg_params, aux_params):
        if (epoch + 1) % period == 0:
            model.save_checkpoint(prefix, epoch + 1, symbol, arg_params, aux_params)

    return callback


def log_train_metric(period: int, auto_reset: bool = False):
    def callback(param):
        if param.nbatch % period == 0 and param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                logging.info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch, name,
                             value)
            if auto_reset:
                param.eval_metric.reset()

    return callback


def module_checkpoint(mod, prefix: str, period: int = 1, save_optimizer_states: bool = False):
    """An epoch-end callback saving `mod` (a Module) every `period` epochs as
    prefix-symbol.json / prefix-EPOCH.params (and .states when asked)."""
    period = int(max(1, period))

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            mod.save_checkpoint(prefix, iter_no + 1, save_optimizer_states)

    return _callback


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """mx.callback.save_checkpoint, the same function as mx.model.save_checkpoint."""
    from .model_base import save_checkpoint as save

    save(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast)


class LogValidationMetricsCallback:
    """An eval-end callback logging each validation metric (Epoch[N] Validation-name=value)."""

    def __call__(self, param) -> None:
        if not param.eval_metric:
            return
        for name, value in param.eval_metric.get_name_value():
            logging.info("Epoch[%d] Validation-%s=%f", param.epoch, name, value)


class ProgressBar:
    """A batch-end callback logging a text bar of nbatch / total."""

    def __init__(self, total: int, length: int = 80):
        self.bar_len, self.total = length, total

    def __call__(self, param) -> None:
        count = param.nbatch
        filled = int(round(self.bar_len * count / float(self.total)))
        percents = math.ceil(100.0 * count / float(self.total))
        logging.info("[%s] %s%s\r", "=" * filled + "-" * (self.bar_len - filled), percents, "%")
