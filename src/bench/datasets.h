#pragma once
// Prompt sets for the serving benchmark, with vLLM's dataset names and flags:
//   random             random token ids of fixed/ranged input and output lengths, optional shared prefix
//   sharegpt           first human/gpt turn pair of each conversation in a local ShareGPT JSON file
//   prefix_repetition  a few random prefixes, each repeated with random suffixes (prefix-cache tests)
#include <cstdint>
#include <string>
#include <vector>

#include "bench/request_func.h"
#include "common/status.h"

namespace ds {
class Tokenizer;
}

namespace ds::bench {

struct DatasetOptions {
  std::string name = "random";  // random | sharegpt | prefix_repetition (prefix-repetition too)
  std::string path;             // sharegpt JSON
  int64_t num_prompts = 1000;
  uint64_t seed = 0;
  // random
  int64_t random_input_len = 1024, random_output_len = 128, random_prefix_len = 0;
  double random_range_ratio = 0.0;
  int32_t vocab_size = 0;       // token id range for random prompts (0: tokenizer's, else 256)
  // sharegpt
  int64_t sharegpt_output_len = 0;  // 0: the length of the recorded answer
  // prefix_repetition
  int64_t prefix_len = 256, suffix_len = 256, num_prefixes = 10, prefix_output_len = 128;
};

// Builds the prompts. `tok` may be null: random prompts are then token ids only (their text is
// made of words, used on the chat endpoint), and ShareGPT lengths are estimated at 4 chars/token.
Result<std::vector<RequestInput>> make_dataset(const DatasetOptions& o, const Tokenizer* tok);
}  // namespace ds::bench
