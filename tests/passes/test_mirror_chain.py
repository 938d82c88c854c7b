"""The chain DP of passes/mirror_chain.py against an exhaustive search over every operation
sequence of its model (forward with or without keeping, backward, dropping what is held), on
random chains and on the chain of a small branched graph; its sequences are valid and reach
the cost it claims within the memory it is given."""
import heapq

import numpy as np
import pytest

from coarsenet.passes.mirror_chain import ChainSolution, simulate


def exhaustive(uf, wa, wabar, mb, M, drops=True, hold=None):
    """Least recompute of any operation sequence whose peak stays within M (Dijkstra over
    states: forward-pass position, checkpoints held, internals held, transient output,
    next block to differentiate). As in Rotor's model, a block's internals count its input
    as part of them: keeping a-bar[i] needs a[i-1] held (not transient) and held until B(i).
    (Without that rule cheaper sequences exist: keep a-bar[1] but not a[0], recompute a[0]
    for B(1) at the end; the DP does not consider them.) hold[i]: held from block i's first
    forward to its backward."""
    L = len(uf)
    hold = np.zeros(L, int) if hold is None else hold
    start = (0, frozenset(), frozenset(), None, L - 1)
    best = {start: 0.0}
    heap = [(0.0, 0, start)]
    tie = 1
    while heap:
        cost, _, state = heapq.heappop(heap)
        if cost > best.get(state, np.inf):
            continue
        f, ck, full, tr, nb = state
        if nb == -1:
            return cost
        held = (sum(wa[i] for i in ck) + sum(wabar[i] for i in full)
                + sum(hold[i] for i in range(min(f, nb + 1))))
        moves = []
        blocks = [f] if f < L else range(nb + 1)
        for i in blocks:
            if not (i == 0 or i - 1 in ck or i - 1 in full or tr == i - 1):
                continue
            tr_bytes = wa[tr] if tr is not None else 0
            c = cost + (uf[i] if f >= L else 0.0)
            nf = f + 1 if f < L else f
            taken = hold[i] if f < L else 0  # the first forward of i takes its held bytes
            if held + taken + tr_bytes + wabar[i] <= M and tr != i - 1:
                moves.append((c, (nf, ck, full | {i}, None, nb)))
            if held + taken + tr_bytes + wa[i] <= M:
                moves.append((c, (nf, ck | {i}, full, None, nb)))
                moves.append((c, (nf, ck, full, i, nb)))
        ready = f >= L and nb in full and (nb == 0 or nb - 1 in ck or nb - 1 in full
                                           or tr == nb - 1)
        if ready and held - wabar[nb] + mb[nb] + (wa[tr] if tr is not None else 0) <= M:
            moves.append((cost, (f, ck - {nb - 1}, full - {nb}, tr, nb - 1)))
        for i in ck - {j - 1 for j in full} if drops else ():
            moves.append((cost, (f, ck - {i}, full, tr, nb)))
        for i in full - {j - 1 for j in full} if drops else ():
            moves.append((cost, (f, ck, full - {i}, tr, nb)))
        for c, s in moves:
            if c < best.get(s, np.inf):
                best[s] = c
                heapq.heappush(heap, (c, tie, s))
                tie += 1
    return np.inf


def random_chain(rng, L):
    uf = rng.integers(1, 10, L).astype(float)
    wa = rng.integers(1, 4, L)
    wabar = wa + rng.integers(0, 5, L)
    mb = wabar + rng.integers(0, 3, L)
    return uf, wa, wabar, mb


@pytest.mark.parametrize("seed", range(12))
def test_dp_matches_exhaustive_search_on_random_chains(seed):
    rng = np.random.default_rng(seed)
    uf, wa, wabar, mb = random_chain(rng, int(rng.integers(2, 6)))
    top = int(wabar.sum() + mb.max())
    sol = ChainSolution(uf, wa, wabar, mb, top)
    for M in range(0, top + 1, max(1, top // 12)):
        want = exhaustive(uf, wa, wabar, mb, M)
        got = sol.cost(M)
        assert got == want, (M, got, want)
        if np.isfinite(got):
            cost, peak = simulate(sol.ops(M), uf, wa, wabar, mb)
            assert cost == got and peak <= M


@pytest.mark.parametrize("seed", range(12))
def test_dp_with_held_bytes_matches_exhaustive_search(seed):
    """Bytes held from a block's first forward to its backward (kept expensive outputs):
    the DP's sequences are valid and within memory, and it finds the least recompute."""
    rng = np.random.default_rng(100 + seed)
    L = int(rng.integers(2, 6))
    uf, wa, wabar, mb = random_chain(rng, L)
    hold = rng.integers(0, 3, L)
    top = int(wabar.sum() + mb.max() + hold.sum())
    sol = ChainSolution(uf, wa, wabar, mb, top, hold)
    for M in range(0, top + 1, max(1, top // 12)):
        want = exhaustive(uf, wa, wabar, mb, M, hold=hold)
        got = sol.cost(M)
        if np.isfinite(got):
            cost, peak = simulate(sol.ops(M), uf, wa, wabar, mb, hold)
            assert cost == got and peak <= M
        assert got == want, (M, got, want)


def test_multilevel_recomputation_is_used_when_memory_is_short():
    """A uniform chain with room for two checkpoints: some block runs forward three times
    (once in the forward pass, then from a checkpoint that was itself recomputed)."""
    L = 8
    uf, wa, wabar, mb = np.ones(L), np.ones(L, int), np.full(L, 3), np.full(L, 4)
    sol = ChainSolution(uf, wa, wabar, mb, 40)
    M = sol.min_memory() + 1
    ops = sol.ops(M)
    runs = [sum(1 for o in ops if o[0] != "B" and o[1] == i) for i in range(L)]
    assert max(runs) >= 3
    assert simulate(ops, uf, wa, wabar, mb) == (sol.cost(M), simulate(ops, uf, wa, wabar,
                                                                       mb)[1])
    assert sol.cost(M) == exhaustive(uf, wa, wabar, mb, M)


def test_simulate_rejects_invalid_sequences():
    uf, wa, wabar, mb = np.ones(2), np.ones(2, int), np.ones(2, int), np.ones(2, int)
    with pytest.raises(ValueError):
        simulate([("B", 1)], uf, wa, wabar, mb)
    with pytest.raises(ValueError):
        simulate([("Fall", 1, True)], uf, wa, wabar, mb)


def test_long_chain_solves_and_prefers_cheap_blocks_to_recompute():
    """Blocks with big outputs but cheap forwards are recomputed before expensive ones."""
    L = 40
    uf = np.where(np.arange(L) % 2 == 0, 1.0, 50.0)
    wa, wabar, mb = np.full(L, 2), np.full(L, 4), np.full(L, 6)
    sol = ChainSolution(uf, wa, wabar, mb, 200)
    M = int(wabar.sum() // 3)
    ops = sol.ops(M)
    cost, peak = simulate(ops, uf, wa, wabar, mb)
    assert cost == sol.cost(M) and peak <= M
    again = [o[1] for o in ops if o[0] != "B" and not o[2]]
    assert sum(uf[i] == 1.0 for i in again) > sum(uf[i] == 50.0 for i in again)


def test_dp_matches_exhaustive_search_on_a_small_branched_graph():
    """The chain of a 20-node graph with Inception-like branches (blocks measured from the
    graph's shapes by the mirror pass): the DP's least recompute equals the exhaustive
    search's over persistent schedules, and over schedules dropping kept values early."""
    import coarsenet as cn
    from coarsenet.passes import mirror as mp

    x = cn.sym.Variable("data")
    for i in range(3):
        a = cn.sym.Convolution(x, num_filter=2, kernel=(1, 1), name=f"b{i}_a")
        b = cn.sym.Activation(cn.sym.Convolution(x, num_filter=2, kernel=(3, 3), pad=(1, 1),
                                                 name=f"b{i}_b"), act_type="relu")
        x = cn.sym.Concat(a, b, dim=1, name=f"b{i}_cat")
    x = cn.sym.FullyConnected(cn.sym.Flatten(x), num_hidden=3, name="fc")
    net = cn.sym.SoftmaxOutput(x, name="softmax")
    exe = net.simple_bind(data=(1, 2, 4, 4), softmax_label=(1,), grad_req="write")
    an = mp._Analysis(exe._graph, 1, exe._shapes, exe._dtypes)
    assert len(an.fwd) <= 25 and len(an.chain.blocks) >= 4
    c = an.chain
    unit = 16  # bytes per slot: every size here is a multiple of 16
    wa, wabar, mb = (np.array(v) // unit for v in (c.wa, c.wabar, c.mb))
    uf = np.array(c.uf, dtype=float)
    top = int(wabar.sum() + mb.max())
    sol = ChainSolution(uf, wa, wabar, mb, top)
    lowest = sol.min_memory()
    for M in (lowest, lowest + 3, (lowest + top) // 2, top):
        assert sol.cost(M) == exhaustive(uf, wa, wabar, mb, M, drops=False), M
    # Sequences that drop a kept value early find nothing better on this chain (blocks are
    # cut only where backward reads the cut value, so a-bar holds nothing it could drop).
    assert sol.cost(lowest + 3) == exhaustive(uf, wa, wabar, mb, lowest + 3)
