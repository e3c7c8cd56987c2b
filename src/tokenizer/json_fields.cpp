#include "tokenizer/json_fields.h"

namespace ds::tok {
namespace {
std::string field(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
}  // namespace

Status expect_object(const Json& j, const std::string& path) {
  if (!j.is_object()) return invalid_argument(path + ": expected an object");
  return Status::ok();
}

Result<std::string> get_string(const Json& obj, const std::string& key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return invalid_argument(field(path, key) + " missing");
  if (!it->is_string()) return invalid_argument(field(path, key) + ": expected a string");
  return it->get<std::string>();
}

Result<std::string> get_string_or(const Json& obj, const std::string& key, const std::string& path,
                                  const std::string& fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_string()) return invalid_argument(field(path, key) + ": expected a string");
  return it->get<std::string>();
}

Result<bool> get_bool_or(const Json& obj, const std::string& key, const std::string& path,
                         bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return invalid_argument(field(path, key) + ": expected a boolean");
  return it->get<bool>();
}

Result<int64_t> get_int_or(const Json& obj, const std::string& key, const std::string& path,
                           int64_t fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) return invalid_argument(field(path, key) + ": expected an integer");
  return it->get<int64_t>();
}

Result<const Json*> get_array(const Json& obj, const std::string& key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return invalid_argument(field(path, key) + " missing");
  if (!it->is_array()) return invalid_argument(field(path, key) + ": expected an array");
  return &*it;
}

}  // namespace ds::tok
