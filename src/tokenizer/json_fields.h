#pragma once
// Small typed accessors over nlohmann::json that turn a wrong or missing field into a Status
// naming the JSON path ("pre_tokenizer.pretokenizers[1].pattern: expected an object").
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace ds::tok {

using Json = nlohmann::json;

// Components nest (Sequence inside Sequence); deeper than this is rejected, not recursed into.
inline constexpr int kMaxNesting = 16;

Result<std::string> get_string(const Json& obj, const std::string& key, const std::string& path);
// Optional string: `fallback` when absent or null.
Result<std::string> get_string_or(const Json& obj, const std::string& key, const std::string& path,
                                  const std::string& fallback);
Result<bool> get_bool_or(const Json& obj, const std::string& key, const std::string& path,
                         bool fallback);
Result<int64_t> get_int_or(const Json& obj, const std::string& key, const std::string& path,
                           int64_t fallback);
// obj[key] when it is an array, else an error.
Result<const Json*> get_array(const Json& obj, const std::string& key, const std::string& path);
Status expect_object(const Json& j, const std::string& path);

}  // namespace ds::tok
