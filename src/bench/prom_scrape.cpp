#include "bench/prom_scrape.h"

#include <cstdlib>
#include <sstream>

namespace ds::bench {
std::map<std::string, double> prom_samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // name{labels} value [timestamp]; label values may hold spaces, so split after the '}'.
    size_t key_end = line.find('}');
    key_end = key_end == std::string::npos ? line.find(' ') : key_end + 1;
    if (key_end == std::string::npos || key_end >= line.size()) continue;
    const char* v = line.c_str() + key_end;
    char* end = nullptr;
    const double d = std::strtod(v, &end);
    if (end == v) continue;
    out[line.substr(0, key_end)] = d;
  }
  return out;
}

std::optional<double> prom_value(const std::string& text, const std::string& name) {
  std::optional<double> sum;
  for (const auto& [k, v] : prom_samples(text)) {
    const std::string base = k.substr(0, k.find('{'));
    if (base == name) sum = sum.value_or(0) + v;
  }
  return sum;
}
}  // namespace ds::bench
