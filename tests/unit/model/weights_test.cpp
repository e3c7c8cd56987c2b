#include "model/weights.h"

#include <gtest/gtest.h>

#include "model/safetensors.h"
#include "model_test_util.h"

namespace ds {
namespace {

using test::StTensor;
using test::TempDir;
using test::TinySpec;

Result<ModelWeights> load_dir(const test::fs::path& dir, std::vector<std::string>* unused = nullptr) {
  DS_ASSIGN_OR_RETURN(ModelConfig cfg, load_model_config(dir));
  return load_weights(cfg, dir, unused);
}

TEST(LoadWeights, Stories260k) {
  const std::string dir = DS_SHARED_DIR "/models/stories260k";
  auto cfg = load_model_config(dir);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  std::vector<std::string> unused = {"stale"};
  auto w = load_weights(*cfg, dir, &unused);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_TRUE(unused.empty());
  EXPECT_EQ(w->layers.size(), 5u);
  EXPECT_EQ(w->embed_tokens.shape_str(), "[512, 64]");
  EXPECT_EQ(w->embed_tokens.dtype, DType::kF32);
  EXPECT_EQ(w->lm_head.data, w->embed_tokens.data);  // tied
  EXPECT_EQ(w->norm.shape_str(), "[64]");
  const LayerWeights& l = w->layers[4];
  EXPECT_EQ(l.q_proj.shape_str(), "[64, 64]");
  EXPECT_EQ(l.k_proj.shape_str(), "[32, 64]");
  EXPECT_EQ(l.v_proj.shape_str(), "[32, 64]");
  EXPECT_EQ(l.o_proj.shape_str(), "[64, 64]");
  EXPECT_EQ(l.gate_proj.shape_str(), "[172, 64]");
  EXPECT_EQ(l.down_proj.shape_str(), "[64, 172]");
  EXPECT_FALSE(l.q_bias.defined());
  // Real trained weights: finite, non-zero.
  double sum = 0;
  for (int64_t i = 0; i < l.q_proj.numel(); ++i) sum += std::abs(l.q_proj.ptr<float>()[i]);
  EXPECT_GT(sum, 0);
  EXPECT_TRUE(std::isfinite(sum));
  // The storage keeps the mmap alive after the config and everything else are gone.
  ModelWeights copy = std::move(*w);
  EXPECT_TRUE(std::isfinite(copy.layers[0].input_layernorm.ptr<float>()[0]));
}

TEST(LoadWeights, TinyQwenShardedWithBiases) {
  TempDir dir;
  TinySpec s;
  s.qwen = true;
  test::write_tiny_model(dir.path(), s, 2);
  auto w = load_dir(dir.path());
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_EQ(w->layers.size(), 2u);
  EXPECT_EQ(w->layers[1].q_bias.shape_str(), "[16]");
  EXPECT_EQ(w->layers[1].k_bias.shape_str(), "[8]");
  EXPECT_EQ(w->layers[1].v_bias.shape_str(), "[8]");
  EXPECT_NE(w->lm_head.data, w->embed_tokens.data);
  EXPECT_EQ(w->lm_head.shape_str(), "[32, 16]");
  EXPECT_FLOAT_EQ(w->lm_head.ptr<float>()[0], 0.01f);
}

TEST(LoadWeights, Bf16AndUnusedTensors) {
  TempDir dir;
  TinySpec s;
  s.dtype = "BF16";
  auto tensors = test::tiny_tensors(s);
  tensors.push_back(StTensor("model.layers.0.self_attn.rotary_emb.inv_freq", "F32", {2}));
  test::write_tiny_model(dir.path(), s, 1, &tensors);
  std::vector<std::string> unused;
  auto w = load_dir(dir.path(), &unused);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->embed_tokens.dtype, DType::kBF16);
  EXPECT_EQ(unused, std::vector<std::string>{"model.layers.0.self_attn.rotary_emb.inv_freq"});
}

void expect_load_error(const std::vector<StTensor>& tensors, const TinySpec& s, const std::vector<std::string>& parts,
                       int shards = 1) {
  TempDir dir;
  test::write_tiny_model(dir.path(), s, shards, &tensors);
  auto w = load_dir(dir.path());
  ASSERT_FALSE(w.ok());
  const std::string& m = w.status().message();
  for (const std::string& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
}

TEST(LoadWeights, WrongShapeNamesTensorAndFile) {
  TinySpec s;
  s.inter = 172;
  s.hidden = 64;
  auto tensors = test::tiny_tensors(s);
  for (StTensor& t : tensors) {
    if (t.name == "model.layers.1.mlp.up_proj.weight") t.shape = {172, 65};
  }
  expect_load_error(tensors, s,
                    {"tensor 'model.layers.1.mlp.up_proj.weight' in model-00002-of-00002.safetensors has shape "
                     "[172, 65], expected [172, 64]"},
                    2);
}

TEST(LoadWeights, MissingTensors) {
  TinySpec s;
  auto tensors = test::tiny_tensors(s);
  tensors.pop_back();  // lm_head.weight
  expect_load_error(tensors, s, {"missing tensor 'lm_head.weight'", "tie_word_embeddings"});
  s.qwen = true;
  tensors = test::tiny_tensors(s);
  std::erase_if(tensors, [](const StTensor& t) { return t.name == "model.layers.1.self_attn.k_proj.bias"; });
  expect_load_error(tensors, s, {"missing tensor 'model.layers.1.self_attn.k_proj.bias'"});
}

TEST(LoadWeights, MixedDtypes) {
  TinySpec s;
  auto tensors = test::tiny_tensors(s);
  tensors[3].dtype = "F16";
  expect_load_error(tensors, s, {"'" + tensors[3].name + "'", "float16", "float32", "one dtype"});
}

TEST(LoadWeights, TiedIgnoresExtraLmHead) {
  TempDir dir;
  TinySpec s;
  s.tied = true;
  auto tensors = test::tiny_tensors(s);
  tensors.push_back(StTensor("lm_head.weight", "F32", {s.vocab, s.hidden}));
  test::write_tiny_model(dir.path(), s, 1, &tensors);
  std::vector<std::string> unused;
  auto w = load_dir(dir.path(), &unused);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->lm_head.data, w->embed_tokens.data);
  EXPECT_EQ(unused, std::vector<std::string>{"lm_head.weight"});
}

TEST(LoadWeights, MissingFolder) {
  auto cfg = builtin_model_config("DeepSeek-R1-Distill-Qwen-1.5B");
  ASSERT_TRUE(cfg.ok());
  auto w = load_weights(*cfg, "/nonexistent/model/dir");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("/nonexistent/model/dir"), std::string::npos);
}

}  // namespace
}  // namespace ds
