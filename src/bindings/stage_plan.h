// How one concurrent stage of a Program runs on T threads: which calls run alone, one after the
// other, with every thread (their own parallel loops fill them), and how the others are spread
// over T bins that run at the same time, each call of a bin on one thread.
//
// The choice uses two measured times per call (Program keeps the least seen): `one`, its
// seconds on one thread next to other calls, and `alone`, its seconds alone on all threads. A
// call whose parallel loop scales well (a large convolution) is quicker alone; one that scales
// poorly (small maps, memory-bound pooling) is quicker in a bin. The estimate of a plan is the
// sum of its alone calls plus the largest bin load (longest first onto the least loaded bin);
// the plan with the least estimate wins, so a stage never plans slower than running every call
// alone (which is what inter-op off does), up to the error of the measurements.
#ifndef COARSENET_BINDINGS_STAGE_PLAN_H_
#define COARSENET_BINDINGS_STAGE_PLAN_H_

#include <algorithm>
#include <cstdint>
#include <vector>

namespace cn::bindings {

struct StagePlan {
  std::vector<int> alone;              // run first, in this order, on every thread
  std::vector<std::vector<int>> bins;  // then at the same time, one thread each
  double estimate = 0;                 // seconds
};

// `calls` spread longest first (by cost[k]) onto the least loaded of `bins` bins (ties: the
// first), giving the bins and the largest load.
inline double SpreadOverBins(std::vector<int> calls, const std::vector<double>& cost, int bins,
                             std::vector<std::vector<int>>* out) {
  std::stable_sort(calls.begin(), calls.end(), [&](int a, int b) { return cost[a] > cost[b]; });
  bins = std::min<int>(bins, int(calls.size()));  // none for no calls
  if (out) out->assign(size_t(bins), {});
  if (bins <= 0) return 0.0;
  std::vector<double> load(size_t(bins), 0.0);
  for (int k : calls) {
    size_t least = size_t(std::min_element(load.begin(), load.end()) - load.begin());
    load[least] += cost[k];
    if (out) (*out)[least].push_back(k);
  }
  return *std::max_element(load.begin(), load.end());
}

// The estimate of `plan` under the times given.
inline double Estimate(const StagePlan& plan, const std::vector<double>& one,
                       const std::vector<double>& alone) {
  double t = 0, bin_max = 0;
  for (int k : plan.alone) t += alone[k];
  for (const auto& bin : plan.bins) {
    double b = 0;
    for (int k : bin) b += one[k];
    bin_max = std::max(bin_max, b);
  }
  return t + bin_max;
}

// The plan of least estimate for `calls` (one stage) on `threads` threads. Every subset run
// alone is tried for stages of up to kExhaustive calls; wider stages try the calls in order of
// how much they gain alone (one / alone, the best scalers first) as growing prefixes.
inline StagePlan PlanStage(const std::vector<int>& calls, const std::vector<double>& one,
                           const std::vector<double>& alone, int threads) {
  constexpr size_t kExhaustive = 10;
  const size_t n = calls.size();
  std::vector<std::vector<int>> candidates;  // alone sets
  if (n <= kExhaustive) {
    for (uint32_t mask = 0; mask < (1u << n); ++mask) {
      std::vector<int> set;
      for (size_t i = 0; i < n; ++i)
        if (mask >> i & 1u) set.push_back(calls[i]);
      candidates.push_back(std::move(set));
    }
  } else {
    std::vector<int> by_gain = calls;
    std::stable_sort(by_gain.begin(), by_gain.end(), [&](int a, int b) {
      return one[a] * alone[b] > one[b] * alone[a];  // one/alone descending, without division
    });
    for (size_t m = 0; m <= n; ++m) candidates.emplace_back(by_gain.begin(), by_gain.begin() + m);
  }
  StagePlan best;
  bool have = false;
  for (auto& set : candidates) {
    std::vector<int> rest;
    double t = 0;
    for (int k : calls) {
      if (std::find(set.begin(), set.end(), k) != set.end())
        t += alone[k];
      else
        rest.push_back(k);
    }
    if (have && t >= best.estimate) continue;
    t += SpreadOverBins(rest, one, threads, nullptr);
    if (!have || t < best.estimate) {  // strict: ties keep the earlier plan (mask 0: none alone)
      best.estimate = t;
      best.alone = set;
      SpreadOverBins(rest, one, threads, &best.bins);
      have = true;
    }
  }
  return best;
}

}  // namespace cn::bindings

#endif  // COARSENET_BINDINGS_STAGE_PLAN_H_
