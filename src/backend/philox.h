#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-
// based generator, the same code on the host and the device. The device sampler keys it by the
// sequence's seed and counts by (element / 4, step); tests use the host side to reproduce draws.
#include <cstdint>

#if defined(__CUDACC__)
#define DS_HD __host__ __device__ __forceinline__
#else
#define DS_HD inline
#endif

namespace ds {

struct Philox4 {
  uint32_t v[4];
};

DS_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

DS_HD Philox4 philox4x32_10(Philox4 c, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint32_t hi0, hi1;
    const uint32_t lo0 = philox_mulhilo(0xD2511F53u, c.v[0], &hi0);
    const uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, c.v[2], &hi1);
    c = Philox4{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
  }
  return c;
}

// The four words for element group `group` (elements 4*group .. 4*group+3) of stream `tag` at `step`.
DS_HD Philox4 philox_words(uint64_t seed, uint64_t step, uint32_t group, uint32_t tag) {
  return philox4x32_10(Philox4{{group, uint32_t(step), uint32_t(step >> 32), tag}}, uint32_t(seed), uint32_t(seed >> 32));
}

// Uniform float in (0, 1): 23 bits plus a half step, never 0 or 1 (so -log(-log(u)) is finite).
DS_HD float philox_uniform_open(uint32_t x) { return (float(x >> 9) + 0.5f) * 1.1920928955078125e-07f; }

// Uniform double in [0, 1) from 53 bits of two words.
DS_HD double philox_uniform53(uint32_t a, uint32_t b) {
  return double(((uint64_t(a) << 32) | b) >> 11) * 1.1102230246251565e-16;
}

// Stream tags: per-element Gumbel noise (pure temperature) and the one uniform of a filtered draw.
constexpr uint32_t kPhiloxGumbel = 0, kPhiloxFilteredDraw = 1;

}  // namespace ds
