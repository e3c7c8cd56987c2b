#include "tokenizer/post_processor.h"

#include <map>

namespace ds::tok {
namespace {

// The single-sequence template: ids to insert, with the input sequence at the kSequence markers.
class TemplatePostProcessor final : public PostProcessor {
 public:
  struct Item {
    bool is_sequence;
    std::vector<int32_t> ids;  // for special tokens
  };
  explicit TemplatePostProcessor(std::vector<Item> items) : items_(std::move(items)) {}
  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + items_.size());
    for (const auto& item : items_) {
      if (item.is_sequence) out.insert(out.end(), ids.begin(), ids.end());
      else out.insert(out.end(), item.ids.begin(), item.ids.end());
    }
    ids = std::move(out);
  }

 private:
  std::vector<Item> items_;
};

class WrapPostProcessor final : public PostProcessor {  // Bert / Roberta: cls + ids + sep
 public:
  WrapPostProcessor(int32_t cls, int32_t sep) : cls_(cls), sep_(sep) {}
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), cls_);
    ids.push_back(sep_);
  }

 private:
  int32_t cls_, sep_;
};

class IdentityPostProcessor final : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
};

class SequencePostProcessor final : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : parts_) p->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

Result<std::map<std::string, std::vector<int32_t>>> parse_special_tokens(const Json& j, const std::string& path) {
  std::map<std::string, std::vector<int32_t>> out;
  auto it = j.find("special_tokens");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) return invalid_argument(path + ".special_tokens: expected an object");
  for (const auto& [name, tok] : it->items()) {
    const std::string where = path + ".special_tokens[\"" + name + "\"]";
    DS_RETURN_IF_ERROR(expect_object(tok, where));
    DS_ASSIGN_OR_RETURN(const Json* ids, get_array(tok, "ids", where));
    std::vector<int32_t> v;
    for (const auto& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        return invalid_argument(where + ".ids: expected non-negative integers");
      }
      v.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
    out[name] = std::move(v);
  }
  return out;
}

// One element of "single": {"SpecialToken": {"id": ...}} / {"Sequence": {"id": "A"}} or, in the
// string form, "$A" / "<s>".
Result<TemplatePostProcessor::Item> parse_item(const Json& item, const std::map<std::string, std::vector<int32_t>>& specials,
                                               const std::string& where) {
  std::string special;
  if (item.is_string()) {
    std::string s = item.get<std::string>();
    if (!s.empty() && s[0] == '$') return TemplatePostProcessor::Item{true, {}};
    special = s.substr(0, s.find(':'));
  } else if (item.is_object() && item.contains("Sequence")) {
    return TemplatePostProcessor::Item{true, {}};
  } else if (item.is_object() && item.contains("SpecialToken")) {
    DS_RETURN_IF_ERROR(expect_object(item["SpecialToken"], where + ".SpecialToken"));
    DS_ASSIGN_OR_RETURN(special, get_string(item["SpecialToken"], "id", where + ".SpecialToken"));
  } else {
    return invalid_argument(where + ": expected a SpecialToken or Sequence item");
  }
  auto it = specials.find(special);
  if (it == specials.end()) return invalid_argument(where + ": special token '" + special + "' not in special_tokens");
  return TemplatePostProcessor::Item{false, it->second};
}

Result<std::unique_ptr<PostProcessor>> make_template(const Json& j, const std::string& path) {
  DS_ASSIGN_OR_RETURN(auto specials, parse_special_tokens(j, path));
  auto single = j.find("single");
  if (single == j.end()) return invalid_argument(path + ".single missing");
  Json items = *single;
  if (single->is_string()) {  // "<s> $A" shorthand
    items = Json::array();
    std::string s = single->get<std::string>();
    for (size_t b = 0; b < s.size();) {
      size_t e = s.find(' ', b);
      if (e == std::string::npos) e = s.size();
      if (e > b) items.push_back(s.substr(b, e - b));
      b = e + 1;
    }
  }
  if (!items.is_array()) return invalid_argument(path + ".single: expected an array");
  std::vector<TemplatePostProcessor::Item> parsed;
  for (size_t i = 0; i < items.size(); ++i) {
    DS_ASSIGN_OR_RETURN(auto item, parse_item(items[i], specials, path + ".single[" + std::to_string(i) + "]"));
    parsed.push_back(std::move(item));
  }
  return std::unique_ptr<PostProcessor>(new TemplatePostProcessor(std::move(parsed)));
}

Result<int32_t> parse_named_id(const Json& j, const std::string& key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer()) {
    return invalid_argument(path + "." + key + ": expected [token, id]");
  }
  const int64_t id = (*it)[1].get<int64_t>();
  if (id < 0 || id > INT32_MAX) return invalid_argument(path + "." + key + ": id out of range");
  return static_cast<int32_t>(id);
}

}  // namespace

Result<std::unique_ptr<PostProcessor>> make_post_processor(const Json& j, const std::string& path, int depth) {
  if (j.is_null()) return std::unique_ptr<PostProcessor>();
  if (depth > kMaxNesting) return invalid_argument(path + ": nested too deeply");
  DS_RETURN_IF_ERROR(expect_object(j, path));
  DS_ASSIGN_OR_RETURN(std::string type, get_string(j, "type", path));
  if (type == "TemplateProcessing") return make_template(j, path);
  if (type == "ByteLevel") return std::unique_ptr<PostProcessor>(new IdentityPostProcessor());
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    DS_ASSIGN_OR_RETURN(int32_t cls, parse_named_id(j, "cls", path));
    DS_ASSIGN_OR_RETURN(int32_t sep, parse_named_id(j, "sep", path));
    return std::unique_ptr<PostProcessor>(new WrapPostProcessor(cls, sep));
  }
  if (type == "Sequence") {
    DS_ASSIGN_OR_RETURN(const Json* arr, get_array(j, "processors", path));
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < arr->size(); ++i) {
      DS_ASSIGN_OR_RETURN(auto p, make_post_processor((*arr)[i], path + ".processors[" + std::to_string(i) + "]", depth + 1));
      if (p) parts.push_back(std::move(p));
    }
    return std::unique_ptr<PostProcessor>(new SequencePostProcessor(std::move(parts)));
  }
  return unsupported(path + ": post-processor type '" + type + "' is not supported");
}

}  // namespace ds::tok
