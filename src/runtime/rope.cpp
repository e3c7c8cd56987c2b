#include "runtime/rope.h"

#include <cmath>
#include <numbers>

namespace ds {

std::vector<float> rope_inv_freq(const ModelConfig& cfg) {
  const int64_t d = cfg.head_dim;
  std::vector<float> inv(size_t(d / 2));
  for (int64_t i = 0; i < d / 2; ++i) {
    // HF computes base ** (2i/d) in float32; the exponent 2i/d is exact in float.
    inv[size_t(i)] = 1.0f / std::pow(float(cfg.rope_theta), float(2 * i) / float(d));
  }
  const RopeScaling& rs = cfg.rope_scaling;
  if (rs.type != RopeType::kLlama3) return inv;
  const double old_len = double(rs.original_max_position_embeddings);
  const double low_wavelen = old_len / rs.low_freq_factor, high_wavelen = old_len / rs.high_freq_factor;
  for (float& f : inv) {
    const double wavelen = 2 * std::numbers::pi / f;
    if (wavelen > low_wavelen) {
      f = float(f / rs.factor);
    } else if (wavelen >= high_wavelen) {  // medium band: interpolate between scaled and unscaled
      const double smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
      f = float((1 - smooth) * f / rs.factor + smooth * f);
    }
  }
  return inv;
}

}  // namespace ds
