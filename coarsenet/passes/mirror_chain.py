"""Optimal recomputation schedules for a chain of blocks (Beaumont, Eyraud-Dubois, Herrmann,
Joly, Shilova 2019, "Optimal checkpointing for heterogeneous chains", the Rotor recurrence),
solved by dynamic programming over (first block, last block, memory slots) with NumPy.

The model. Block i (0 <= i < L) reads the output a[i-1] of block i-1 (a[-1] is the chain's
input, always available and counted nowhere) and produces a[i] (`wa[i]` slots) and its
internals, a-bar[i] (`wabar[i]` slots, a[i] included); `uf[i]` is the cost of running it
forward, `mb[i]` (>= wabar[i]) the memory its backward needs besides a[i-1]. The operations:

    ("Fn", i, first)   run block i, keep a[i] only until block i+1 has read it
    ("Fck", i, first)  run block i, keep a[i] (a checkpoint)
    ("Fall", i, first) run block i, keep a-bar[i] (its backward reads it)
    ("B", i)           backward of block i (reads a-bar[i] and a[i-1], frees a-bar[i])

`first` is True for the operations of the forward pass itself, which costs nothing here (the
forward pass runs every block once anyway); every later forward operation is recomputation,
costing uf[i]. Recomputation may start from a checkpoint that was itself recomputed
(multi-level: Chen et al.'s O(log N) schedules are among the solutions).

C(s, t, m): least recompute for the backward of blocks s..t, a[s-1] available, m slots free:
    base (s == t): uf[s] if m >= mb[s]
    all:  uf[s] + C(s+1, t, m - wabar[s])                        if m >= mb[s]
    ck:   min over s < s' <= t of  uf[s..s'-1] + C(s', t, m - wa[s'-1]) + C(s, s'-1, m)
          if the forward sweep fits: m >= wa[s] and m >= wa[k-1] + wa[k], s < k < s'
T(s, m): the same for the suffix s..L-1 during the forward pass, with forward costs 0.

Held bytes (optional `hold[i]`, 0 by default): memory block i takes from its first forward
until its backward, whatever the schedule (the outputs of expensive ops the forward pass keeps
so that recomputing the block skips them; wabar and mb exclude them). C's memory m then
excludes hold[s..t] (held by the caller); after the backward of s'..t their hold is free:
    ck:   ... + C(s, s'-1, m + hold[s'..t])
and the forward pass acquires hold[s..s'-1] when it runs those blocks:
    T ck: T(s', m - wa[s'-1] - hold[s..s'-1]) + C(s, s'-1, m - hold[s..s'-1])
    T all: T(s+1, m - wabar[s] - hold[s]), backward of s needing mb[s] + hold[s].
"""
from __future__ import annotations

import numpy as np

INF = np.inf


class ChainSolution:
    """The solved tables; `cost(m)` and `ops(m)` for any memory m (slots) <= S."""

    def __init__(self, uf, wa, wabar, mb, slots: int, hold=None):
        self.uf = np.asarray(uf, dtype=np.float64)
        self.wa = np.asarray(wa, dtype=np.int64)
        self.wabar = np.asarray(wabar, dtype=np.int64)
        self.mb = np.asarray(mb, dtype=np.int64)
        self.S = int(slots)
        self.L = len(self.uf)
        self.hold = np.zeros(self.L, np.int64) if hold is None else np.asarray(hold, np.int64)
        self.hcum = np.concatenate([[0], np.cumsum(self.hold)])
        _solve(self)

    def cost(self, m: int) -> float:
        """Least recompute with m slots (inf when nothing fits)."""
        return float(self.T[0, min(int(m), self.S)])

    def min_memory(self) -> int | None:
        """The fewest slots any schedule needs, or None when even S slots do not suffice."""
        ok = np.nonzero(np.isfinite(self.T[0]))[0]
        return int(ok[0]) if len(ok) else None

    def ops(self, m: int) -> list:
        """The operation sequence reaching cost(m)."""
        m = min(int(m), self.S)
        if not np.isfinite(self.T[0, m]):
            raise ValueError(f"no schedule fits {m} slots")
        out: list = []
        self._top(0, m, out)
        return out

    def _top(self, s: int, m: int, out: list) -> None:
        while True:
            if s == self.L - 1:
                out += [("Fall", s, True), ("B", s)]
                return
            choice = int(self.Tch[s, m])
            if choice < 0:  # keep a-bar[s], solve the rest, then backward of s
                out.append(("Fall", s, True))
                self._top(s + 1, m - int(self.wabar[s] + self.hold[s]), out)
                out.append(("B", s))
                return
            sp = s + choice  # checkpoint a[sp-1] during the forward pass
            held = int(self.hcum[sp] - self.hcum[s])
            out += [("Fn", k, True) for k in range(s, sp - 1)] + [("Fck", sp - 1, True)]
            self._top(sp, m - int(self.wa[sp - 1]) - held, out)
            self._rec(s, sp - 1, m - held, out)
            return

    def _rec(self, s: int, t: int, m: int, out: list) -> None:
        if s == t:
            out += [("Fall", s, False), ("B", s)]
            return
        choice = int(self.Cch[s, t, m])
        if choice < 0:
            out.append(("Fall", s, False))
            self._rec(s + 1, t, m - int(self.wabar[s]), out)
            out.append(("B", s))
            return
        sp = s + choice
        out += [("Fn", k, False) for k in range(s, sp - 1)] + [("Fck", sp - 1, False)]
        self._rec(sp, t, m - int(self.wa[sp - 1]), out)
        self._rec(s, sp - 1, min(m + int(self.hcum[t + 1] - self.hcum[sp]), self.S), out)


def _shift(row: np.ndarray, by: int) -> np.ndarray:
    """out[..., m] = row[..., m - by] (inf where m < by)."""
    out = np.full_like(row, INF)
    if by <= row.shape[-1] - 1:
        out[..., by:] = row[..., :row.shape[-1] - by]
    return out


def _solve(sol: ChainSolution) -> None:
    L, S = sol.L, sol.S
    uf, wa, wabar, mb, hold, hcum = sol.uf, sol.wa, sol.wabar, sol.mb, sol.hold, sol.hcum
    m = np.arange(S + 1)
    pref = np.concatenate([[0.0], np.cumsum(uf)])
    # sweep[s, e]: the memory a forward sweep over blocks s..e (keeping nothing) needs.
    pair = np.concatenate([[0], wa[:-1] + wa[1:]]) if L > 1 else np.zeros(1, np.int64)
    sweep = np.zeros((L, L), dtype=np.int64)
    for s in range(L):
        sweep[s, s:] = np.maximum(wa[s], np.maximum.accumulate(
            np.concatenate([[0], pair[s + 1:]]))[:L - s])
    C = np.full((L, L, S + 1), INF)
    Cch = np.full((L, L, S + 1), -1, dtype=np.int32)
    sh_a = np.full((L, L, S + 1), INF)  # sh_a[s', t] = C[s', t] shifted by wa[s'-1]
    sh_b = np.full((L, L, S + 1), INF)  # sh_b[s', t] = C[s', t] shifted by wabar[s'-1]
    fits_b = m[None, :] >= mb[:, None]  # (L, S+1)

    def finish(s_idx, t_idx):
        for s, t in zip(s_idx, t_idx):
            if s >= 1:
                sh_a[s, t] = _shift(C[s, t], int(wa[s - 1]))
                sh_b[s, t] = _shift(C[s, t], int(wabar[s - 1]))

    idx = np.arange(L)
    C[idx, idx] = np.where(fits_b, uf[:, None], INF)
    finish(idx, idx)
    for d in range(1, L):
        s = np.arange(L - d)
        t = s + d
        best = np.where(fits_b[s], uf[s, None] + sh_b[s + 1, t], INF)
        choice = np.full(best.shape, -1, dtype=np.int32)
        k = np.arange(1, d + 1)
        sp = s[:, None] + k[None, :]                                  # (n, d)
        if hcum[-1]:  # after the backward of sp..t their held bytes are free for s..sp-1
            freed = np.minimum(m + (hcum[t + 1][:, None] - hcum[sp])[..., None], S)
            first = C[s[:, None, None], (sp - 1)[..., None], freed]
        else:
            first = C[s[:, None], sp - 1]
        total = (sh_a[sp, t[:, None]] + first
                 + (pref[sp] - pref[s][:, None])[..., None])          # (n, d, S+1)
        total[m[None, None, :] < sweep[s[:, None], sp - 1][..., None]] = INF
        kbest = np.argmin(total, axis=1)                              # (n, S+1)
        vbest = np.take_along_axis(total, kbest[:, None, :], axis=1)[:, 0]
        better = vbest < best
        C[s, t] = np.where(better, vbest, best)
        Cch[s, t] = np.where(better, kbest + 1, choice)
        finish(s, t)
    # The forward pass: the suffix s..L-1, forward operations free.
    T = np.full((L, S + 1), INF)
    Tch = np.full((L, S + 1), -1, dtype=np.int32)
    fits_t = m[None, :] >= (mb + hold)[:, None]
    T[L - 1] = np.where(fits_t[L - 1], 0.0, INF)
    for s in range(L - 2, -1, -1):
        best = np.where(fits_t[s], _shift(T[s + 1], int(wabar[s] + hold[s])), INF)
        choice = np.full(S + 1, -1, dtype=np.int32)
        sps = np.arange(s + 1, L)
        held = hcum[sps] - hcum[s]  # acquired by the forward pass over s..sp-1
        shifted = np.stack([_shift(T[sp], int(wa[sp - 1] + h)) for sp, h in zip(sps, held)])
        total = shifted + np.stack([_shift(C[s, sp - 1], int(h)) for sp, h in zip(sps, held)])
        total[m[None, :] < (sweep[s, sps - 1] + held)[:, None]] = INF
        kb = np.argmin(total, axis=0)
        vb = total[kb, m]
        better = vb < best
        T[s] = np.where(better, vb, best)
        Tch[s] = np.where(better, kb + 1, choice)
    sol.C, sol.Cch, sol.T, sol.Tch = C, Cch, T, Tch


def simulate(ops: list, uf, wa, wabar, mb, hold=None) -> tuple[float, int]:
    """(recompute cost, peak memory) of an operation sequence under the model; raises
    ValueError on an invalid sequence. For tests and for checking a solution."""
    L = len(uf)
    hold = np.zeros(L, np.int64) if hold is None else np.asarray(hold, np.int64)
    holding: set = set()  # blocks whose held bytes are taken (first forward to backward)
    ck: dict = {}      # i -> slots of a[i] held as a checkpoint
    full: set = set()  # blocks whose a-bar is held
    transient = None   # (i, slots) of a Fn output not yet read
    cost, peak, next_b = 0.0, 0, L - 1

    def held():
        return (sum(ck.values()) + sum(int(wabar[i]) for i in full)
                + sum(int(hold[i]) for i in holding))

    for op in ops:
        if op[0] == "B":
            i = op[1]
            if i != next_b or i not in full or (i > 0 and i - 1 not in ck and i - 1 not in full
                                                 and (transient or (None,))[0] != i - 1):
                raise ValueError(f"invalid {op}")
            peak = max(peak, held() - int(wabar[i]) + int(mb[i]))
            full.discard(i)
            holding.discard(i)
            ck.pop(i - 1, None)  # its input checkpoint is no longer needed
            next_b -= 1
            continue
        kind, i, first = op
        have = i == 0 or i - 1 in ck or i - 1 in full or (transient or (None,))[0] == i - 1
        if not have or i > next_b:
            raise ValueError(f"invalid {op}")
        if first:
            holding.add(i)
        extra = int(wabar[i]) if kind == "Fall" else int(wa[i])
        in_t = transient[1] if transient else 0
        peak = max(peak, held() + in_t + extra)
        transient = None
        cost += 0.0 if first else float(uf[i])
        if kind == "Fall":
            full.add(i)
        elif kind == "Fck":
            ck[i] = int(wa[i])
        else:
            transient = (i, int(wa[i]))
    if next_b != -1:
        raise ValueError("not every block was differentiated")
    return cost, peak
