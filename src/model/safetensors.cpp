// Safetensors layout: [u64 little-endian header length N][N bytes of JSON header][data section].
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}, offsets relative
// to the data section; "__metadata__" holds free-form strings and is ignored.
#include "model/safetensors.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "model/mapped_file.h"

namespace ds {

namespace {

using nlohmann::json;

constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kSingleFile = "model.safetensors";

Result<DType> parse_dtype(const std::string& s) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  return unsupported("unsupported dtype '" + s + "' (supported: F32, F16, BF16)");
}

// A non-negative JSON integer (nlohmann stores them as unsigned or signed).
bool as_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = uint64_t(v.get<int64_t>());
    return true;
  }
  return false;
}

std::string offsets_str(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

// Byte range of one tensor within the data section, for the overlap check.
struct Extent {
  uint64_t begin, end;
  const std::string* name;
};

// Parses and checks one header entry; `data` is the start of the data section.
// `header_len` (N) locates the data section in the file for the alignment check.
Result<TensorInfo> parse_entry(const std::string& name, const json& e, const uint8_t* data, uint64_t data_size,
                               uint64_t header_len, const std::string& file, Extent* extent) {
  auto fail = [&](const std::string& what) {
    return invalid_argument(file + ": tensor '" + name + "': " + what);
  };
  if (!e.is_object()) return fail("header entry is not an object");
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) return fail("missing or non-string 'dtype'");
  Result<DType> dtype = parse_dtype(dt->get<std::string>());
  if (!dtype.ok()) return Status(dtype.status().code(), file + ": tensor '" + name + "': " + dtype.status().message());
  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) return fail("missing or non-array 'shape'");
  if (sh->size() > size_t(Tensor::kMaxDims)) {
    return fail("has " + std::to_string(sh->size()) + " dimensions (at most " +
                std::to_string(Tensor::kMaxDims) + " supported)");
  }
  TensorInfo info{name, file, Tensor()};
  info.view.dtype = *dtype;
  uint64_t nbytes = dtype_size(*dtype);
  for (const json& d : *sh) {
    uint64_t v = 0;
    if (!as_u64(d, &v) || v > uint64_t(INT64_MAX)) return fail("shape entries must be non-negative integers");
    if (__builtin_mul_overflow(nbytes, v, &nbytes)) return fail("shape is too large");
    info.view.shape[size_t(info.view.ndim++)] = int64_t(v);
  }
  auto off = e.find("data_offsets");
  uint64_t begin = 0, end = 0;
  if (off == e.end() || !off->is_array() || off->size() != 2 || !as_u64((*off)[0], &begin) ||
      !as_u64((*off)[1], &end)) {
    return fail("'data_offsets' must be [begin, end] with non-negative integers");
  }
  if (begin > end) return fail("data_offsets " + offsets_str(begin, end) + " have begin > end");
  if (end > data_size) {
    return fail("data_offsets " + offsets_str(begin, end) + " exceed the data section (" +
                std::to_string(data_size) + " bytes)");
  }
  if (end - begin != nbytes) {
    return fail("shape " + info.view.shape_str() + " of " + std::string(dtype_name(*dtype)) + " needs " +
                std::to_string(nbytes) + " bytes but data_offsets " + offsets_str(begin, end) + " span " +
                std::to_string(end - begin));
  }
  // The data section starts at file offset 8 + N; writers pad N to a multiple of 8 so every
  // tensor is aligned to its element size. Views of misaligned data would be undefined behaviour.
  if ((8 + header_len + begin) % dtype_size(*dtype) != 0) {
    return fail("data at file offset " + std::to_string(8 + header_len + begin) + " is not aligned to " +
                std::to_string(dtype_size(*dtype)) + " bytes (header not padded to a multiple of 8?)");
  }
  info.view.data = const_cast<uint8_t*>(data + begin);
  *extent = Extent{begin, end, nullptr};
  return info;
}

Status check_no_overlap(std::vector<Extent>& extents, const std::string& file) {
  std::sort(extents.begin(), extents.end(),
            [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
  const Extent* prev = nullptr;
  for (const Extent& x : extents) {
    if (x.begin == x.end) continue;  // empty tensors occupy no bytes
    if (prev != nullptr && x.begin < prev->end) {
      return invalid_argument(file + ": tensor '" + *x.name + "' (data_offsets " + offsets_str(x.begin, x.end) +
                              ") overlaps tensor '" + *prev->name + "' (data_offsets " +
                              offsets_str(prev->begin, prev->end) + ")");
    }
    prev = &x;
  }
  return Status::ok();
}

Result<json> parse_header_json(const uint8_t* p, size_t n, const std::string& file) {
  json header = json::parse(p, p + n, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return invalid_argument(file + ": header is not well-formed JSON");
  if (!header.is_object()) return invalid_argument(file + ": header is not a JSON object");
  return header;
}

}  // namespace

Result<std::map<std::string, TensorInfo>> SafetensorsFile::parse(const uint8_t* data, size_t size,
                                                                 const std::string& file_name) {
  const std::string& f = file_name;
  if (size < 8) {
    return invalid_argument(f + ": file is " + std::to_string(size) +
                            " bytes, too short for the 8-byte header length");
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > size - 8) {
    return invalid_argument(f + ": header length " + std::to_string(n) + " exceeds the file size (" +
                            std::to_string(size) + " bytes); the file is truncated or not safetensors");
  }
  DS_ASSIGN_OR_RETURN(json header, parse_header_json(data + 8, size_t(n), f));
  const uint8_t* section = data + 8 + n;
  uint64_t section_size = size - 8 - n;
  std::map<std::string, TensorInfo> out;
  std::vector<Extent> extents;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    Extent x{};
    DS_ASSIGN_OR_RETURN(TensorInfo info, parse_entry(it.key(), it.value(), section, section_size, n, f, &x));
    auto [pos, inserted] = out.emplace(it.key(), std::move(info));
    x.name = &pos->first;
    extents.push_back(x);
  }
  DS_RETURN_IF_ERROR(check_no_overlap(extents, f));
  return out;
}

SafetensorsFile::~SafetensorsFile() = default;

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::filesystem::path& path) {
  DS_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
  DS_ASSIGN_OR_RETURN(auto tensors, parse(map->data(), map->size(), path.filename().string()));
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->map_ = std::move(map);
  file->tensors_ = std::move(tensors);
  return file;
}

// ---------------------------------------------------------------------------------------------
// TensorStore

namespace {

// weight_map of an index file, grouped by shard: shard file name -> tensor names.
Result<std::map<std::string, std::vector<std::string>>> read_index(const std::filesystem::path& path) {
  DS_ASSIGN_OR_RETURN(json index, read_json_file(path));
  const std::string f = path.filename().string();
  if (!index.is_object()) return invalid_argument(f + ": not a JSON object");
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object()) return invalid_argument(f + ": missing object 'weight_map'");
  std::map<std::string, std::vector<std::string>> shards;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string()) return invalid_argument(f + ": weight_map['" + it.key() + "'] is not a string");
    std::string shard = it->get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      return invalid_argument(f + ": weight_map['" + it.key() + "'] names '" + shard +
                              "', which is not a file name in the model folder");
    }
    shards[shard].push_back(it.key());
  }
  if (shards.empty()) return invalid_argument(f + ": weight_map is empty");
  return shards;
}

// The index says `names` live in `file`; the shard must hold exactly those.
Status check_shard_contents(const SafetensorsFile& file, const std::string& shard,
                            const std::vector<std::string>& names,
                            const std::map<std::string, std::vector<std::string>>& shards) {
  std::set<std::string> listed(names.begin(), names.end());
  for (const std::string& n : names) {
    if (file.tensors().count(n) == 0) {
      return invalid_argument(std::string(kIndexFile) + ": tensor '" + n + "' is listed in shard '" + shard +
                              "' but " + shard + " does not contain it");
    }
  }
  for (const auto& [n, info] : file.tensors()) {
    if (listed.count(n) != 0) continue;
    std::string where = "not listed in the index";
    for (const auto& [other, other_names] : shards) {
      if (std::find(other_names.begin(), other_names.end(), n) != other_names.end()) {
        where = "listed under shard '" + other + "'";
      }
    }
    return invalid_argument(shard + ": holds tensor '" + n + "', which " + kIndexFile + " has " + where);
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<TensorStore>> TensorStore::open(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec)) {
    return not_found(model_dir.string() + ": model folder does not exist or is not a directory");
  }
  auto store = std::unique_ptr<TensorStore>(new TensorStore());
  const std::filesystem::path index_path = model_dir / kIndexFile;
  if (std::filesystem::exists(index_path, ec)) {
    DS_ASSIGN_OR_RETURN(auto shards, read_index(index_path));
    for (const auto& [shard, names] : shards) {
      const std::filesystem::path p = model_dir / shard;
      if (!std::filesystem::exists(p, ec)) {
        return not_found(std::string(kIndexFile) + ": shard '" + shard + "' does not exist in " +
                         model_dir.string());
      }
      DS_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(p));
      DS_RETURN_IF_ERROR(check_shard_contents(*file, shard, names, shards));
      for (const auto& [n, info] : file->tensors()) store->index_[n] = &info;
      store->files_.push_back(std::move(file));
    }
    return store;
  }
  const std::filesystem::path single = model_dir / kSingleFile;
  if (!std::filesystem::exists(single, ec)) {
    return not_found(model_dir.string() + ": no " + kSingleFile + " or " + kIndexFile + " found");
  }
  DS_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(single));
  for (const auto& [n, info] : file->tensors()) store->index_[n] = &info;
  store->files_.push_back(std::move(file));
  return store;
}

const TensorInfo* TensorStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [n, info] : index_) out.push_back(n);
  return out;
}

}  // namespace ds
