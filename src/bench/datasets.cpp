#include "bench/datasets.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/json_nesting.h"
#include "tokenizer/tokenizer.h"

namespace ds::bench {
namespace {
// Text for prompts given as ids when no tokenizer is at hand: one short word per id, so the server
// sees roughly the intended number of tokens.
std::string words_for(const std::vector<int32_t>& ids) {
  static const char* kWords[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far",
                                 "sun", "was", "hot", "day", "it", "big", "red", "box", "fox", "old"};
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += kWords[uint32_t(ids[i]) % 20];
  }
  return s;
}

std::vector<int32_t> random_ids(std::mt19937_64& rng, int64_t n, int32_t vocab) {
  std::uniform_int_distribution<int32_t> d(0, vocab - 1);
  std::vector<int32_t> v(size_t(std::max<int64_t>(n, 0)));
  for (auto& x : v) x = d(rng);
  return v;
}

RequestInput from_ids(std::vector<int32_t> ids, int64_t out_len, const Tokenizer* tok) {
  RequestInput r;
  r.prompt_len = int64_t(ids.size());
  r.output_len = out_len;
  r.prompt_text = tok ? tok->decode(ids, false) : words_for(ids);
  r.prompt_ids = std::move(ids);
  return r;
}

int32_t vocab_of(const DatasetOptions& o, const Tokenizer* tok) {
  if (o.vocab_size > 0) return o.vocab_size;
  if (tok) return tok->vocab_size();
  return 256;
}

// vLLM's RandomDataset: lengths uniform in [len*(1-r), len*(1+r)], ids offset per request so
// prompts differ, plus a shared random prefix.
std::vector<RequestInput> random_dataset(const DatasetOptions& o, const Tokenizer* tok) {
  std::mt19937_64 rng(o.seed);
  const int32_t vocab = vocab_of(o, tok);
  const double r = std::clamp(o.random_range_ratio, 0.0, 1.0);
  auto len_dist = [&](int64_t len) {
    const auto lo = int64_t(std::floor(double(len) * (1 - r)));
    const auto hi = int64_t(std::ceil(double(len) * (1 + r)));
    return std::uniform_int_distribution<int64_t>(std::max<int64_t>(lo, 1), std::max<int64_t>(hi, 1));
  };
  auto in_d = len_dist(o.random_input_len), out_d = len_dist(o.random_output_len);
  const std::vector<int32_t> prefix = random_ids(rng, o.random_prefix_len, vocab);
  std::uniform_int_distribution<int32_t> off_d(0, vocab - 1);
  std::vector<RequestInput> out;
  for (int64_t i = 0; i < o.num_prompts; ++i) {
    const int64_t in_len = in_d(rng), out_len = out_d(rng);
    const int32_t off = off_d(rng);
    std::vector<int32_t> ids = prefix;
    for (int64_t j = 0; j < in_len; ++j) ids.push_back(int32_t((int64_t(off) + i + j) % vocab));
    out.push_back(from_ids(std::move(ids), out_len, tok));
  }
  return out;
}

std::vector<RequestInput> prefix_repetition_dataset(const DatasetOptions& o, const Tokenizer* tok) {
  std::mt19937_64 rng(o.seed);
  const int32_t vocab = vocab_of(o, tok);
  std::vector<std::vector<int32_t>> prefixes;
  for (int64_t p = 0; p < std::max<int64_t>(o.num_prefixes, 1); ++p) prefixes.push_back(random_ids(rng, o.prefix_len, vocab));
  std::vector<RequestInput> out;
  for (int64_t i = 0; i < o.num_prompts; ++i) {
    std::vector<int32_t> ids = prefixes[size_t(i % int64_t(prefixes.size()))];
    const auto suffix = random_ids(rng, o.suffix_len, vocab);
    ids.insert(ids.end(), suffix.begin(), suffix.end());
    out.push_back(from_ids(std::move(ids), o.prefix_output_len, tok));
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

int64_t count_tokens(const std::string& s, const Tokenizer* tok) {
  if (tok) return int64_t(tok->encode(s, false).size());
  return std::max<int64_t>(1, int64_t(s.size() / 4));
}

Result<std::vector<RequestInput>> sharegpt_dataset(const DatasetOptions& o, const Tokenizer* tok) {
  if (o.path.empty()) return invalid_argument("--dataset-path is required for the sharegpt dataset");
  std::ifstream f(o.path, std::ios::binary);
  if (!f) return invalid_argument("cannot open " + o.path);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!json_nesting_within(text))
    return invalid_argument(o.path + ": " + json_nesting_error());
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return invalid_argument(o.path + ": not a JSON array of conversations");
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& c : j) {
    if (!c.is_object() || !c.contains("conversations") || !c["conversations"].is_array()) continue;
    const auto& conv = c["conversations"];
    if (conv.size() < 2 || !conv[0].contains("value") || !conv[1].contains("value")) continue;
    if (!conv[0]["value"].is_string() || !conv[1]["value"].is_string()) continue;
    pairs.emplace_back(conv[0]["value"].get<std::string>(), conv[1]["value"].get<std::string>());
  }
  std::mt19937_64 rng(o.seed);
  std::shuffle(pairs.begin(), pairs.end(), rng);
  std::vector<RequestInput> out;
  for (const auto& [prompt, answer] : pairs) {
    if (int64_t(out.size()) >= o.num_prompts) break;
    RequestInput r;
    r.prompt_text = prompt;
    r.prompt_len = tok ? count_tokens(prompt, tok) : 0;  // 0: taken from the server's usage
    const int64_t est_prompt = count_tokens(prompt, tok);
    r.output_len = o.sharegpt_output_len > 0 ? o.sharegpt_output_len : count_tokens(answer, tok);
    // vLLM's filter: drop very short sequences and ones too long for a 2k context.
    if (o.sharegpt_output_len == 0 && (est_prompt < 4 || r.output_len < 4)) continue;
    if (est_prompt > 1024 || est_prompt + r.output_len > 2048) continue;
    out.push_back(std::move(r));
  }
  if (out.empty()) return invalid_argument(o.path + ": no usable conversations");
  return out;
}
}  // namespace

Result<std::vector<RequestInput>> make_dataset(const DatasetOptions& o, const Tokenizer* tok) {
  if (o.num_prompts <= 0) return invalid_argument("--num-prompts must be positive");
  if (o.name == "random") return random_dataset(o, tok);
  if (o.name == "prefix_repetition" || o.name == "prefix-repetition") return prefix_repetition_dataset(o, tok);
  if (o.name == "sharegpt") return sharegpt_dataset(o, tok);
  return invalid_argument("unknown --dataset-name '" + o.name + "' (random, sharegpt, prefix_repetition)");
}
}  // namespace ds::bench
