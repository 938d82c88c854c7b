// How the fused RNN op spreads its work over the host's threads (included by rnn_kernel.h): every
// split depends only on the problem's shape, never on the thread count, and every BLAS call runs
// on one thread, so the op's results have the same bits for any thread count.
#ifndef COARSENET_OPS_RNN_TEAM_H_
#define COARSENET_OPS_RNN_TEAM_H_

#include <algorithm>
#include <atomic>
#include <thread>

#include "coarsenet/op.h"

namespace rnn {

// Runs fn(i) for i in [0, n) across the host's threads such that every BLAS call in fn runs on ONE
// thread: from serial code the host would split a large GEMM per thread count (changing its
// bits), so whenever a call may be that large the loop runs in a parallel region, of at least
// two threads, even for one block (below 2^20 multiply-adds the host never splits a call).
// `work`: multiply-adds of the largest call.
template <typename Fn>
void SoloBlocks(int64_t n, double work, Fn&& fn) {
  if (n <= 0) return;
  if (cn::NumThreads() <= 1 || work < double(1 << 20)) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  cn::ParallelFor(std::max<int64_t>(n, 2), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < std::min(i1, n); ++i) fn(i);
  });
}

// Spins (then yields: the machine may have fewer cores than threads) until `done` reaches n.
inline void WaitFor(const std::atomic<int64_t>& done, int64_t n) {
  for (int spins = 0; done.load(std::memory_order_acquire) < n; ++spins) {
    if (spins < 4000) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

// Runs fn(step, block) for every step in order and every block of a step, step s+1's blocks only
// after all of step s's. ONE parallel region for all the steps: waking the sleeping pool costs
// tens of microseconds per region (milliseconds on a loaded machine), so a region per step was
// a large share of a step. Threads claim (step, block) items in order from a counter and wait
// only for earlier items, so any number of threads (even one) finishes without deadlock, and
// which thread runs a block never changes its result.
// `work`: multiply-adds of one step (serial below 2^20, where a team costs more than it saves;
// a single block still gets a team of two so its GEMM runs on one thread, see SoloBlocks).
template <typename Fn>
void StepTeam(int64_t steps, int64_t blocks, double work, Fn&& fn) {
  const int64_t total = steps * blocks;
  const int64_t threads = std::max<int64_t>(2, std::min<int64_t>(cn::NumThreads(), blocks));
  if (cn::NumThreads() <= 1 || work < double(1 << 20) || steps <= 0) {
    for (int64_t i = 0; i < total; ++i) fn(i / blocks, i % blocks);
    return;
  }
  std::atomic<int64_t> next{0}, done{0};
  cn::ParallelFor(threads, 1, [&](int64_t, int64_t) {
    for (;;) {
      const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= total) return;
      WaitFor(done, i / blocks * blocks);
      fn(i / blocks, i % blocks);
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
}

}  // namespace rnn

#endif  // COARSENET_OPS_RNN_TEAM_H_
