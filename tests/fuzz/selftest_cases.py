"""Targets that misbehave on purpose, to test the harness itself (test_fuzz_ops.py)."""
import os
import time

import coarsenet as cn


def case(seed: int) -> None:
    if seed == 1:
        raise cn.CoarsenetError("rejected cleanly")
    if seed == 2:
        os.abort()  # a crash: the worker dies, the case is blamed, the batch resumes
    if seed == 3:
        raise ValueError("an escape that is not a CoarsenetError")
    if seed == 4:
        time.sleep(3600)  # a hang: the batch timeout kills it
