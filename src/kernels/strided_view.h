// A strided view of a dense tensor: element idx of a view of shape `dims` sits at
//   base + sum_k idx[k] * stride[k]
// of the source. transpose/SwapAxis (permuted strides), slice/slice_axis/Crop (offset, scaled and
// negative strides) and broadcast_to/tile/repeat (stride 0 on stretched dims) are all a Gather
// from such a view into a dense output; their backward is a Scatter back (or, where the view
// repeats elements, a reduction, see broadcast_to.cc).
//
// The view is first simplified: dims of size 1 dropped, neighbours merged when the outer one
// steps exactly over the inner one, so the inner loop is as long as possible and usually a
// contiguous copy (stride 1) or a fill (stride 0).
#ifndef COARSENET_KERNELS_STRIDED_VIEW_H_
#define COARSENET_KERNELS_STRIDED_VIEW_H_

#include <algorithm>
#include <cstring>

#include "kernels/elemwise_util.h"

namespace cn_view {

struct View {
  int ndim = 0;
  int64_t base = 0;
  int64_t dims[CN_MAX_NDIM];
  int64_t stride[CN_MAX_NDIM];

  // Appends one dim (outermost first).
  void Push(int64_t dim, int64_t step) {
    dims[ndim] = dim;
    stride[ndim++] = step;
  }
  int64_t size() const {
    int64_t n = 1;
    for (int k = 0; k < ndim; ++k) n *= dims[k];
    return n;
  }
  // Drops unit dims and merges (outer, inner) pairs with stride_outer == stride_inner * dim_inner.
  View Simplified() const {
    View v;
    v.base = base;
    for (int k = 0; k < ndim; ++k) {
      if (dims[k] == 1) continue;
      if (v.ndim > 0 && v.stride[v.ndim - 1] == stride[k] * dims[k]) {
        v.dims[v.ndim - 1] *= dims[k];
        v.stride[v.ndim - 1] = stride[k];
      } else {
        v.Push(dims[k], stride[k]);
      }
    }
    if (v.ndim == 0) v.Push(1, 1);
    return v;
  }
  // Source offset of row `row` (every dim but the innermost).
  int64_t RowOffset(int64_t row) const {
    int64_t off = base;
    for (int k = ndim - 2; k >= 0; --k) {
      off += (row % dims[k]) * stride[k];
      row /= dims[k];
    }
    return off;
  }
};

// Contiguous strides of a shape.
inline void DenseStrides(const cn::Shape& s, int64_t* stride) {
  int64_t acc = 1;
  for (int k = s.ndim - 1; k >= 0; --k) {
    stride[k] = acc;
    acc *= s[k];
  }
}

// A transpose-like gather: the innermost dim reads with a large stride while dim k reads
// contiguously. Copying 32 x 32 tiles keeps both the strided reads and the writes within a few
// cache lines (an untiled 1024 x 1024 transpose is ~10x slower). Returns false if no dim of the
// view is contiguous in src.
template <typename DType>
bool GatherTiled(const View& v, const DType* src, DType* dst, int32_t req) {
  constexpr int64_t kTile = 32;
  int last = v.ndim - 1, k = -1;
  for (int d = 0; d < last; ++d)
    if (v.stride[d] == 1) k = d;
  if (k < 0) return false;
  int64_t dense[CN_MAX_NDIM], acc = 1;
  for (int d = last; d >= 0; --d) {
    dense[d] = acc;
    acc *= v.dims[d];
  }
  int64_t m = v.dims[k], n = v.dims[last], s = v.stride[last], dk = dense[k];
  int64_t tm = (m + kTile - 1) / kTile, tn = (n + kTile - 1) / kTile;
  int64_t tiles = v.size() / (m * n) * tm * tn;
  cn_elem::ChunkedRows(tiles, kTile * kTile, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t outer = t / (tm * tn), a0 = (t / tn % tm) * kTile, b0 = t % tn * kTile;
      int64_t src_off = v.base, dst_off = 0;
      for (int d = last - 1; d >= 0; --d) {  // the outer index over every dim but k and last
        if (d == k) continue;
        src_off += outer % v.dims[d] * v.stride[d];
        dst_off += outer % v.dims[d] * dense[d];
        outer /= v.dims[d];
      }
      int64_t a1 = std::min(m, a0 + kTile), b1 = std::min(n, b0 + kTile);
      for (int64_t a = a0; a < a1; ++a) {
        const DType* x = src + src_off + a;
        DType* y = dst + dst_off + a * dk;
        if (req == CN_REQ_ADD) {
          for (int64_t b = b0; b < b1; ++b) y[b] += x[b * s];
        } else {
          for (int64_t b = b0; b < b1; ++b) y[b] = x[b * s];
        }
      }
    }
  });
  return true;
}

// dst (dense, the view's shape) = or += src viewed through `view`.
template <typename DType>
void Gather(const View& view, const DType* src, DType* dst, int32_t req) {
  if (req == CN_REQ_NULL || view.size() == 0) return;
  View v = view.Simplified();
  int64_t n = v.dims[v.ndim - 1], s = v.stride[v.ndim - 1], rows = v.size() / n;
  if (s > 1 && n > 1 && GatherTiled(v, src, dst, req)) return;
  cn_elem::ChunkedRows(rows, n, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const DType* x = src + v.RowOffset(row);
      DType* y = dst + row * n;
      if (req == CN_REQ_ADD) {
        for (int64_t i = 0; i < n; ++i) y[i] += x[i * s];
      } else if (s == 1) {
        std::memcpy(y, x, n * sizeof(DType));
      } else if (s == 0) {
        std::fill(y, y + n, x[0]);
      } else {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i * s];
      }
    }
  });
}

// dst viewed through `view` = or += src (dense, the view's shape). The view must not repeat a
// destination element (no zero strides); elements of dst outside the view are left untouched.
template <typename DType>
void Scatter(const View& view, const DType* src, DType* dst, int32_t req) {
  if (req == CN_REQ_NULL || view.size() == 0) return;
  View v = view.Simplified();
  int64_t n = v.dims[v.ndim - 1], s = v.stride[v.ndim - 1], rows = v.size() / n;
  cn_elem::ChunkedRows(rows, n, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      DType* y = dst + v.RowOffset(row);
      const DType* x = src + row * n;
      if (req == CN_REQ_ADD) {
        for (int64_t i = 0; i < n; ++i) y[i * s] += x[i];
      } else if (s == 1) {
        std::memcpy(y, x, n * sizeof(DType));
      } else {
        for (int64_t i = 0; i < n; ++i) y[i * s] = x[i];
      }
    }
  });
}

// Zero-fills a whole tensor for req write (a scatter that covers only part of it); no-op for add.
template <typename DType>
void ZeroForWrite(DType* dst, int64_t n, int32_t req) {
  if (req == CN_REQ_WRITE || req == CN_REQ_INPLACE) std::fill(dst, dst + n, DType(0));
}

}  // namespace cn_view

#endif  // COARSENET_KERNELS_STRIDED_VIEW_H_
