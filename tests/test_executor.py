"""Executor: gradients of whole graphs vs central differences, grad_req, aux updates,
memory planning facts, reshape/copy_params_from and bad input."""
import numpy as np

import coarsenet as cn
from coarsenet.testing import assert_close, check_op, expect_error, numeric_gradient

sym = cn.sym


def bind_float64(net, rng, grad_req="write", **shapes):
    exe = net.simple_bind(grad_req=grad_req, type_dict={k: np.float64 for k in shapes}, **shapes)
    for name, arr in exe.arg_dict.items():
        arr[:] = rng.uniform(-1, 1, size=arr.shape)
    for name, arr in exe.aux_dict.items():
        arr[:] = rng.uniform(0.5, 1.5, size=arr.shape)
    return exe


def check_graph_gradients(net, shapes, seed=0, max_points=30, rtol=1e-4, atol=1e-6, **kw):
    """Backward of sum(head * outputs) equals central differences, for every argument."""
    rng = np.random.default_rng(seed)
    exe = bind_float64(net, rng, **shapes)
    outs = exe.forward(is_train=True)
    heads = [rng.uniform(-1, 1, size=o.shape) for o in outs]
    exe.backward([h.copy() for h in heads])
    grads = {n: g.asnumpy().copy() for n, g in exe.grad_dict.items()}

    def loss():
        return float(sum(np.sum(o.asnumpy() * h) for o, h in zip(exe.forward(is_train=True),
                                                                  heads)))

    for name, arr in exe.arg_dict.items():
        numeric, mask = numeric_gradient(loss, np.asarray(arr), max_points=max_points, rng=rng)
        assert mask.any()
        assert_close(grads[name][mask], numeric[mask], rtol, atol, f"gradient of '{name}'")
    return exe


def mlp3(act=True):
    h = sym.Variable("data")
    for k, width in enumerate((6, 5, 3)):
        h = sym.FullyConnected(h, num_hidden=width, name=f"fc{k}")
        if act and k < 2:
            h = sym.Activation(h, act_type="tanh" if k else "relu", name=f"act{k}")
    return h


def test_mlp_gradients_match_numeric():
    check_graph_gradients(mlp3(), dict(data=(4, 7)))


def test_fc_bn_fc_training_gradients():
    net = sym.FullyConnected(sym.BatchNorm(sym.FullyConnected(sym.Variable("data"), num_hidden=5,
                                                              name="fc1"), name="bn"),
                             num_hidden=2, name="fc2")
    check_graph_gradients(net, dict(data=(6, 3)))


def small_resnet():
    x = sym.Variable("data")
    c1 = sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=3, name="conv1")
    r1 = sym.Activation(sym.BatchNorm(c1, name="bn1"), act_type="relu", name="relu1")
    c2 = sym.Convolution(r1, kernel=(3, 3), pad=(1, 1), num_filter=3, name="conv2")
    b2 = sym.BatchNorm(c2, name="bn2")
    res = b2 + r1  # r1 fans out: conv2 and the residual add
    pooled = sym.Pooling(res, kernel=(1, 1), global_pool=True, pool_type="avg", name="pool")
    return sym.FullyConnected(pooled, num_hidden=2, name="fc")


def test_cnn_with_bn_and_residual_fanout_gradients():
    exe = check_graph_gradients(small_resnet(), dict(data=(2, 2, 5, 5)), max_points=20)
    assert "accumulates into" in exe.debug_str()


def test_fanout_gradients_accumulate_without_sum_buffers():
    x = sym.Variable("data")
    shared = sym.FullyConnected(x, num_hidden=4, name="shared")
    net = sym.Group([sym.FullyConnected(shared, num_hidden=2, name="a"),
                     sym.FullyConnected(shared, num_hidden=3, name="b"), shared])
    exe = check_graph_gradients(net, dict(data=(3, 5)))
    text = exe.debug_str()
    assert "accumulates into" in text and "elemwise_add" not in text


def test_same_entry_twice_in_one_node():
    x = sym.Variable("x")
    net = sym.FullyConnected(x, num_hidden=3, name="fc")
    net = net * net
    check_graph_gradients(net, dict(x=(2, 4)))


def test_grad_req_add_accumulates_and_null_skips():
    rng = np.random.default_rng(1)
    net = mlp3(act=False)
    write = bind_float64(net, rng, data=(3, 4))
    add = net.simple_bind(grad_req="add", type_dict={"data": np.float64}, data=(3, 4))
    add.copy_params_from({k: v for k, v in write.arg_dict.items()})
    head = rng.uniform(-1, 1, size=(3, 3))
    write.forward(is_train=True)
    write.backward(head)
    for _ in range(2):
        add.forward(is_train=True)
        add.backward(head)
    for name, g in write.grad_dict.items():
        assert_close(add.grad_dict[name].asnumpy(), 2 * g.asnumpy(), 1e-12, 1e-12, name)
    partial = net.simple_bind(grad_req={"fc2_weight": "write"}, data=(3, 4))
    partial.copy_params_from(write.arg_dict)
    assert list(partial.grad_dict) == ["fc2_weight"]
    assert partial.grad_arrays[0] is None
    partial.forward(is_train=True)
    partial.backward()
    assert np.abs(partial.grad_dict["fc2_weight"].asnumpy()).sum() > 0
    inference = net.simple_bind(grad_req="null", data=(3, 4))
    assert inference.grad_dict == {} and inference.memory_stats()["num_calls"] == 3


def test_aux_states_update_only_in_training_forward():
    net = sym.BatchNorm(sym.Variable("data"), name="bn", momentum=0.5)
    exe = net.simple_bind(data=(8, 3))
    exe.arg_dict["data"][:] = np.random.default_rng(0).normal(2.0, 1.0, size=(8, 3))
    exe.arg_dict["bn_gamma"][:] = 1
    before = exe.aux_dict["bn_moving_mean"].asnumpy().copy()
    exe.forward(is_train=False)
    assert np.array_equal(exe.aux_dict["bn_moving_mean"].asnumpy(), before)
    exe.forward(is_train=True)
    after = exe.aux_dict["bn_moving_mean"].asnumpy()
    assert_close(after, 0.5 * before + 0.5 * exe.arg_dict["data"].asnumpy().mean(0), 1e-5, 1e-6,
                 "moving mean")


def test_symbolic_equals_imperative_check_runs_in_check_op():
    assert cn.testing.check_symbolic_matches_imperative in cn.testing.extra_checks
    case = check_op("BatchNorm", [(4, 3), (3,), (3,)], dict(fix_gamma=False), is_train=True,
                    check_inplace=False, max_points=20)
    cn.testing.check_symbolic_matches_imperative(case)


def test_inference_plan_reuses_and_works_in_place():
    h = sym.Variable("data")
    for k in range(8):
        h = sym.BatchNorm(sym.FullyConnected(h, num_hidden=16, name=f"fc{k}"), name=f"bn{k}")
    exe = h.simple_bind(grad_req="null", data=(32, 16))
    stats = exe.memory_stats()
    assert stats["inplace_count"] == 8  # every BN runs over its FC output
    assert stats["planned_bytes"] <= stats["naive_bytes"] / 4
    train = h.simple_bind(data=(32, 16))
    tstats = train.memory_stats()
    assert tstats["planned_bytes"] < tstats["naive_bytes"]
    assert tstats["param_bytes"] == tstats["grad_bytes"] + sum(
        a.asnumpy().nbytes for a in train.aux_arrays)
    x = np.random.default_rng(0).uniform(size=(32, 16)).astype(np.float32)
    train.copy_params_from(exe.arg_dict, exe.aux_dict)
    assert_close(exe.forward(data=x)[0].asnumpy(), train.forward(data=x)[0].asnumpy(), 1e-6,
                 1e-6, "inference plan vs training plan")


def test_outputs_are_stable_views_and_reshape_shares_parameters():
    net = mlp3(act=False)
    exe = net.simple_bind(data=(4, 5))
    out = exe.outputs[0]
    assert exe.forward(data=np.ones((4, 5)))[0] is out
    small = exe.reshape(data=(2, 5))
    assert small.arg_dict["fc0_weight"] is exe.arg_dict["fc0_weight"]
    assert small.grad_dict["fc0_weight"] is exe.grad_dict["fc0_weight"]
    assert small.arg_dict["data"].shape == (2, 5)
    assert small.forward(data=np.ones((2, 5)))[0].shape == (2, 3)
    assert_close(small.outputs[0].asnumpy(), out.asnumpy()[:2], 1e-6, 1e-6, "reshaped forward")


def test_bind_with_user_arrays_shares_them():
    x = sym.Variable("x")
    net = sym.FullyConnected(x, num_hidden=2, no_bias=True, name="fc")
    args = {"x": cn.nd.ones((1, 3)), "fc_weight": cn.nd.ones((2, 3))}
    grads = {"fc_weight": cn.nd.zeros((2, 3))}
    exe = net.bind(cn.cpu(), args=args, args_grad=grads)
    args["fc_weight"][:] = 2
    assert exe.forward()[0].asnumpy().tolist() == [[6.0, 6.0]]
    exe.backward()
    assert grads["fc_weight"].asnumpy().tolist() == [[1.0] * 3] * 2
    assert "x" not in exe.grad_dict


def test_bad_input_errors():
    net = mlp3(act=False)
    expect_error(lambda: net.simple_bind(), "simple_bind", "data")
    expect_error(lambda: net.bind(args={"data": cn.nd.ones((2, 3))}), "fc0_weight")
    exe = net.simple_bind(data=(2, 3))
    expect_error(lambda: exe.forward(date=np.ones((2, 3))), "date")
    expect_error(lambda: exe.forward(data=np.ones((3, 3))), "data", "(2, 3)", "(3, 3)")
    expect_error(lambda: exe.copy_params_from({"nope": cn.nd.ones(1)}), "nope")
    exe.copy_params_from({"nope": cn.nd.ones(1)}, allow_extra_params=True)
    expect_error(lambda: net.simple_bind(data=(2, 3), fc0_weight=(6, 4)), "fc0", "weight")
    expect_error(lambda: net.simple_bind(grad_req="sometimes", data=(2, 3)), "sometimes")
    twice = sym.Group([sym.FullyConnected(sym.Variable("data"), num_hidden=2, name="fc"),
                       sym.FullyConnected(sym.Variable("data"), num_hidden=2, name="fc")])
    expect_error(lambda: twice.simple_bind(data=(2, 3)), "two different variables", "'data'")
    fc = sym.FullyConnected(sym.Variable("x"), num_hidden=2, no_bias=True, name="fc")
    expect_error(lambda: fc.bind(args={"x": np.ones((1, 3)), "fc_weight": np.ones((2, 3),
                                                                                 np.float32)}),
                 "fc", "float")


def test_loss_output_ignores_head_gradients():
    net = sym.SoftmaxOutput(sym.FullyConnected(sym.Variable("data"), num_hidden=3, name="fc"),
                            name="softmax")
    assert net.list_arguments() == ["data", "fc_weight", "fc_bias", "softmax_label"]
    exe = net.simple_bind(data=(4, 5))
    exe.arg_dict["data"][:] = np.random.default_rng(0).uniform(size=(4, 5))
    exe.arg_dict["fc_weight"][:] = 0.1
    exe.arg_dict["softmax_label"][:] = np.array([0, 1, 2, 1])
    exe.forward(is_train=True)
    exe.backward()
    first = exe.grad_dict["fc_weight"].asnumpy().copy()
    exe.backward(cn.nd.array(np.full((4, 3), 7.0)))
    assert_close(exe.grad_dict["fc_weight"].asnumpy(), first, 1e-7, 1e-7, "loss head grads")


def test_block_grad_stops_gradients():
    x = sym.Variable("x")
    a = sym.FullyConnected(x, num_hidden=3, name="a")
    net = sym.FullyConnected(sym.BlockGrad(a), num_hidden=2, name="b") + \
        sym.FullyConnected(x, num_hidden=2, name="c")
    exe = bind_float64(net, np.random.default_rng(0), x=(2, 4))
    exe.forward(is_train=True)
    exe.backward()
    assert "a_backward" not in exe.debug_str()
    assert not exe.grad_dict["a_weight"].asnumpy().any()
    assert exe.grad_dict["b_weight"].asnumpy().any() and exe.grad_dict["x"].asnumpy().any()


def test_unused_output_of_multi_output_op_reads_zero_gradients():
    parts = sym.SliceChannel(sym.Variable("x"), num_outputs=2, axis=1, name="slice")
    assert parts.list_outputs() == ["slice_output0", "slice_output1"]
    net = sym.FullyConnected(parts[1], num_hidden=2, name="fc")
    check_graph_gradients(net, dict(x=(3, 4)))


def test_variadic_ops_count_their_inputs():
    a, b, c = (sym.Variable(n) for n in "abc")
    cat = sym.Concat(a, b, c, dim=1, name="cat")
    assert cat.attr("num_args") == "3"
    assert cat.infer_shape(a=(2, 1), b=(2, 2), c=(2, 3))[1] == [(2, 6)]
    check_graph_gradients(sym.add_n(a, b, a, name="sum") * c, dict(a=(2, 3), b=(2, 3), c=(2, 3)))


def test_dropout_backward_uses_the_forward_mask():
    net = sym.Dropout(sym.Variable("x"), p=0.5, name="drop")
    exe = net.simple_bind(x=(64, 64))
    out = exe.forward(is_train=True, x=np.ones((64, 64)))[0].asnumpy().copy()
    assert 0.3 < (out == 0).mean() < 0.7
    exe.backward()
    assert_close(exe.grad_dict["x"].asnumpy(), out, 0, 0, "dropout gradient vs its mask")
    again = exe.forward(is_train=True)[0].asnumpy()
    assert not np.array_equal(again, out)  # a new step draws a new mask
    assert np.array_equal(exe.forward(is_train=False)[0].asnumpy(), np.ones((64, 64)))


def test_output_mean_var_lists_three_outputs():
    bn = sym.BatchNorm(sym.Variable("x"), output_mean_var=True, name="bn")
    assert bn.list_outputs() == ["bn_output", "bn_mean", "bn_var"]
    exe = bn.simple_bind(x=(4, 3))
    assert [o.shape for o in exe.outputs] == [(4, 3), (3,), (3,)]


def test_profile_times_every_call_in_order():
    exe = mlp3().simple_bind(data=(2, 3))
    timings = exe.profile()
    assert [label for label, _, _ in timings][:2] == ["FullyConnected", "Activation"]
    assert len(timings) == exe.memory_stats()["num_calls"]
    assert timings[-1][0] == "_backward_FullyConnected" and all(t >= 0 for _, _, t in timings)
