"""One batch of file-mutation fuzz cases, run in its own process by test_fuzz_files.py so that a
crash or a hang fails the batch instead of ending the test run.

    python tests/fuzz/fuzz_files_worker.py SEED FIRST COUNT

Case i mutates one file of a small corpus (symbol JSON and .params written by coarsenet itself)
with a generator seeded by (SEED, i), so a failing case replays alone with COUNT=1. Each mutated
file is loaded; a symbol that loads is shape-inferred and, when small, bound and run forward.
Any outcome but success or CoarsenetError is printed as "ESCAPE <case> ..." and the exit status
is 1.
"""
from __future__ import annotations

import faulthandler
import json
import os
import re
import sys
import tempfile
import traceback

import numpy as np

import coarsenet as cn

# Values that broke loaders before: limits of int32/int64, huge literals, wrong types.
EXTREME_NUMBERS = ["0", "-1", "1", "2147483647", "2147483648", "4294967297", "-2147483649",
                   "9223372036854775807", "9223372036854775808", "18446744073709551617",
                   "1e308", "-1e308", "1.5", "nan", "inf", "9" * 5000, "2000000000"]
ODD_JSON_VALUES = [None, True, 1, -1, 2**63, 1.5, "", "x", "2000000000", [], {}, [[0, 0, 0]],
                   {"a": "b"}, "(2, 3", "(" * 200, "\u00ff\u0000", [[]] * 3]
MAX_BIND_BYTES = 16 << 20   # forward only graphs this small, so cases stay fast
CASE_TIMEOUT_S = 30         # one case takes milliseconds


def corpus(directory: str) -> list:
    """(kind, bytes) seeds: graphs with variables, params, aux states, declared shapes and
    dtypes and counted inputs/outputs, and .params of every dtype."""
    data = cn.sym.Variable("data", shape=(2, 1, 8, 8), dtype="float32")
    conv = cn.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name="conv")
    bn = cn.sym.BatchNorm(conv, name="bn")
    pool = cn.sym.Pooling(cn.sym.Activation(bn, act_type="relu"), kernel=(2, 2), stride=(2, 2),
                          pool_type="max")
    parts = cn.sym.SliceChannel(pool, num_outputs=2, axis=1, name="split")
    joined = cn.sym.Concat(parts[0], parts[1], dim=1, num_args=2, name="cat")
    summed = cn.sym.add_n(joined, joined, num_args=2, name="sum")
    fc = cn.sym.FullyConnected(cn.sym.Flatten(summed), num_hidden=3, name="fc")
    net = cn.sym.SoftmaxOutput(fc, name="softmax")
    seeds = [("symbol", net.tojson().encode()),
             ("symbol", cn.model_zoo.get_symbol("mlp", num_classes=4).tojson().encode())]
    rng = np.random.default_rng(0)
    arrays = {"arg:w": rng.standard_normal((3, 4)).astype(np.float32),
              "arg:b": rng.standard_normal(3),
              "aux:m": np.arange(5, dtype=np.int64), "aux:u": np.zeros((2, 0, 2), np.uint8),
              "arg:h": np.ones((2, 2), np.float16), "arg:i": np.arange(3, dtype=np.int32),
              "arg:j": np.arange(3, dtype=np.int8)}
    path = os.path.join(directory, "seed.params")
    cn.nd.save(path, {k: cn.nd.array(v, dtype=v.dtype) for k, v in arrays.items()})
    with open(path, "rb") as f:
        seeds.append(("params", f.read()))
    cn.nd.save(path, [cn.nd.array(arrays["arg:w"])])
    with open(path, "rb") as f:
        seeds.append(("params", f.read()))
    return seeds


def mutate_bytes(data: bytes, rng) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        choice = int(rng.integers(0, 7))
        pos = int(rng.integers(0, len(b) + 1)) if b else 0
        if choice == 0 and b:                      # flip a bit
            pos = min(pos, len(b) - 1)
            b[pos] ^= 1 << int(rng.integers(0, 8))
        elif choice == 1 and b:                    # random byte
            b[min(pos, len(b) - 1)] = int(rng.integers(0, 256))
        elif choice == 2:                          # insert random bytes
            b[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        elif choice == 3:                          # delete a range
            del b[pos:pos + int(rng.integers(1, 32))]
        elif choice == 4:                          # truncate
            del b[pos:]
        elif choice == 5:                          # duplicate a range (or append a copy)
            end = pos + int(rng.integers(1, 64))
            b[end:end] = b[pos:end] if rng.random() < 0.8 else bytes(data)
        else:                                      # an extreme 8-byte word (counts, dims, ndim)
            words = [0, 1, 2**31, 2**32 + 1, 2**62, 2**63 - 1, 2**64 - 1]
            word = words[int(rng.integers(0, len(words)))]
            b[pos:pos + 8] = word.to_bytes(8, "little")
    return bytes(b)


def mutate_json_text(text: str, rng) -> str:
    """Replaces a number (in a string or not) with an extreme one."""
    spans = [m.span() for m in re.finditer(r"-?\d+", text)]
    for _ in range(int(rng.integers(1, 3))):
        if not spans:
            break
        start, end = spans[int(rng.integers(0, len(spans)))]
        text = text[:start] + EXTREME_NUMBERS[int(rng.integers(0, len(EXTREME_NUMBERS)))] + text[end:]
        spans = [m.span() for m in re.finditer(r"-?\d+", text)]
    return text


def mutate_json_tree(text: str, rng) -> str:
    """Replaces one value anywhere in the document with a value of another type, or deletes or
    duplicates one list item or object key."""
    doc = json.loads(text)
    paths = []

    def walk(value, path):
        paths.append(path)
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, path + [k])
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, path + [i])

    walk(doc, [])
    path = paths[int(rng.integers(1, len(paths)))]
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = rng.random()
    if action < 0.15:
        del parent[key]
    elif action < 0.25 and isinstance(parent, list):
        parent.insert(key, parent[key])
    else:
        parent[key] = ODD_JSON_VALUES[int(rng.integers(0, len(ODD_JSON_VALUES)))]
    return json.dumps(doc)


def make_case(seeds: list, seed: int, index: int):
    rng = np.random.default_rng([seed, index])
    kind, data = seeds[int(rng.integers(0, len(seeds)))]
    if kind == "symbol":
        way = rng.random()
        if way < 0.35:
            data = mutate_json_tree(data.decode(), rng).encode()
        elif way < 0.7:
            data = mutate_json_text(data.decode(), rng).encode()
        else:
            data = mutate_bytes(data, rng)
    else:
        data = mutate_bytes(data, rng)
    return kind, data


def exercise(kind: str, path: str) -> str:
    """How far the case got: 'loaded', 'inferred' or 'ran'."""
    if kind == "params":
        cn.nd.load(path)
        return "loaded"
    net = cn.sym.load(path)
    args = net.list_arguments()
    known = {"data": (2, 1, 8, 8)} if "data" in args else {}
    arg_shapes, _, aux_shapes = net.infer_shape_partial(**known)
    shapes = [s for s in arg_shapes + aux_shapes if s is not None]
    if len(shapes) < len(arg_shapes) + len(aux_shapes):
        return "loaded"
    if sum(int(np.prod(s, dtype=object)) for s in shapes) * 8 > MAX_BIND_BYTES:
        return "inferred"
    ex = net.simple_bind(cn.cpu(), grad_req="null", **known)
    for a in ex.arg_arrays:
        a[:] = 0.5
    ex.forward(is_train=False)
    for out in ex.outputs:
        out.asnumpy()
    return "ran"


def main(argv) -> int:
    seed, first, count = (int(v) for v in argv[1:4])
    escapes = 0
    outcomes = {"error": 0, "loaded": 0, "inferred": 0, "ran": 0}
    with tempfile.TemporaryDirectory() as tmp:
        seeds = corpus(tmp)
        for index in range(first, first + count):
            kind, data = make_case(seeds, seed, index)
            path = os.path.join(tmp, "case-symbol.json" if kind == "symbol" else "case.params")
            with open(path, "wb") as f:
                f.write(data)
            # A hang is a failure too: after CASE_TIMEOUT_S the process prints every thread's
            # stack and exits (faulthandler acts even while C++ code holds the GIL).
            os.write(2, f"case {index}\n".encode())
            faulthandler.dump_traceback_later(CASE_TIMEOUT_S, exit=True)
            try:
                outcomes[exercise(kind, path)] += 1
            except cn.CoarsenetError:
                outcomes["error"] += 1
            except BaseException as e:  # noqa: BLE001  anything else is what this fuzzer seeks
                escapes += 1
                tb = traceback.format_exc().strip().splitlines()[-4:]
                print(f"ESCAPE case {index} ({kind}): {type(e).__name__}: {str(e)[:300]}\n  "
                      + "\n  ".join(tb), flush=True)
    faulthandler.cancel_dump_traceback_later()
    tally = ", ".join(f"{k} {v}" for k, v in outcomes.items())
    print(f"done {count} cases, {escapes} escapes ({tally})", flush=True)
    return 1 if escapes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
