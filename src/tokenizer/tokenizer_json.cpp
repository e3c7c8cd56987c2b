// Tokenizer::load / from_json_text: tokenizer.json (+ tokenizer_config.json) -> HfTokenizer.
// Every malformed input becomes a Status naming the file and the JSON path; nothing here aborts.
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/json_nesting.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer_json_reader.h"

namespace ds {
namespace {

using tok::Json;

Result<Json> parse_json(std::string_view text, const std::string& source) {
  if (!json_nesting_within(text))
    return invalid_argument(source + ": " + json_nesting_error());
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return invalid_argument(source + ": parse error at byte " + std::to_string(e.byte) + ": " + e.what());
  }
}

Result<std::unique_ptr<tok::BpeModel>> make_model(const Json& root, const tok::BpeData& data) {
  auto it = root.find("model");
  if (it == root.end() || it->is_null()) return invalid_argument("model missing");
  DS_RETURN_IF_ERROR(tok::expect_object(*it, "model"));
  // Files without "type" are BPE when they carry merges (HF infers the model the same way).
  std::string type = data.has_merges || it->contains("merges") ? "BPE" : "";
  DS_ASSIGN_OR_RETURN(type, tok::get_string_or(*it, "type", "model", type));
  if (type.empty()) return invalid_argument("model.type missing");
  if (type != "BPE") return unsupported("model.type '" + type + "' is not supported (only BPE)");
  return tok::BpeModel::from_json(*it, data, "model");
}

const Json& field_or_null(const Json& root, const char* key) {
  static const Json kNull;  // immutable
  auto it = root.find(key);
  return it == root.end() ? kNull : *it;
}

Result<tok::TokenizerParts> parse_tokenizer(const Json& root, const tok::BpeData& data) {
  DS_RETURN_IF_ERROR(tok::expect_object(root, "top level"));
  tok::TokenizerParts p;
  DS_ASSIGN_OR_RETURN(p.model, make_model(root, data));
  DS_RETURN_IF_ERROR(p.added.load(field_or_null(root, "added_tokens"), "added_tokens"));
  DS_ASSIGN_OR_RETURN(p.normalizer, tok::make_normalizer(field_or_null(root, "normalizer"), "normalizer"));
  DS_ASSIGN_OR_RETURN(p.pre_tokenizer, tok::make_pre_tokenizer(field_or_null(root, "pre_tokenizer"), "pre_tokenizer"));
  DS_ASSIGN_OR_RETURN(p.post_processor, tok::make_post_processor(field_or_null(root, "post_processor"), "post_processor"));
  DS_ASSIGN_OR_RETURN(p.decoder, tok::make_decoder(field_or_null(root, "decoder"), "decoder"));
  return p;
}

// bos_token / eos_token are strings or {"content": ...} objects (AddedToken form).
Result<std::string> special_token_text(const Json& cfg, const std::string& key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return tok::get_string(*it, "content", key);
  return invalid_argument(key + ": expected a string or {\"content\": ...}");
}

Status parse_config(std::string_view text, const std::string& source, tok::TokenizerParts& p) {
  if (text.empty()) return Status::ok();
  DS_ASSIGN_OR_RETURN(Json cfg, parse_json(text, source));
  if (!cfg.is_object()) return invalid_argument(source + ": expected an object");
  auto bos = special_token_text(cfg, "bos_token");
  if (!bos.ok()) return bos.status().with_context(source);
  auto eos = special_token_text(cfg, "eos_token");
  if (!eos.ok()) return eos.status().with_context(source);
  p.bos_token = bos.value();
  p.eos_token = eos.value();
  auto tmpl = cfg.find("chat_template");
  if (tmpl != cfg.end() && tmpl->is_string()) p.chat_template = tmpl->get<std::string>();
  // A list of named templates: take "default" (the one HF uses when none is named).
  if (tmpl != cfg.end() && tmpl->is_array()) {
    for (const auto& t : *tmpl) {
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string()) {
        p.chat_template = t["template"].get<std::string>();
      }
    }
  }
  return Status::ok();
}

std::string config_source_for(const std::string& source) {
  const std::string suffix = "tokenizer.json";
  if (source.size() >= suffix.size() && source.compare(source.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return source.substr(0, source.size() - suffix.size()) + "tokenizer_config.json";
  }
  return source + " (tokenizer_config)";
}

Result<std::unique_ptr<Tokenizer>> build(std::string_view tokenizer_json, std::string_view config_json,
                                         const std::string& source) {
  auto doc = tok::read_tokenizer_json(tokenizer_json);
  if (!doc.ok()) return doc.status().with_context(source);
  auto parts = parse_tokenizer(doc->root, doc->bpe);
  if (!parts.ok()) return parts.status().with_context(source);
  DS_RETURN_IF_ERROR(parse_config(config_json, config_source_for(source), parts.value()));
  return std::unique_ptr<Tokenizer>(new tok::HfTokenizer(std::move(parts).value()));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_json_text(std::string_view tokenizer_json,
                                                             std::string_view tokenizer_config_json,
                                                             const std::string& source) {
  try {
    return build(tokenizer_json, tokenizer_config_json, source);
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kResourceExhausted, source + ": out of memory while loading");
  } catch (const std::exception& e) {  // a JSON accessor we did not guard; still the user's file
    return invalid_argument(source + ": " + e.what());
  }
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::filesystem::path& model_dir) {
  const auto tok_path = model_dir / "tokenizer.json";
  const auto cfg_path = model_dir / "tokenizer_config.json";
  DS_ASSIGN_OR_RETURN(std::string text, read_file(tok_path));
  std::string cfg;
  std::error_code ec;
  if (std::filesystem::exists(cfg_path, ec)) {
    DS_ASSIGN_OR_RETURN(cfg, read_file(cfg_path));
  }
  return from_json_text(text, cfg, tok_path.string());
}

}  // namespace ds
