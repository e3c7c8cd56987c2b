#pragma once
// Test helpers: temp folders, a safetensors writer, and tiny Llama/Qwen2 checkpoints written from
// hand-listed HF names (independent of src/model's own name table).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

namespace ds::test {

namespace fs = std::filesystem;
using nlohmann::json;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ds_model_test_XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

inline size_t st_dtype_size(const std::string& d) {
  if (d == "F32" || d == "I32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16") return 2;
  if (d == "F64" || d == "I64") return 8;
  return 1;
}

struct StTensor {
  using Offsets = std::optional<std::pair<uint64_t, uint64_t>>;
  StTensor(std::string n, std::string dt = "F32", std::vector<int64_t> sh = {}, Offsets off = std::nullopt,
           float f = 0.f)
      : name(std::move(n)), dtype(std::move(dt)), shape(std::move(sh)), offsets(off), fill(f) {}
  std::string name;
  std::string dtype = "F32";
  std::vector<int64_t> shape;
  std::optional<std::pair<uint64_t, uint64_t>> offsets;  // default: packed after the previous one
  float fill = 0.f;                                       // F32 payload value
};

// [u64 header length][header JSON padded with spaces to 8 bytes][data section].
// `extra_data` bytes are appended to the data section (for explicit-offset tests).
inline std::string make_safetensors(const std::vector<StTensor>& tensors, size_t extra_data = 0) {
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::string data;
  for (const StTensor& t : tensors) {
    size_t n = st_dtype_size(t.dtype);
    for (int64_t d : t.shape) n *= size_t(d);
    uint64_t begin = data.size(), end = data.size() + n;
    if (t.offsets) {
      std::tie(begin, end) = *t.offsets;
    } else {
      for (size_t i = 0; i < n / 4 && t.dtype == "F32"; ++i) data.append(reinterpret_cast<const char*>(&t.fill), 4);
      data.resize(end, '\0');
    }
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, end}}};
  }
  data.resize(data.size() + extra_data, '\0');
  std::string h = header.dump();
  while (h.size() % 8 != 0) h += ' ';
  std::string out(8, '\0');
  uint64_t len = h.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((len >> (8 * i)) & 0xff);
  return out + h + data;
}

struct TinySpec {
  bool qwen = false;
  bool tied = false;
  int64_t hidden = 16, inter = 24, layers = 2, heads = 4, kv_heads = 2, vocab = 32;
  std::string dtype = "F32";
};

inline json tiny_config(const TinySpec& s) {
  json j = {{"architectures", json::array({s.qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"})},
            {"model_type", s.qwen ? "qwen2" : "llama"},
            {"hidden_size", s.hidden},
            {"intermediate_size", s.inter},
            {"num_hidden_layers", s.layers},
            {"num_attention_heads", s.heads},
            {"num_key_value_heads", s.kv_heads},
            {"vocab_size", s.vocab},
            {"max_position_embeddings", 64},
            {"rms_norm_eps", 1e-5},
            {"rope_theta", 10000.0},
            {"tie_word_embeddings", s.tied},
            {"torch_dtype", "float32"}};
  return j;
}

inline std::vector<StTensor> tiny_tensors(const TinySpec& s) {
  const int64_t hd = s.hidden / s.heads, q = s.heads * hd, kv = s.kv_heads * hd;
  std::vector<StTensor> t;
  auto add = [&](std::string n, std::vector<int64_t> shape) { t.push_back(StTensor(n, s.dtype, shape, std::nullopt, 0.01f)); };
  add("model.embed_tokens.weight", {s.vocab, s.hidden});
  for (int64_t i = 0; i < s.layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {s.hidden});
    add(p + "self_attn.q_proj.weight", {q, s.hidden});
    add(p + "self_attn.k_proj.weight", {kv, s.hidden});
    add(p + "self_attn.v_proj.weight", {kv, s.hidden});
    if (s.qwen) {
      add(p + "self_attn.q_proj.bias", {q});
      add(p + "self_attn.k_proj.bias", {kv});
      add(p + "self_attn.v_proj.bias", {kv});
    }
    add(p + "self_attn.o_proj.weight", {s.hidden, q});
    add(p + "post_attention_layernorm.weight", {s.hidden});
    add(p + "mlp.gate_proj.weight", {s.inter, s.hidden});
    add(p + "mlp.up_proj.weight", {s.inter, s.hidden});
    add(p + "mlp.down_proj.weight", {s.hidden, s.inter});
  }
  add("model.norm.weight", {s.hidden});
  if (!s.tied) add("lm_head.weight", {s.vocab, s.hidden});
  return t;
}

// Writes config.json + model.safetensors (or, with shards > 1, the tensors split round-robin over
// model-0000K-of-0000N.safetensors plus model.safetensors.index.json).
inline void write_tiny_model(const fs::path& dir, const TinySpec& s, int shards = 1,
                             const std::vector<StTensor>* override_tensors = nullptr) {
  write_file(dir / "config.json", tiny_config(s).dump(2));
  std::vector<StTensor> all = override_tensors ? *override_tensors : tiny_tensors(s);
  if (shards == 1) {
    write_file(dir / "model.safetensors", make_safetensors(all));
    return;
  }
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
  auto parts = std::vector<std::vector<StTensor>>(static_cast<size_t>(shards));
  for (size_t i = 0; i < all.size(); ++i) parts[i % size_t(shards)].push_back(all[i]);
  for (int k = 0; k < shards; ++k) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k + 1, shards);
    write_file(dir / name, make_safetensors(parts[size_t(k)]));
    for (const StTensor& t : parts[size_t(k)]) index["weight_map"][t.name] = name;
  }
  write_file(dir / "model.safetensors.index.json", index.dump(2));
}

}  // namespace ds::test
