"""Runs the ```python blocks of MXNet tutorial markdown files one after another in one namespace,
as a reader pasting them would; a failing block is recorded and the next one still runs.

    python tools/mxnet_tutorial_blocks.py [--coarsenet] FILE.md ...

Prints one line per file, "@@RESULT " + JSON {"file", "blocks", "passed", "failures":
[[index, error], ...]}, among what the blocks print.
With --coarsenet, `import mxnet` resolves to coarsenet (coarsenet.compat.alias_mxnet()).
Notebook magics (lines starting with % or !) are dropped.
"""
from __future__ import annotations

import json
import os
import re
import sys
import traceback

# ```python and the notebook form ```{.python .input  n=3}; ```{.python .output} is not code.
_BLOCK = re.compile(r"^```(?:python|\{\.python \.input[^}]*\})[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = []
    for m in _BLOCK.finditer(text):
        code = "\n".join(ln for ln in m.group(1).splitlines()
                         if not ln.lstrip().startswith(("%", "!")))
        if code.strip():
            out.append(code)
    return out


def run_file(path: str) -> dict:
    namespace = {"__name__": "__main__"}
    failures = []
    codes = blocks(path)
    cwd = os.getcwd()
    for i, code in enumerate(codes):
        try:
            exec(compile(code, f"{os.path.basename(path)}[{i}]", "exec"), namespace)  # noqa: S102 - running the tutorial is the point
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            failures.append([i, last[:200]])
        finally:
            os.chdir(cwd)
    return {"file": path, "blocks": len(codes), "passed": len(codes) - len(failures),
            "failures": failures}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--coarsenet":
        from coarsenet.compat import alias_mxnet

        alias_mxnet()
        argv = argv[1:]
    try:
        import matplotlib

        matplotlib.use("Agg")  # tutorials plot; nothing may open a window
    except ImportError:
        pass
    for path in argv:
        result = run_file(path)
        print("@@RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
