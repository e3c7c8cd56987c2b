// generation_config.json -> GenerationDefaults. Unknown keys (max_length, pad_token_id, ...) are
// ignored; known keys of the wrong type are errors naming the file and the field.
#include "model/generation_config.h"

#include <nlohmann/json.hpp>

#include "common/file_util.h"

namespace ds {

namespace {

using nlohmann::json;

Status field_error(const std::string& src, const std::string& k, const std::string& what) {
  return invalid_argument(src + ": field '" + k + "' " + what);
}

Status read_num(const json& j, const std::string& src, const char* k, std::optional<double>* out) {
  if (!j.contains(k) || j.at(k).is_null()) return Status::ok();
  if (!j.at(k).is_number()) return field_error(src, k, "must be a number, got " + j.at(k).dump());
  *out = j.at(k).get<double>();
  return Status::ok();
}

Status read_int(const json& j, const std::string& src, const char* k, std::optional<int64_t>* out) {
  if (!j.contains(k) || j.at(k).is_null()) return Status::ok();
  if (!j.at(k).is_number_integer()) return field_error(src, k, "must be an integer, got " + j.at(k).dump());
  *out = j.at(k).get<int64_t>();
  return Status::ok();
}

Status read_eos(const json& j, const std::string& src, std::vector<int64_t>* out) {
  const char* k = "eos_token_id";
  if (!j.contains(k) || j.at(k).is_null()) return Status::ok();
  const json& v = j.at(k);
  if (v.is_number_integer()) {
    out->push_back(v.get<int64_t>());
    return Status::ok();
  }
  if (!v.is_array()) return field_error(src, k, "must be an integer or a list of integers");
  for (const json& e : v) {
    if (!e.is_number_integer()) return field_error(src, k, "must be an integer or a list of integers");
    out->push_back(e.get<int64_t>());
  }
  return Status::ok();
}

}  // namespace

Result<GenerationDefaults> load_generation_config(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "generation_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return GenerationDefaults{};
  DS_ASSIGN_OR_RETURN(json j, read_json_file(path));
  const std::string src = path.string();
  if (!j.is_object()) return invalid_argument(src + ": not a JSON object");
  GenerationDefaults g;
  DS_RETURN_IF_ERROR(read_num(j, src, "temperature", &g.temperature));
  DS_RETURN_IF_ERROR(read_num(j, src, "top_p", &g.top_p));
  DS_RETURN_IF_ERROR(read_int(j, src, "top_k", &g.top_k));
  DS_RETURN_IF_ERROR(read_num(j, src, "repetition_penalty", &g.repetition_penalty));
  DS_RETURN_IF_ERROR(read_int(j, src, "max_new_tokens", &g.max_new_tokens));
  DS_RETURN_IF_ERROR(read_int(j, src, "bos_token_id", &g.bos_token_id));
  DS_RETURN_IF_ERROR(read_eos(j, src, &g.eos_token_ids));
  if (j.contains("do_sample") && !j.at("do_sample").is_null()) {
    if (!j.at("do_sample").is_boolean()) return field_error(src, "do_sample", "must be true or false");
    g.do_sample = j.at("do_sample").get<bool>();
  }
  if (g.temperature && *g.temperature < 0) return field_error(src, "temperature", "must be >= 0");
  if (g.top_p && (*g.top_p <= 0 || *g.top_p > 1)) return field_error(src, "top_p", "must be in (0, 1]");
  if (g.top_k && *g.top_k < 0) return field_error(src, "top_k", "must be >= 0");
  if (g.repetition_penalty && *g.repetition_penalty <= 0) {
    return field_error(src, "repetition_penalty", "must be positive");
  }
  if (g.max_new_tokens && *g.max_new_tokens <= 0) return field_error(src, "max_new_tokens", "must be positive");
  return g;
}

}  // namespace ds
