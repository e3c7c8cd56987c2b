#pragma once
// Reads OpenAI / vLLM sampling fields from a JSON object into SamplingParams (used by
// `generate --prompts-file` lines). Unknown fields are ignored; a field of the wrong type is an
// error naming it.
#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "engine/sampling_params.h"

namespace ds::app {
Status apply_sampling_fields(const nlohmann::json& obj, SamplingParams& p);
}
