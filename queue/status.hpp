// status.hpp: errors as values for the spool. A Status is "ok" or an error code (an errno value, or one of the
// spool's own codes) plus a short context string naming the operation and the file. Result<T> carries a value or
// a Status. No exceptions are thrown by the spool on any data path.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace sluice::queue {

// Spool-specific error codes live above the errno range so both fit in one int.
enum SpoolError : int {
  kErrCorrupt = 10001,     // on-disk data failed validation
  kErrLocked = 10002,      // another process holds the spool lock
  kErrUnhealthy = 10003,   // an earlier sync failed; the spool refuses writes
  kErrTooLarge = 10004,    // a message does not fit in one segment
  kErrNotFound = 10005,    // no live message with that id
  kErrInvalid = 10006,     // a caller passed an argument out of range
  kErrClosed = 10007,      // the spool is shutting down
};

class Status {
 public:
  Status() = default;
  // Builds an error with a code and a context message.
  Status(int code, std::string context) : code_(code), context_(std::move(context)) {}

  // Builds an error from errno-style code, appending strerror text to the context.
  static Status fromErrno(int err, std::string_view what) {
    std::string ctx(what);
    ctx += ": ";
    ctx += std::strerror(err);
    return Status(err, std::move(ctx));
  }
  // Returns the success value.
  static Status ok() { return Status(); }

  // True when this is not an error.
  bool isOk() const { return code_ == 0; }
  explicit operator bool() const { return isOk(); }
  // The error code (0 when ok).
  int code() const { return code_; }
  // Human-readable context; empty when ok.
  const std::string& message() const { return context_; }

 private:
  int code_ = 0;
  std::string context_;
};

// A value or an error. Access value() only after checking isOk().
template <typename T>
class Result {
 public:
  // Wraps a value.
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  // Wraps an error; the status must not be ok.
  Result(Status error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  // True when a value is held.
  bool isOk() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return isOk(); }
  // The held value.
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  // The error (an ok Status when a value is held).
  Status status() const { return isOk() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sluice::queue
