#pragma once
// Small file helpers shared by loaders: read a whole file, parse a JSON file with a clear error.
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace ds {
Result<std::string> read_file(const std::filesystem::path& path);
// Parses JSON; errors say "PATH: parse error at byte N: ...".
Result<nlohmann::json> read_json_file(const std::filesystem::path& path);
}  // namespace ds
