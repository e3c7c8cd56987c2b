#include "tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include "tokenizer/utf8.h"

namespace ds::tok {

Status BpeModel::load_vocab(const BpeData& data, const std::string& path) {
  vocab_.reserve(data.vocab.size());
  int64_t max_id = -1;
  for (const auto& [token, v] : data.vocab) {
    if (v < 0 || v >= kMaxTokenId) return invalid_argument(path + ".vocab[\"" + token + "\"]: id out of range");
    vocab_[token] = static_cast<int32_t>(v);
    max_id = std::max(max_id, v);
  }
  id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
  has_token_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id] : vocab_) {
    id_to_token_[id] = token;
    has_token_[id] = true;
  }
  return Status::ok();
}

Status BpeModel::add_merge(const std::string& a, const std::string& b, int32_t rank, const std::string& where) {
  auto ia = vocab_.find(a), ib = vocab_.find(b);
  if (ia == vocab_.end()) return invalid_argument(where + ": token '" + a + "' is not in the vocab");
  if (ib == vocab_.end()) return invalid_argument(where + ": token '" + b + "' is not in the vocab");
  std::string_view tail = b;
  if (!prefix_.empty() && tail.substr(0, prefix_.size()) == prefix_) tail.remove_prefix(prefix_.size());
  std::string merged = a;
  merged += tail;
  auto im = vocab_.find(merged);
  if (im == vocab_.end()) return invalid_argument(where + ": merged token '" + merged + "' is not in the vocab");
  // Like HF, a repeated pair keeps its last rank.
  merges_[pair_key(ia->second, ib->second)] = MergeInfo{rank, im->second};
  return Status::ok();
}

Status BpeModel::load_merges(const BpeData& data, const std::string& path) {
  merges_.reserve(data.merges.size());
  for (size_t i = 0; i < data.merges.size(); ++i) {
    const auto& [a, b] = data.merges[i];
    DS_RETURN_IF_ERROR(add_merge(a, b, static_cast<int32_t>(i), path + ".merges[" + std::to_string(i) + "]"));
  }
  return Status::ok();
}

Result<std::unique_ptr<BpeModel>> BpeModel::from_json(const Json& j, const BpeData& data, const std::string& path) {
  DS_RETURN_IF_ERROR(expect_object(j, path));
  auto m = std::unique_ptr<BpeModel>(new BpeModel());
  DS_ASSIGN_OR_RETURN(m->prefix_, get_string_or(j, "continuing_subword_prefix", path, ""));
  DS_ASSIGN_OR_RETURN(m->suffix_, get_string_or(j, "end_of_word_suffix", path, ""));
  DS_ASSIGN_OR_RETURN(m->byte_fallback_, get_bool_or(j, "byte_fallback", path, false));
  DS_ASSIGN_OR_RETURN(m->fuse_unk_, get_bool_or(j, "fuse_unk", path, false));
  DS_ASSIGN_OR_RETURN(m->ignore_merges_, get_bool_or(j, "ignore_merges", path, false));
  DS_ASSIGN_OR_RETURN(std::string unk, get_string_or(j, "unk_token", path, ""));
  if (!data.has_vocab) {
    if (j.contains("vocab")) return invalid_argument(path + ".vocab: expected an object of token -> id");
    return invalid_argument(path + ".vocab missing");
  }
  if (!data.has_merges && j.contains("merges") && !j["merges"].is_null()) {
    return invalid_argument(path + ".merges: expected an array");
  }
  DS_RETURN_IF_ERROR(m->load_vocab(data, path));
  DS_RETURN_IF_ERROR(m->load_merges(data, path));
  if (!unk.empty()) m->unk_id_ = m->token_to_id(unk);  // HF fails at encode time if absent; we drop
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    m->byte_ids_[b] = m->token_to_id(name).value_or(-1);
  }
  return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_token_[id]) return nullptr;
  return &id_to_token_[id];
}

// One symbol per character (with prefix/suffix), falling back to <0xNN> bytes, then to unk.
void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& ids) const {
  int32_t pending_unk = -1;  // unk id for a run of unknown characters not yet emitted
  std::string s;
  for (size_t i = 0; i < word.size();) {
    size_t n = utf8_valid_len(word, i);
    if (n == 0) n = 1;
    const bool first = i == 0, last = i + n == word.size();
    s.assign(first ? "" : prefix_);
    s.append(word.substr(i, n));
    if (last) s.append(suffix_);
    i += n;
    if (auto id = token_to_id(s)) {
      if (pending_unk >= 0) ids.push_back(pending_unk);
      pending_unk = -1;
      ids.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : s) all = all && byte_ids_[c] >= 0;
      if (all) {
        // HF leaves a pending unk in place here; it is emitted after these bytes.
        for (unsigned char c : s) ids.push_back(byte_ids_[c]);
        continue;
      }
    }
    if (!unk_id_) continue;
    if (pending_unk >= 0 && !fuse_unk_) ids.push_back(pending_unk);
    pending_unk = *unk_id_;
  }
  if (pending_unk >= 0) ids.push_back(pending_unk);
}

// Applies merges lowest rank first (leftmost on ties) over a linked list of symbols, with a heap
// of candidate pairs: O(n log n) per word instead of rescanning all pairs after every merge.
void BpeModel::merge(std::vector<int32_t>& ids) const {
  const int n = static_cast<int>(ids.size());
  if (n < 2 || merges_.empty()) return;
  struct Cand {
    int32_t rank, pos, new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap;
  auto push_pair = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    auto it = merges_.find(pair_key(ids[pos], ids[next[pos]]));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.new_id});
  };
  for (int i = 0; i + 1 < n; ++i) push_pair(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    const int right = next[c.pos];
    auto it = merges_.find(pair_key(ids[c.pos], ids[right]));
    if (it == merges_.end() || it->second.new_id != c.new_id) continue;  // stale candidate
    ids[c.pos] = c.new_id;
    alive[right] = false;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push_pair(prev[c.pos]);
    push_pair(c.pos);
  }
  size_t w = 0;
  for (int i = 0; i < n; ++i) {
    if (alive[i]) ids[w++] = ids[i];
  }
  ids.resize(w);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto id = token_to_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  ids.reserve(word.size());
  initial_symbols(word, ids);
  merge(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kCacheCapacity) cache_.clear();
    cache_.emplace(std::string(word), std::move(ids));
  }
}

}  // namespace ds::tok
