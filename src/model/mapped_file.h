#pragma once
// MappedFile: RAII read-only mmap of a whole file (MAP_PRIVATE, PROT_READ). Move-only.
// An empty file maps to {nullptr, 0} (mmap refuses zero-length mappings).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "common/status.h"

namespace ds {

class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ds
