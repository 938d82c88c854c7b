"""Put on PYTHONPATH by tools/mxnet_scoreboard.py for runs of *real* MXNet only.

MXNet's gluon.data.vision datasets accept a file under ~/.mxnet/datasets only when its SHA-1 is
that of the published file; the scoreboard places small synthetic files there (no network), so
without this MXNet would try to download and fail. This makes MXNet's dataset check accept the
locally placed file, as coarsenet's datasets do; nothing else of MXNet changes.
"""
import importlib.abc
import importlib.machinery
import sys


class _AcceptLocalData(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "mxnet.gluon.utils":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.check_sha1 = lambda filename, sha1_hash: True

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _AcceptLocalData())
