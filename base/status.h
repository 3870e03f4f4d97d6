#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace escrow {

// The outcome classes every layer speaks. api/ maps them to HTTP; vault/ sets `reason`
// (the API.md error code, e.g. "personal_device") where the decision is made.
enum class Code {
  kOk,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kUnauthenticated,
  kPermissionDenied,
  kFailedPrecondition,
  kUnavailable,         // HSM or database busy or gone, or not logged in
  kDataLoss,            // failed tag, broken chain, integrity
  kResourceExhausted,   // a limit or quota; carries the seconds to wait
  kInternal,
};

std::string_view CodeName(Code code);

// A code, a message for operators, and an optional API error code. Messages never hold
// key bytes, PINs, shares or plaintext.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message, std::string reason = {})
      : code_(code), message_(std::move(message)), reason_(std::move(reason)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m, std::string r = {}) {
    return {Code::kInvalidArgument, std::move(m), std::move(r)};
  }
  static Status NotFound(std::string m, std::string r = {}) {
    return {Code::kNotFound, std::move(m), std::move(r)};
  }
  static Status AlreadyExists(std::string m, std::string r = {}) {
    return {Code::kAlreadyExists, std::move(m), std::move(r)};
  }
  static Status Unauthenticated(std::string m, std::string r = {}) {
    return {Code::kUnauthenticated, std::move(m), std::move(r)};
  }
  static Status PermissionDenied(std::string m, std::string r = {}) {
    return {Code::kPermissionDenied, std::move(m), std::move(r)};
  }
  static Status FailedPrecondition(std::string m, std::string r = {}) {
    return {Code::kFailedPrecondition, std::move(m), std::move(r)};
  }
  static Status Unavailable(std::string m, std::string r = {}) {
    return {Code::kUnavailable, std::move(m), std::move(r)};
  }
  static Status DataLoss(std::string m, std::string r = {}) {
    return {Code::kDataLoss, std::move(m), std::move(r)};
  }
  static Status ResourceExhausted(std::string m, std::int64_t retry_after_seconds,
                                  std::string r = {}) {
    Status s{Code::kResourceExhausted, std::move(m), std::move(r)};
    s.retry_after_seconds_ = retry_after_seconds;
    return s;
  }
  static Status Internal(std::string m, std::string r = {}) {
    return {Code::kInternal, std::move(m), std::move(r)};
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& reason() const { return reason_; }
  std::int64_t retry_after_seconds() const { return retry_after_seconds_; }

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;
  // "kDataLoss: message" for logs and test failures.
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::string reason_;
  std::int64_t retry_after_seconds_ = 0;
};

}  // namespace escrow

// Returns early from the enclosing function with `expr`'s Status if it is not OK.
#define ESCROW_RETURN_IF_ERROR(expr)               \
  do {                                             \
    ::escrow::Status escrow_status_ = (expr);      \
    if (!escrow_status_.ok()) return escrow_status_; \
  } while (false)
