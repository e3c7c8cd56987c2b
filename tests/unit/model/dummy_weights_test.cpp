#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "model/weights.h"

namespace ds {
namespace {

ModelConfig tiny(bool qwen) {
  ModelConfig c;
  c.architecture = qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 300;
  c.attention_bias = qwen;
  c.tie_word_embeddings = !qwen;
  return c;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.data, b.data, a.nbytes()) == 0;
}

TEST(DummyWeights, ShapesAlignmentAndValues) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    ModelConfig c = tiny(true);
    ModelWeights w = make_dummy_weights(c, dt, 7);
    ASSERT_EQ(w.layers.size(), 3u);
    EXPECT_EQ(w.embed_tokens.shape_str(), "[300, 64]");
    EXPECT_EQ(w.lm_head.shape_str(), "[300, 64]");
    EXPECT_NE(w.lm_head.data, w.embed_tokens.data);
    const LayerWeights& l = w.layers[2];
    EXPECT_EQ(l.q_proj.shape_str(), "[64, 64]");
    EXPECT_EQ(l.k_bias.shape_str(), "[32]");
    EXPECT_EQ(l.down_proj.shape_str(), "[64, 96]");
    for (const Tensor* t : std::initializer_list<const Tensor*>{&w.embed_tokens, &l.q_proj, &l.v_bias, &l.down_proj, &w.norm}) {
      EXPECT_EQ(t->dtype, dt);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % 64, 0u);
    }
    EXPECT_EQ(load_as_f32(w.norm.data, dt, 63), 1.0f);
    EXPECT_EQ(load_as_f32(l.post_attention_layernorm.data, dt, 0), 1.0f);
    double sum = 0, max_abs = 0;
    for (int64_t i = 0; i < l.gate_proj.numel(); ++i) {
      float v = load_as_f32(l.gate_proj.data, dt, size_t(i));
      sum += v;
      max_abs = std::max(max_abs, double(std::abs(v)));
    }
    EXPECT_LE(max_abs, 0.0201);
    EXPECT_GT(max_abs, 0.015);
    EXPECT_LT(std::abs(sum / double(l.gate_proj.numel())), 0.002);
  }
}

TEST(DummyWeights, DeterministicPerSeed) {
  ModelConfig c = tiny(false);
  ModelWeights a = make_dummy_weights(c, DType::kBF16, 1);
  ModelWeights b = make_dummy_weights(c, DType::kBF16, 1);
  ModelWeights d = make_dummy_weights(c, DType::kBF16, 2);
  EXPECT_EQ(a.lm_head.data, a.embed_tokens.data);  // tied
  EXPECT_TRUE(same_bytes(a.embed_tokens, b.embed_tokens));
  EXPECT_TRUE(same_bytes(a.layers[1].up_proj, b.layers[1].up_proj));
  EXPECT_FALSE(same_bytes(a.embed_tokens, d.embed_tokens));
  EXPECT_FALSE(same_bytes(a.layers[1].up_proj, d.layers[1].up_proj));
  // Different tensors of one model differ too.
  EXPECT_FALSE(same_bytes(a.layers[0].gate_proj, a.layers[0].up_proj));
}

TEST(DummyWeights, LargeTensorSpansChunksDeterministically) {
  // 2.5M-element matrices cross the 1M-element work chunks, filled by several threads.
  ModelConfig c = tiny(false);
  c.hidden_size = 512;
  c.intermediate_size = 5000;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 8;
  c.head_dim = 64;
  ModelWeights a = make_dummy_weights(c, DType::kF32, 42);
  ModelWeights b = make_dummy_weights(c, DType::kF32, 42);
  EXPECT_TRUE(same_bytes(a.layers[0].down_proj, b.layers[0].down_proj));
  const float* p = a.layers[0].down_proj.ptr<float>();
  EXPECT_NE(p[0], p[1 << 20]);
  EXPECT_NE(p[(1 << 20) - 1], p[1 << 20]);
}

}  // namespace
}  // namespace ds
