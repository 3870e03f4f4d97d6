#pragma once

#include <utility>
#include <variant>

#include "base/check.h"
#include "base/status.h"

namespace escrow {

// Holds a T or a non-OK Status. Accessing the value of an error is a bug (aborts).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    ESCROW_CHECK(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  T& value() & {
    ESCROW_CHECK(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    ESCROW_CHECK(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    ESCROW_CHECK(ok());
    return std::get<T>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace escrow

// Declares `lhs` from a Result expression, or returns its Status from the enclosing function.
#define ESCROW_ASSIGN_OR_RETURN(lhs, expr) \
  ESCROW_ASSIGN_OR_RETURN_IMPL(ESCROW_CONCAT(escrow_result_, __LINE__), lhs, expr)
#define ESCROW_CONCAT_INNER(a, b) a##b
#define ESCROW_CONCAT(a, b) ESCROW_CONCAT_INNER(a, b)
// bugprone-macro-parentheses is wrong here: `lhs` may be a declaration ("std::string x"),
// which parentheses would not compile, and `tmp` is always one identifier (ESCROW_CONCAT's).
// NOLINTBEGIN(bugprone-macro-parentheses)
#define ESCROW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
