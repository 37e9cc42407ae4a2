// Status and Result<T>: the error type returned across I/O, format and API boundaries.
// A Status is either ok or carries one human-readable line naming the file/tensor/key and
// the expected vs actual value. Value types; thread-compatible.
#pragma once

#include <fmt/format.h>  // fmt::format for error messages

#include <string>
#include <utility>
#include <variant>

namespace flashstream {

// Returns `message` with every control character (newline, carriage return, escape, ...)
// written as \n, \r, \t or \xNN, so that text quoted from a file cannot break an error
// onto several lines or send terminal escapes.
std::string OneLineMessage(std::string message);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  static Status Ok() { return Status(); }
  static Status Error(std::string message) {
    Status s;
    s.ok_ = false;
    s.message_ = OneLineMessage(std::move(message));
    return s;
  }
  bool ok() const { return ok_; }
  const std::string& message() const { return message_; }

 private:
  bool ok_ = true;
  std::string message_;
};

// Formats an error Status: Errorf("{}: tensor {} has {} dims, expected {}", path, name, a, b).
template <typename... Args>
Status Errorf(fmt::format_string<Args...> format, Args&&... args) {
  return Status::Error(fmt::format(format, std::forward<Args>(args)...));
}

// Holds either a value or an error Status. Access value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must be an error
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace flashstream

// Propagates an error Status from an expression returning Status.
#define FS_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::flashstream::Status fs_status_ = (expr); \
    if (!fs_status_.ok()) return fs_status_; \
  } while (0)

#define FS_CONCAT_INNER(a, b) a##b
#define FS_CONCAT(a, b) FS_CONCAT_INNER(a, b)

// Declares `lhs` from a Result<T> expression, returning its Status on error.
#define FS_ASSIGN_OR_RETURN(lhs, expr) \
  FS_ASSIGN_OR_RETURN_IMPL(FS_CONCAT(fs_result_, __LINE__), lhs, expr)
#define FS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
