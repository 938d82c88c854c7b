"""Data-parallel training worker for test_data_parallel.py.

usage: train_worker.py module|trainer OUT_DIR [single]
Ranks hold contiguous halves of the data; `single` runs one process whose batch i is the
concatenation of the ranks' batches i, so both runs see the same samples per step.
"""
import sys

import numpy as np

import coarsenet as cn

mode, out_dir = sys.argv[1], sys.argv[2]
single = len(sys.argv) > 3
STEPS, PER_RANK, RANKS = 4, 16, 2
rng = np.random.default_rng(42)
x = rng.normal(size=(RANKS, STEPS * PER_RANK, 10)).astype(np.float32)
y = rng.integers(0, 3, size=(RANKS, STEPS * PER_RANK)).astype(np.float32)

if single:
    kv, rank = None, 0
    order = [np.concatenate([x[r, s * PER_RANK:(s + 1) * PER_RANK] for r in range(RANKS)])
             for s in range(STEPS)]
    data, labels = np.concatenate(order), np.concatenate(
        [np.concatenate([y[r, s * PER_RANK:(s + 1) * PER_RANK] for r in range(RANKS)])
         for s in range(STEPS)])
    batch = PER_RANK * RANKS
else:
    kv = cn.kvstore.create("dist_sync")
    rank = kv.rank
    data, labels, batch = x[rank], y[rank], PER_RANK

cn.random.seed(100 + rank)  # different initial parameters per rank before the broadcast

if mode == "module":
    net = cn.sym.FullyConnected(cn.sym.Variable("data"), num_hidden=8, name="fc1")
    net = cn.sym.Activation(net, act_type="tanh")
    net = cn.sym.SoftmaxOutput(cn.sym.FullyConnected(net, num_hidden=3, name="fc2"), name="softmax")
    it = cn.io.NDArrayIter(data, labels, batch)
    mod = cn.mod.Module(net)
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(cn.init.Xavier())
    before = mod.get_params()[0]["fc1_weight"].asnumpy().copy()
    mod.init_optimizer(kvstore=kv or "local", optimizer="sgd",
                       optimizer_params={"learning_rate": 0.5, "momentum": 0.9})
    after_init = mod.get_params()[0]["fc1_weight"].asnumpy().copy()
    for b in it:
        mod.forward(b, is_train=True)
        mod.backward()
        mod.update()
    params = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
else:
    net = cn.nn.HybridSequential()
    net.add(cn.nn.Dense(8, activation="tanh"), cn.nn.Dense(3))
    net.initialize(cn.init.Xavier())
    net(cn.nd.array(data[:1]))  # materialise the deferred parameters
    before = net.collect_params().values()
    before = list(before)[0].data().asnumpy().copy()
    trainer = cn.nn.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5},
                            kvstore=kv or "local")
    loss_fn = cn.nn.loss.SoftmaxCrossEntropyLoss()
    after_init = list(net.collect_params().values())[0].data().asnumpy().copy()
    for s in range(STEPS):
        xb, yb = cn.nd.array(data[s * batch:(s + 1) * batch]), cn.nd.array(labels[s * batch:(s + 1) * batch])
        with cn.autograd.record():
            loss = loss_fn(net(xb), yb)
        loss.backward()
        trainer.step(PER_RANK * RANKS)  # the global batch, as with MXNet's dist kvstore
    params = {f"p{i}": p.data().asnumpy() for i, p in enumerate(net.collect_params().values())}

np.savez(f"{out_dir}/{mode}-{'single' if single else rank}.npz", before=before,
         after_init=after_init, **params)
