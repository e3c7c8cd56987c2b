#include "model/safetensors.h"

#include <gtest/gtest.h>

#include "model_test_util.h"

namespace ds {
namespace {

using test::make_safetensors;
using test::StTensor;
using test::TempDir;

Result<std::map<std::string, TensorInfo>> parse_bytes(const std::string& b, const std::string& name = "t.safetensors") {
  return SafetensorsFile::parse(reinterpret_cast<const uint8_t*>(b.data()), b.size(), name);
}

// Replaces the header with `header` verbatim (padded) and appends `data_bytes` zero bytes.
std::string raw_file(std::string header, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((len >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

void expect_parse_error(const std::string& bytes, const std::vector<std::string>& parts) {
  auto r = parse_bytes(bytes, "model-00001-of-00002.safetensors");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_EQ(m.rfind("model-00001-of-00002.safetensors: ", 0), 0u) << m;
  for (const std::string& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
}

TEST(Safetensors, ParsesDtypesShapesAndData) {
  std::string b = make_safetensors({{"a", "F32", {2, 3}, std::nullopt, 1.5f}, {"b", "BF16", {4}}, {"c", "F16", {1, 2, 3, 1}},
                                    {"scalar", "F32", {}, std::nullopt, 2.f}, {"empty", "F32", {0, 5}}});
  auto r = parse_bytes(b);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 5u);  // __metadata__ ignored
  const TensorInfo& a = r->at("a");
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.file, "t.safetensors");
  EXPECT_EQ(a.view.dtype, DType::kF32);
  EXPECT_EQ(a.view.shape_str(), "[2, 3]");
  EXPECT_FLOAT_EQ(a.view.ptr<float>()[5], 1.5f);
  EXPECT_EQ(r->at("b").view.dtype, DType::kBF16);
  EXPECT_EQ(r->at("c").view.dtype, DType::kF16);
  EXPECT_EQ(r->at("c").view.ndim, 4);
  EXPECT_EQ(r->at("scalar").view.ndim, 0);
  EXPECT_FLOAT_EQ(*r->at("scalar").view.ptr<float>(), 2.f);
  EXPECT_EQ(r->at("empty").view.numel(), 0);
}

TEST(Safetensors, EmptyHeaderObjectIsValid) {
  auto r = parse_bytes(raw_file("{}", 0));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->empty());
}

TEST(Safetensors, HeaderErrors) {
  expect_parse_error("", {"too short"});
  expect_parse_error("abc", {"too short"});
  std::string big = raw_file("{}", 0);
  big[0] = char(0xff);
  big[5] = char(0x7f);
  expect_parse_error(big, {"header length", "exceeds the file size"});
  expect_parse_error(raw_file("{\"a\": ", 0), {"not well-formed JSON"});
  expect_parse_error(raw_file("[1, 2]", 0), {"not a JSON object"});
}

TEST(Safetensors, TruncatedFile) {
  std::string b = make_safetensors({{"model.norm.weight", "F32", {1024}}});
  b.resize(b.size() - 100);
  expect_parse_error(b, {"tensor 'model.norm.weight'", "exceed the data section"});
  // Cut inside the header: the header length now exceeds the file.
  expect_parse_error(b.substr(0, 20), {"header length", "exceeds the file size"});
}

TEST(Safetensors, OffsetErrors) {
  expect_parse_error(make_safetensors({{"model.norm.weight", "F32", {4}, StTensor::Offsets{std::in_place, 0, 999999}}}, 4096),
                     {"tensor 'model.norm.weight': data_offsets [0, 999999] exceed the data section (4096 bytes)"});
  expect_parse_error(make_safetensors({{"w", "F32", {4}, StTensor::Offsets{std::in_place, 16, 0}}}, 16), {"'w'", "begin > end"});
  expect_parse_error(make_safetensors({{"w", "F32", {4}, StTensor::Offsets{std::in_place, 0, 12}}}, 16),
                     {"'w'", "[4]", "needs 16 bytes", "span 12"});
  expect_parse_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4), {"'w'", "data_offsets"});
  expect_parse_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4), {"'w'"});
  expect_parse_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1]}})", 4), {"'w'", "data_offsets"});
}

TEST(Safetensors, OverlappingTensors) {
  expect_parse_error(make_safetensors({{"first", "F32", {4}, StTensor::Offsets{std::in_place, 0, 16}},
                                       {"second", "F32", {4}, StTensor::Offsets{std::in_place, 8, 24}}},
                                      32),
                     {"overlaps", "'first'", "'second'"});
  // Adjacent is fine.
  auto ok = parse_bytes(make_safetensors({{"first", "F32", {4}, StTensor::Offsets{std::in_place, 0, 16}},
                                          {"second", "F32", {4}, StTensor::Offsets{std::in_place, 16, 32}}},
                                         32));
  EXPECT_TRUE(ok.ok()) << ok.status().message();
}

TEST(Safetensors, DtypeAndShapeErrors) {
  for (const char* dt : {"I8", "F8_E4M3", "F64", "I32", "BOOL", "Q4"}) {
    std::string h = std::string(R"({"model.embed_tokens.weight": {"dtype": ")") + dt +
                    R"(", "shape": [2], "data_offsets": [0, 2]}})";
    expect_parse_error(raw_file(h, 16), {"tensor 'model.embed_tokens.weight'", dt, "unsupported dtype"});
  }
  expect_parse_error(raw_file(R"({"w": {"dtype": 5, "shape": [1], "data_offsets": [0, 4]}})", 4), {"'w'", "dtype"});
  expect_parse_error(raw_file(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4), {"'w'", "shape"});
  expect_parse_error(raw_file(R"({"w": {"dtype": "F32", "shape": "x", "data_offsets": [0, 4]}})", 4), {"'w'", "shape"});
  expect_parse_error(raw_file(R"({"w": {"dtype": "F32", "shape": [1,1,1,1,1], "data_offsets": [0, 4]}})", 4),
                     {"'w'", "5 dimensions"});
  expect_parse_error(raw_file(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4),
                     {"'w'", "too large"});
  expect_parse_error(raw_file(R"({"w": 3})", 4), {"'w'", "not an object"});
}

TEST(Safetensors, OpenMapsFile) {
  TempDir dir;
  test::write_file(dir.path() / "x.safetensors", make_safetensors({{"a", "F32", {3}, std::nullopt, 4.f}}));
  auto f = SafetensorsFile::open(dir.path() / "x.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_FLOAT_EQ((*f)->tensors().at("a").view.ptr<float>()[2], 4.f);
  EXPECT_EQ((*f)->tensors().at("a").file, "x.safetensors");
  auto missing = SafetensorsFile::open(dir.path() / "nope.safetensors");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.safetensors"), std::string::npos);
  test::write_file(dir.path() / "empty.safetensors", "");
  auto empty = SafetensorsFile::open(dir.path() / "empty.safetensors");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty.safetensors"), std::string::npos);
}

TEST(TensorStore, SingleFileAndMissingFolder) {
  TempDir dir;
  auto none = TensorStore::open(dir.path());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("model.safetensors"), std::string::npos);
  auto nodir = TensorStore::open(dir.path() / "absent");
  ASSERT_FALSE(nodir.ok());
  EXPECT_NE(nodir.status().message().find("absent"), std::string::npos);
  test::write_file(dir.path() / "model.safetensors", make_safetensors({{"a", "F32", {3}}, {"b", "F32", {2}}}));
  auto s = TensorStore::open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ((*s)->names(), (std::vector<std::string>{"a", "b"}));
  ASSERT_NE((*s)->find("b"), nullptr);
  EXPECT_EQ((*s)->find("c"), nullptr);
}

TEST(TensorStore, Sharded) {
  TempDir dir;
  test::TinySpec spec;
  test::write_tiny_model(dir.path(), spec, 3);
  auto s = TensorStore::open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ((*s)->names().size(), test::tiny_tensors(spec).size());
  EXPECT_EQ((*s)->find("model.embed_tokens.weight")->file, "model-00001-of-00003.safetensors");
  EXPECT_EQ((*s)->find("model.layers.0.input_layernorm.weight")->file, "model-00002-of-00003.safetensors");
}

void expect_store_error(const test::fs::path& dir, const std::vector<std::string>& parts) {
  auto s = TensorStore::open(dir);
  ASSERT_FALSE(s.ok());
  const std::string& m = s.status().message();
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  for (const std::string& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
}

TEST(TensorStore, ShardErrors) {
  using nlohmann::json;
  auto index = [](json wm) { return json{{"weight_map", wm}}.dump(); };
  TempDir dir;
  const auto& p = dir.path();
  test::write_file(p / "model-00001-of-00002.safetensors", make_safetensors({{"a", "F32", {2}}}));
  test::write_file(p / "model-00002-of-00002.safetensors", make_safetensors({{"b", "F32", {2}}}));

  test::write_file(p / "model.safetensors.index.json",
                   index({{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00003-of-00002.safetensors"}}));
  expect_store_error(p, {"model-00003-of-00002.safetensors", "does not exist"});

  test::write_file(p / "model.safetensors.index.json",
                   index({{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00001-of-00002.safetensors"}}));
  expect_store_error(p, {"tensor 'b'", "model-00001-of-00002.safetensors", "does not contain"});

  test::write_file(p / "model.safetensors.index.json",
                   index({{"a", "model-00001-of-00002.safetensors"}, {"c", "model-00002-of-00002.safetensors"}}));
  expect_store_error(p, {"model-00002-of-00002.safetensors", "'c'"});

  test::write_file(p / "model.safetensors.index.json", index({{"a", "../etc/passwd"}}));
  expect_store_error(p, {"../etc/passwd"});
  test::write_file(p / "model.safetensors.index.json", json{{"metadata", {}}}.dump());
  expect_store_error(p, {"model.safetensors.index.json", "weight_map"});
  test::write_file(p / "model.safetensors.index.json", "{not json");
  expect_store_error(p, {"model.safetensors.index.json"});

  // A truncated shard names the shard file.
  std::string shard = make_safetensors({{"b", "F32", {256}}});
  test::write_file(p / "model-00002-of-00002.safetensors", shard.substr(0, shard.size() - 10));
  test::write_file(p / "model.safetensors.index.json",
                   index({{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}}));
  expect_store_error(p, {"model-00002-of-00002.safetensors", "tensor 'b'", "exceed the data section"});
}

}  // namespace
}  // namespace ds

namespace ds {
namespace {

TEST(Safetensors, MisalignedDataIsAnError) {
  // Header of 13 bytes (not padded): the F32 data starts at file offset 21.
  std::string h = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string b(8, '\0');
  b[0] = char(h.size());
  b += h + std::string(4, '\0');
  ASSERT_NE((8 + h.size()) % 4, 0u);
  auto r = SafetensorsFile::parse(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "odd.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not aligned"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("odd.safetensors: tensor 'w'"), std::string::npos);
}

}  // namespace
}  // namespace ds
