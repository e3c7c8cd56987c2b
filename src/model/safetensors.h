#pragma once
// Safetensors reader: mmap'd files, single or sharded (model.safetensors.index.json).
// Every header is validated (JSON well-formed, dtype known, offsets in bounds and non-overlapping,
// shape x dtype == byte length) and errors name the file and the tensor.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/tensor.h"

namespace ds {

struct TensorInfo {
  std::string name;
  std::string file;  // file name (for error messages)
  Tensor view;       // points into the mmap
};

class MappedFile;  // RAII mmap, model/mapped_file.h

class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> open(const std::filesystem::path& path);
  // Parses a header from memory (the fuzz target and unit tests use this): `data` is the whole file.
  static Result<std::map<std::string, TensorInfo>> parse(const uint8_t* data, size_t size,
                                                         const std::string& file_name);
  ~SafetensorsFile();
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }

 private:
  SafetensorsFile() = default;
  std::unique_ptr<MappedFile> map_;
  std::map<std::string, TensorInfo> tensors_;
};

// All tensors of a checkpoint folder: model.safetensors, or the shards listed by
// model.safetensors.index.json (each shard must hold exactly the tensors the index says).
class TensorStore {
 public:
  static Result<std::unique_ptr<TensorStore>> open(const std::filesystem::path& model_dir);
  const TensorInfo* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*> index_;
};

}  // namespace ds
