// upload_weights onto the CUDA backend: every view points into device memory with the right dtype
// (matrices and biases bf16, norms kept), values equal the host weights rounded to bf16, tied
// lm_head/embed_tokens share one copy. On the CPU backend the views are returned unchanged.
#include <gtest/gtest.h>

#include "gpu_test_util.h"
#include "model/weights.h"
#include "runtime/device_weights.h"

namespace ds::gputest {
namespace {

ModelConfig tiny_config(bool tied) {
  ModelConfig c;
  c.architecture = "Qwen2ForCausalLM";
  c.model_type = "qwen2";
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 300;
  c.max_position_embeddings = 128;
  c.tie_word_embeddings = tied;
  c.attention_bias = true;
  return c;
}

std::vector<uint16_t> download_u16(const Tensor& t) {
  std::vector<uint16_t> v(size_t(t.numel()));
  gpu().copy_to_host(v.data(), t.data, t.nbytes());
  return v;
}

void expect_bf16_of(const Tensor& host_f32, const Tensor& dev, const char* what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(dev.dtype, DType::kBF16);
  ASSERT_EQ(dev.numel(), host_f32.numel());
  const std::vector<uint16_t> got = download_u16(dev);
  const float* want = host_f32.ptr<float>();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], f32_to_bf16(want[i])) << "element " << i;
}

TEST(DeviceWeights, F32CheckpointBecomesBf16MatricesAndKeepsNorms) {
  for (bool tied : {false, true}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    const ModelConfig cfg = tiny_config(tied);
    const ModelWeights host = make_dummy_weights(cfg, DType::kF32, 5);
    const ModelWeights dev = upload_weights(host, gpu(), DType::kBF16);
    expect_bf16_of(host.embed_tokens, dev.embed_tokens, "embed_tokens");
    expect_bf16_of(host.lm_head, dev.lm_head, "lm_head");
    EXPECT_EQ(tied, dev.lm_head.data == dev.embed_tokens.data);
    for (size_t l = 0; l < host.layers.size(); ++l) {
      const LayerWeights &h = host.layers[l], &d = dev.layers[l];
      expect_bf16_of(h.q_proj, d.q_proj, "q_proj");
      expect_bf16_of(h.k_bias, d.k_bias, "k_bias");
      expect_bf16_of(h.down_proj, d.down_proj, "down_proj");
      ASSERT_EQ(d.input_layernorm.dtype, DType::kF32);
      std::vector<float> norm(size_t(d.input_layernorm.numel()));
      gpu().copy_to_host(norm.data(), d.input_layernorm.data, d.input_layernorm.nbytes());
      for (size_t i = 0; i < norm.size(); ++i) ASSERT_EQ(norm[i], h.input_layernorm.ptr<float>()[i]);
    }
  }
}

TEST(DeviceWeights, Bf16CheckpointCopiedAsIsAndCpuBackendReturnsTheSameViews) {
  const ModelConfig cfg = tiny_config(false);
  const ModelWeights host = make_dummy_weights(cfg, DType::kBF16, 9);
  const ModelWeights dev = upload_weights(host, gpu(), DType::kBF16);
  const std::vector<uint16_t> got = download_u16(dev.layers[1].up_proj);
  const uint16_t* want = host.layers[1].up_proj.ptr<uint16_t>();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;
  auto cpu = make_cpu_backend({1});
  const ModelWeights same = upload_weights(host, *cpu, DType::kBF16);
  EXPECT_EQ(same.layers[1].up_proj.data, host.layers[1].up_proj.data);
  EXPECT_EQ(same.embed_tokens.data, host.embed_tokens.data);
  EXPECT_EQ(same.storage, host.storage);
}

// q|k|v (and their biases) and gate|up lie back to back on the device, so the Decoder can run each
// group as one matmul; the fused views hold exactly the parts' values.
TEST(DeviceWeights, QkvAndGateUpAreLaidOutForFusion) {
  const ModelConfig cfg = tiny_config(false);
  const ModelWeights host = make_dummy_weights(cfg, DType::kBF16, 5);
  const ModelWeights dev = upload_weights(host, gpu(), DType::kBF16);
  for (const LayerWeights& lw : dev.layers) {
    const Tensor qkv = fused_rows({&lw.q_proj, &lw.k_proj, &lw.v_proj});
    ASSERT_TRUE(qkv.defined());
    EXPECT_EQ(qkv.dim(0), cfg.q_size() + 2 * cfg.kv_size());
    EXPECT_EQ(qkv.dim(1), cfg.hidden_size);
    const Tensor b = fused_rows({&lw.q_bias, &lw.k_bias, &lw.v_bias});
    ASSERT_TRUE(b.defined());
    EXPECT_EQ(b.numel(), cfg.q_size() + 2 * cfg.kv_size());
    const Tensor gu = fused_rows({&lw.gate_proj, &lw.up_proj});
    ASSERT_TRUE(gu.defined());
    EXPECT_EQ(gu.dim(0), 2 * cfg.intermediate_size);
    const std::vector<uint16_t> all = download_u16(gu), up = download_u16(lw.up_proj);
    for (size_t i = 0; i < up.size(); ++i) ASSERT_EQ(all[all.size() - up.size() + i], up[i]) << i;
  }
  EXPECT_FALSE(fused_rows({&dev.layers[0].q_proj, &dev.layers[0].v_proj}).defined()) << "not adjacent";
}

}  // namespace
}  // namespace ds::gputest
