#pragma once
// Rotary inverse frequencies, with llama3 frequency scaling when the config asks for it
// (the same formula as Hugging Face's _compute_llama3_parameters).
#include <vector>

#include "model/config.h"

namespace ds {
std::vector<float> rope_inv_freq(const ModelConfig& cfg);
}
