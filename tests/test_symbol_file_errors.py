"""A damaged or hostile `-symbol.json` is a CoarsenetError at load time naming the file and the
node or field, never another exception type, a late failure at bind time, or a huge allocation
driven by a number in the file."""
import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

import coarsenet as cn


def mlp_doc():
    data = cn.sym.Variable("data")
    net = cn.sym.FullyConnected(data, num_hidden=4, name="fc")
    return json.loads(cn.sym.SoftmaxOutput(net, name="sm").tojson())


FC = 3  # index of the FullyConnected node in mlp_doc()


def load_error(tmp_path, content) -> str:
    path = tmp_path / "net-symbol.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(cn.CoarsenetError) as info:
        cn.sym.load(str(path))
    message = str(info.value)
    assert str(path) in message
    return message


def mutated(change):
    doc = mlp_doc()
    change(doc)
    return json.dumps(doc)


def test_non_utf8_bytes(tmp_path):
    message = load_error(tmp_path, b'{"nodes": [{"op": "null", "name": "\xff"}], "heads": []}')
    assert "UTF-8" in message and "0xff" in message


@pytest.mark.parametrize("text", ["[" * 100000 + "]" * 100000,
                                  '{"nodes": [{"op": "null", "name": "a", "attrs": '
                                  + '{"x": ' * 50000 + "1" + "}" * 50001 + '], "heads": []}'])
def test_deep_nesting(tmp_path, text):
    assert "nested too deeply" in load_error(tmp_path, text)


def test_huge_integer_literal(tmp_path):
    text = json.dumps(mlp_doc()).replace('"heads": [', '"heads": [[' + "9" * 5000 + ", 0, 0], ")
    assert "bad JSON value" in load_error(tmp_path, text)


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["nodes"][FC]["attrs"].update(num_hidden=4), "attrs['num_hidden'] must be a str"),
    (lambda d: d["nodes"][FC].update(attrs=["x"]), "'attrs' must be an object"),
    (lambda d: d["nodes"][FC].update(param=7), "'param' must be an object"),
    (lambda d: d["nodes"][FC].update(inputs={"a": 1}), "'inputs' must be a list"),
    (lambda d: d["nodes"][FC]["inputs"].__setitem__(0, [0, "0", 0]), "must be [node, output"),
    (lambda d: d["nodes"][FC]["inputs"].__setitem__(0, [0, True, 0]), "must be [node, output"),
    (lambda d: d.update(heads=[["x", 0, 0]]), "heads entry"),
    (lambda d: d.update(heads=[[4, 0.5, 0]]), "heads entry"),
    (lambda d: d["nodes"][0].update(name=3), "needs string 'op' and 'name'"),
])
def test_wrong_json_types_name_the_node_and_field(tmp_path, change, expected):
    message = load_error(tmp_path, mutated(change))
    assert expected in message


@pytest.mark.parametrize("attrs, field", [
    ({"__shape__": "(2, 3"}, "__shape__"),
    ({"__shape__": "__import__('os')"}, "__shape__"),
    ({"__shape__": "(-5, 3)"}, "__shape__"),
    ({"__shape__": "(2.5, 3)"}, "__shape__"),
    ({"__shape__": "(" + "9" * 5000 + ",)"}, "__shape__"),
    ({"__shape__": "(" * 3000 + ")" * 3000}, "__shape__"),
    ({"__dtype__": "99"}, "__dtype__"),
    ({"__dtype__": "abc"}, "__dtype__"),
    ({"__dtype__": "9" * 5000}, "__dtype__"),
    ({"__lr_mult__": "fast"}, "__lr_mult__"),
    ({"__wd_mult__": "nan"}, "__wd_mult__"),
    ({"__init__": '["nosuchinit", {}]'}, "__init__"),
    ({"__init__": "[" * 100000}, "__init__"),
    ({"__init__": '["xavier", {"bogus": 1}]'}, "__init__"),
])
def test_bad_shape_and_dtype_attrs_fail_at_load(tmp_path, attrs, field):
    message = load_error(tmp_path, mutated(lambda d: d["nodes"][0].update(attrs=attrs)))
    assert "node 0 ('data')" in message and field in message


def test_good_shape_and_dtype_attrs_still_load(tmp_path):
    path = tmp_path / "ok-symbol.json"
    path.write_text(mutated(lambda d: d["nodes"][0].update(
        attrs={"__shape__": "(2, 3)", "__dtype__": "1", "__lr_mult__": "0.5",
               "__init__": '["xavier", {"magnitude": 2}]'})))
    net = cn.sym.load(str(path))
    arg_shapes, _, _ = net.infer_shape()
    assert arg_shapes[0] == (2, 3)


def run_limited(code: str) -> subprocess.CompletedProcess:
    """Runs code in a child limited to 2 GiB of address space: an allocation driven by a number
    in the file shows as a failure instead of swapping the machine."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, preexec_fn=limit, env=env, check=False)


@pytest.mark.parametrize("op, attrs, expected", [
    ("add_n", {"num_args": "2000000000"}, "num_args=2000000000 but the node lists 2 inputs"),
    ("Concat", {"num_args": "2000000000", "dim": "1"}, "num_args=2000000000"),
    ("SliceChannel", {"num_outputs": "2000000000"}, "num_outputs=2000000000 is not between"),
    ("SliceChannel", {"num_outputs": "-2147483649"}, "num_outputs=-2147483649 is not between"),
    ("add_n", {"num_args": "-2147483646"}, "num_args=-2147483646 but"),
])
def test_declared_counts_are_checked_before_allocating(tmp_path, op, attrs, expected):
    doc = {"nodes": [{"op": "null", "name": "a", "inputs": []},
                     {"op": op, "name": "x", "attrs": attrs,
                      "inputs": [[0, 0, 0]] * (1 if op == "SliceChannel" else 2)}],
           "heads": [[1, 0, 0]]}
    path = tmp_path / "count-symbol.json"
    path.write_text(json.dumps(doc))
    result = run_limited(f"""
        import coarsenet as cn
        try:
            cn.sym.load({str(path)!r})
        except cn.CoarsenetError as e:
            print("CoarsenetError:", e)
        """)
    assert result.returncode == 0, result.stderr
    assert "CoarsenetError" in result.stdout and expected in result.stdout
    assert "bad_alloc" not in result.stdout


@pytest.mark.parametrize("num", [2**32 + 1, 2**40])
def test_huge_num_filter_is_an_error_before_numpy_allocates(tmp_path, num):
    doc = {"nodes": [{"op": "null", "name": "data", "inputs": []},
                     {"op": "null", "name": "w", "inputs": []},
                     {"op": "Convolution", "name": "conv",
                      "attrs": {"num_filter": str(num), "kernel": "(3, 3)", "no_bias": "True"},
                      "inputs": [[0, 0, 0], [1, 0, 0]]}],
           "heads": [[2, 0, 0]]}
    path = tmp_path / "conv-symbol.json"
    path.write_text(json.dumps(doc))
    result = run_limited(f"""
        import coarsenet as cn
        net = cn.sym.load({str(path)!r})
        try:
            net.simple_bind(cn.cpu(), data=(1, 1, 5, 5))
        except cn.CoarsenetError as e:
            print("CoarsenetError:", e)
        """)
    assert result.returncode == 0, result.stderr
    assert "CoarsenetError: simple_bind" in result.stdout and "'w'" in result.stdout


def test_a_bare_integer_shape_attr_is_one_dim_at_load_and_at_inference(tmp_path):
    # The 100k file fuzz (seed 19, case 97833): the loader accepted `"__shape__": "5"` as (5,),
    # and shape inference then raised TypeError iterating the int.
    path = tmp_path / "int-symbol.json"
    path.write_text(mutated(lambda d: d["nodes"][0].update(attrs={"__shape__": "5"})))
    arg_shapes, _, _ = cn.sym.load(str(path)).infer_shape()
    assert arg_shapes[0] == (5,)
