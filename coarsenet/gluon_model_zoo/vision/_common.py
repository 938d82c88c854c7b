"""Shared by the vision models: the pretrained-weights hook."""
from __future__ import annotations


def load_pretrained(net, name: str, root=None, ctx=None):
    """Loads MXNet's published weights of `name` (see model_store.get_model_file) into net."""
    from ..model_store import get_model_file

    net.load_parameters(get_model_file(name, root=root), ctx=ctx)
    return net
