#include "common/file_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/json_nesting.h"

namespace ds {

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return io_error(path.string() + ": cannot open: " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(path.string() + ": read failed");
  return ss.str();
}

Result<nlohmann::json> read_json_file(const std::filesystem::path& path) {
  DS_ASSIGN_OR_RETURN(std::string text, read_file(path));
  if (!json_nesting_within(text))
    return invalid_argument(path.string() + ": " + json_nesting_error());
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return invalid_argument(path.string() + ": invalid JSON at byte " + std::to_string(e.byte) + ": " +
                            e.what());
  }
}

}  // namespace ds
