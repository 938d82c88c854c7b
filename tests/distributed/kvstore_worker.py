"""Run under mpiexec by test_kvstore.py: kvstore_worker.py SCENARIO [OUT_DIR]. The reduce
scenario writes OUT_DIR/reduce-RANK.json (ranks share stdout, so lines could interleave)."""
import json
import sys

import numpy as np

import coarsenet as cn

scenario = sys.argv[1]
kv = cn.kvstore.create("dist_sync")
rank, size = kv.rank, kv.num_workers

if scenario == "reduce":
    # init: rank 0's values win; pushpull_list: sums over ranks, bucketed (tiny buckets force
    # several all-reduce calls and a mixed-dtype split).
    cn.kvstore.BUCKET_BYTES = 64
    params = [np.full((3, 4), rank + 1.0, np.float32), np.full(50, rank + 1.0, np.float64)]
    before = [p.copy() for p in params]
    kv.init([0, 1], params)
    grads = [np.full((3, 4), rank + 1.0, np.float32), np.arange(50.0) * (rank + 1),
             np.full(7, 1.0, np.float32)]
    kv.pushpull_list([0, 1, 2], grads)
    m = cn.metric.Accuracy()
    m.update([np.array([0, 1])], [np.array([[1.0, 0], [0, 1]]) if rank == 0 else np.array([[0, 1.0], [0, 1]])])
    result = {"rank": rank, "size": size, "before": float(before[0][0, 0]),
              "after_init": [float(params[0][0, 0]), float(params[1][0])],
              "sums": [float(grads[0][0, 0]), grads[1][:3].tolist(), float(grads[2][0])],
              "metric": kv.aggregate_metric(m)[0][1]}
    with open(f"{sys.argv[2]}/reduce-{rank}.json", "w") as f:
        f.write(json.dumps(result))
elif scenario == "fail":
    kv.barrier()
    if rank == 1:
        raise RuntimeError("deliberate failure on rank 1")
    kv.pushpull_list([0], [np.ones(4)])  # would wait forever without the abort
    print("rank 0 should not get here", flush=True)
