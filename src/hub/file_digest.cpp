#include "hub/file_digest.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include <openssl/evp.h>

namespace ds::hub {

namespace {

bool all_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) || (c >= 'a' && c <= 'f'); });
}

// Digest of an optional prefix followed by the file's bytes.
Result<std::string> digest_file(const std::filesystem::path& path, const EVP_MD* md, const std::string& prefix) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path.string() + ": cannot open");
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return Status(ErrorCode::kInternal, "EVP_DigestInit_ex failed");
  EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size());
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), size_t(in.gcount()));
  }
  if (in.bad()) return io_error(path.string() + ": read error");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &n);
  std::string hex;
  char b[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", out[i]);
    hex += b;
  }
  return hex;
}

}  // namespace

Result<std::string> sha256_file(const std::filesystem::path& path) { return digest_file(path, EVP_sha256(), ""); }

Result<std::string> git_blob_sha1(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return io_error(path.string() + ": " + ec.message());
  std::string prefix = "blob " + std::to_string(size);
  prefix.push_back('\0');
  return digest_file(path, EVP_sha1(), prefix);
}

Status verify_etag(const std::filesystem::path& path, const std::string& etag, const std::string& display_name) {
  if (!all_hex(etag) || (etag.size() != 64 && etag.size() != 40)) return Status::ok();
  const bool lfs = etag.size() == 64;
  DS_ASSIGN_OR_RETURN(std::string got, lfs ? sha256_file(path) : git_blob_sha1(path));
  if (got == etag) return Status::ok();
  return invalid_argument(display_name + ": checksum mismatch: the hub says " + (lfs ? "sha256 " : "git sha1 ") + etag +
                          ", the downloaded file has " + got + " (the file was discarded)");
}

}  // namespace ds::hub
