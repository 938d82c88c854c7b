// Transcendental functions for float that GCC vectorises (std::exp, std::tanh are scalar libm
// calls, about 30x slower per element than a vectorised polynomial). float64 is the exact-check
// path and keeps libm.
#ifndef COARSENET_KERNELS_FAST_MATH_H_
#define COARSENET_KERNELS_FAST_MATH_H_

#include <cmath>
#include <cstdint>

namespace cn_fast {

// exp for float that the compiler vectorises (std::exp is a scalar libm call): Cephes' expf
// range reduction x = n ln2 + r and degree-6 polynomial, about 1 ulp on [-87, 88]; 0 below.
// n is rounded with the 1.5 * 2^23 trick instead of floor + float->int conversion, because GCC
// refuses to vectorise a possibly trapping conversion under the default -ftrapping-math.
inline float Exp(float x) {
  const float lo = -87.33654f, hi = 88.72283f;
  float c = x < lo ? lo : (x > hi ? hi : x);
  float t = c * 1.44269504089f + 12582912.0f;  // round(c / ln2) lands in t's low mantissa bits
  float n = t - 12582912.0f;
  float r = c - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = (__builtin_bit_cast(int32_t, t) - 0x4B400000 + 127) << 23;  // 2^n
  float scale = __builtin_bit_cast(float, bits);
  return x < lo ? 0.0f : y * scale;
}
// float64 is the exact-check path: keep libm.
inline double Exp(double x) { return std::exp(x); }

// tanh as Cephes' tanhf: an odd polynomial below |x| = 0.625 (where 1 - 2/(e^2x + 1) would
// cancel), the exp form above; both are computed and blended so the loop stays branch-free.
inline float Tanh(float x) {
  float a = std::fabs(x);
  float s = x * x;
  float p = -5.70498872745e-3f;
  p = p * s + 2.06390887954e-2f;
  p = p * s - 5.37397155531e-2f;
  p = p * s + 1.33314422036e-1f;
  p = p * s - 3.33332819422e-1f;
  float small = p * s * x + x;
  float large = 1.0f - 2.0f / (Exp(2.0f * a) + 1.0f);
  large = x < 0 ? -large : large;
  return a > 0.625f ? large : small;
}
inline double Tanh(double x) { return std::tanh(x); }

inline float Sigmoid(float x) { return 1.0f / (1.0f + Exp(-x)); }
inline double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace cn_fast

#endif  // COARSENET_KERNELS_FAST_MATH_H_
