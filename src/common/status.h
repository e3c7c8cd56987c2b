#pragma once
// Status / Result<T>: the error channel for everything a user or the environment can cause
// (bad files, bad requests). The message is one line that names the file/field and the problem.
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "common/check.h"

namespace ds {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // bad user input (CLI flag, request field, file content)
  kNotFound,         // missing file / model / token
  kUnsupported,      // valid input we do not implement (architecture, Jinja construct)
  kIo,               // the OS failed us (open, mmap, read)
  kResourceExhausted,
  kInternal,
};

class Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }
  bool is_ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Prefixes context, e.g. the file name: "model.safetensors: " + message.
  Status with_context(const std::string& ctx) const {
    if (is_ok()) return *this;
    return Status(code_, ctx + ": " + message_);
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Status unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Status io_error(std::string m) { return {ErrorCode::kIo, std::move(m)}; }

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status s) : v_(std::move(s)) { DS_CHECK(!std::get<Status>(v_).is_ok()) << "Result from ok Status"; }
  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    DS_CHECK(ok()) << status().message();
    return std::get<T>(v_);
  }
  const T& value() const& {
    DS_CHECK(ok()) << status().message();
    return std::get<T>(v_);
  }
  T&& value() && {
    DS_CHECK(ok()) << status().message();
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ds

// Propagate a non-ok Status / Result from the current function.
#define DS_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::ds::Status _st = (expr);                \
    if (!_st.is_ok()) return _st;             \
  } while (0)

#define DS_CONCAT_INNER(a, b) a##b
#define DS_CONCAT(a, b) DS_CONCAT_INNER(a, b)
#define DS_ASSIGN_OR_RETURN(lhs, expr) DS_ASSIGN_OR_RETURN_IMPL(DS_CONCAT(_res_, __LINE__), lhs, expr)
#define DS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
