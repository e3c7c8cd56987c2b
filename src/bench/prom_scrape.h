#pragma once
// Reads values out of a Prometheus text exposition (a server's /metrics).
#include <map>
#include <optional>
#include <string>

namespace ds::bench {
// Sum over all label sets of the samples named exactly `name` (e.g. "vllm:generation_tokens_total").
std::optional<double> prom_value(const std::string& text, const std::string& name);
// Every sample as "name{labels}" -> value.
std::map<std::string, double> prom_samples(const std::string& text);
}  // namespace ds::bench
