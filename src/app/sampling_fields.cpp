#include "app/sampling_fields.h"

#include <nlohmann/json.hpp>

namespace ds::app {
namespace {

template <class T>
Status read(const nlohmann::json& obj, const char* name, T& out) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return Status::ok();
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean()) throw std::invalid_argument("bool");
    } else if constexpr (std::is_arithmetic_v<T>) {
      if (!it->is_number()) throw std::invalid_argument("number");
      if (std::is_integral_v<T> && !it->is_number_integer()) throw std::invalid_argument("integer");
    }
    out = it->get<T>();
  } catch (const std::exception&) {
    return invalid_argument(std::string("'") + name + "' has the wrong type");
  }
  return Status::ok();
}

}  // namespace

Status apply_sampling_fields(const nlohmann::json& o, SamplingParams& p) {
  if (!o.is_object()) return invalid_argument("expected a JSON object");
  DS_RETURN_IF_ERROR(read(o, "n", p.n));
  DS_RETURN_IF_ERROR(read(o, "max_tokens", p.max_tokens));
  DS_RETURN_IF_ERROR(read(o, "temperature", p.temperature));
  DS_RETURN_IF_ERROR(read(o, "top_p", p.top_p));
  DS_RETURN_IF_ERROR(read(o, "top_k", p.top_k));
  DS_RETURN_IF_ERROR(read(o, "min_p", p.min_p));
  DS_RETURN_IF_ERROR(read(o, "presence_penalty", p.presence_penalty));
  DS_RETURN_IF_ERROR(read(o, "frequency_penalty", p.frequency_penalty));
  DS_RETURN_IF_ERROR(read(o, "repetition_penalty", p.repetition_penalty));
  DS_RETURN_IF_ERROR(read(o, "min_tokens", p.min_tokens));
  DS_RETURN_IF_ERROR(read(o, "ignore_eos", p.ignore_eos));
  DS_RETURN_IF_ERROR(read(o, "include_stop_str_in_output", p.include_stop_str_in_output));
  DS_RETURN_IF_ERROR(read(o, "skip_special_tokens", p.skip_special_tokens));
  DS_RETURN_IF_ERROR(read(o, "stop_token_ids", p.stop_token_ids));
  if (o.contains("seed") && !o["seed"].is_null()) {
    uint64_t seed = 0;
    DS_RETURN_IF_ERROR(read(o, "seed", seed));
    p.seed = seed;
  }
  if (o.contains("logprobs") && !o["logprobs"].is_null()) {
    int32_t k = 0;
    DS_RETURN_IF_ERROR(read(o, "logprobs", k));
    p.logprobs = k;
  }
  if (auto it = o.find("stop"); it != o.end() && !it->is_null()) {
    if (it->is_string()) {
      p.stop = {it->get<std::string>()};
    } else if (it->is_array() && std::all_of(it->begin(), it->end(), [](auto& v) { return v.is_string(); })) {
      p.stop = it->get<std::vector<std::string>>();
    } else {
      return invalid_argument("'stop' must be a string or an array of strings");
    }
  }
  if (auto it = o.find("logit_bias"); it != o.end() && !it->is_null()) {
    if (!it->is_object()) return invalid_argument("'logit_bias' must be an object of token id -> bias");
    for (auto& [k, v] : it->items()) {
      try {
        size_t used = 0;
        const int id = std::stoi(k, &used);
        if (used != k.size() || !v.is_number()) throw std::invalid_argument(k);
        p.logit_bias[id] = v.get<float>();
      } catch (const std::exception&) {
        return invalid_argument("'logit_bias' key '" + k + "' is not a token id with a numeric bias");
      }
    }
  }
  return Status::ok();
}

}  // namespace ds::app
