#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

struct sqlite3_stmt;

namespace escrow::storage {

class Database;

// A named SQL text. The name goes into error messages; the SQL never holds values (every
// value is bound), so neither can leak one.
struct Query {
  std::string_view name;
  std::string_view sql;
};

// Owns one sqlite3_stmt (private to storage/). Parameters are 1-based, columns 0-based.
// Numeric binds take exact types: the deleted templates stop an `int` or a `size_t` from
// converting silently, so every narrowing or sign change is spelled out by the caller.
// Not thread-safe: it belongs to the connection that prepared it.
class Statement {
 public:
  Statement(Database* db, sqlite3_stmt* stmt, std::string_view name);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;  // two owners would finalize it twice
  Statement& operator=(const Statement&) = delete;
  ~Statement();  // sqlite3_finalize

  // All return kInvalidArgument (SQLITE_RANGE, SQLITE_TOOBIG) or kUnavailable (SQLITE_NOMEM).
  Status BindText(int index, std::string_view value);
  Status BindBlob(int index, std::span<const std::uint8_t> value);
  Status BindInt64(int index, std::int64_t value);
  Status BindUint32(int index, std::uint32_t value);
  // kInvalidArgument above INT64_MAX (SQLite integers are signed 64-bit).
  Status BindUint64(int index, std::uint64_t value);
  // A row count or LIMIT: values above INT64_MAX mean "no limit" and are clamped.
  Status BindCount(int index, std::size_t value);
  Status BindBool(int index, bool value);
  Status BindNull(int index);
  template <class T>
  Status BindInt64(int, T) = delete;
  template <class T>
  Status BindUint32(int, T) = delete;
  template <class T>
  Status BindUint64(int, T) = delete;
  template <class T>
  Status BindCount(int, T) = delete;
  template <class T>
  Status BindBool(int, T) = delete;

  // True while a row is available, false when done; errors as FromSqlite maps them.
  Result<bool> Step();
  // Steps a statement that returns no rows (kInternal if it does).
  Status Run();

  bool ColumnIsNull(int column) const;
  std::int64_t ColumnInt64(int column) const;
  bool ColumnBool(int column) const;
  // kDataLoss if the stored value does not fit: the file is untrusted.
  Result<std::uint32_t> ColumnUint32(int column) const;
  Result<std::uint64_t> ColumnUint64(int column) const;
  std::string ColumnText(int column) const;  // "" for NULL
  Bytes ColumnBlob(int column) const;        // empty for NULL

  // Rewinds and clears bindings so the statement can be reused (and no bound value stays
  // referenced). Safe on any state.
  void Reset();

  std::string_view name() const { return name_; }

 private:
  Status Check(int rc);

  Database* db_ = nullptr;  // borrowed: the Database owns its statements
  sqlite3_stmt* stmt_ = nullptr;
  std::string_view name_;  // points at a static Query name
};

// A cached statement borrowed from its Database for one use; resets it (ending any read
// transaction it holds open) and clears its bindings when it goes out of scope.
class StatementLease {
 public:
  explicit StatementLease(Statement* statement) : statement_(statement) {}
  StatementLease(StatementLease&& other) noexcept : statement_(other.statement_) {
    other.statement_ = nullptr;
  }
  StatementLease& operator=(StatementLease&&) = delete;
  StatementLease(const StatementLease&) = delete;  // two leases would reset it under a user
  StatementLease& operator=(const StatementLease&) = delete;
  ~StatementLease() {
    if (statement_ != nullptr) statement_->Reset();
  }

  Statement& operator*() const { return *statement_; }
  Statement* operator->() const { return statement_; }

 private:
  Statement* statement_;
};

}  // namespace escrow::storage
