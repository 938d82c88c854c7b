// The gradient step every optimizer update shares (optimizer_update.cc, multi_sgd_update.cc):
// g = clip(rescale_grad * grad, clip_gradient), and the parameters every update declares.
#ifndef COARSENET_OPS_UPDATE_GRADIENT_H_
#define COARSENET_OPS_UPDATE_GRADIENT_H_

#include "coarsenet/op.h"

namespace cn::update {

struct Common {
  float lr, wd, rescale_grad, clip_gradient;
  template <typename P>
  static void DeclareCommon(cn::ParamDecl<P>& d) {
    d.field("lr", &P::lr, 0.0f, "Learning rate.").required().finite();
    d.field("wd", &P::wd, 0.0f, "Weight decay.").finite();
    d.field("rescale_grad", &P::rescale_grad, 1.0f, "Gradient multiplier.").finite();
    d.field("clip_gradient", &P::clip_gradient, -1.0f,
            "Clip gradients to [-c, c] after rescaling; negative: no clipping.")
        .finite();
  }
  template <typename T>
  T Grad(T g) const {
    T r = static_cast<T>(rescale_grad) * g;
    if (clip_gradient >= 0) {
      T c = static_cast<T>(clip_gradient);
      r = r > c ? c : (r < -c ? -c : r);
    }
    return r;
  }
};

}  // namespace cn::update

#endif  // COARSENET_OPS_UPDATE_GRADIENT_H_
