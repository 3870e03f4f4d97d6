#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "storage/statement.h"  // Query: a named SQL text

struct pg_conn;
struct pg_result;

namespace escrow::storage {

// The values of one statement's $1..$N, in order (private to storage/). Text parameters go
// in PostgreSQL's text format, bytea in binary, so that no value is ever spliced into SQL
// text or escaped by hand. Numeric adders take exact types, as Statement's binds do.
class PgParams {
 public:
  PgParams& Text(std::string_view value);
  PgParams& Blob(std::span<const std::uint8_t> value);
  PgParams& Int64(std::int64_t value);
  PgParams& Uint32(std::uint32_t value);
  // Values above INT64_MAX are clamped (a cursor past every bigint, or "no limit").
  PgParams& Uint64Clamped(std::uint64_t value);
  PgParams& Count(std::size_t value);  // a LIMIT: clamped to INT64_MAX
  PgParams& Bool(bool value);
  PgParams& Null();
  // The value, or NULL for none.
  PgParams& OptionalText(const std::optional<std::string_view>& value);
  PgParams& OptionalInt64(const std::optional<std::int64_t>& value);
  template <class T>
  PgParams& Int64(T) = delete;
  template <class T>
  PgParams& Uint32(T) = delete;
  template <class T>
  PgParams& Bool(T) = delete;

  int size() const { return static_cast<int>(values_.size()); }
  // For PQexecPrepared: pointers into this object, valid while it lives unchanged.
  std::vector<const char*> values() const;
  std::vector<int> lengths() const;
  const std::vector<int>& formats() const { return formats_; }
  // True if a text value holds a NUL byte (Exec refuses it: kInvalidArgument).
  bool has_nul() const { return has_nul_; }

 private:
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;  // 0 text, 1 binary
  bool has_nul_ = false;
};

// Owns one PGresult (private to storage/): rows of text-format columns, read with checks,
// since the database is untrusted: a value that does not parse is kDataLoss. Move-only.
class PgResult {
 public:
  explicit PgResult(pg_result* result, std::string_view name) : result_(result), name_(name) {}
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;  // two owners would PQclear it twice
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();  // PQclear

  int rows() const;
  // Rows changed by an INSERT, UPDATE or DELETE (PQcmdTuples).
  std::int64_t affected() const;

  bool IsNull(int row, int column) const;
  std::string Text(int row, int column) const;  // "" for NULL
  Result<std::int64_t> Int64(int row, int column) const;
  Result<std::uint32_t> Uint32(int row, int column) const;
  Result<std::uint64_t> Uint64(int row, int column) const;
  Result<bool> Bool(int row, int column) const;
  Result<Bytes> Blob(int row, int column) const;  // bytea in hex output ("\x..."); empty for NULL

  std::string_view name() const { return name_; }
  // For PgConnection's status checks only.
  pg_result* raw() const { return result_; }

 private:
  Status Bad(int column, std::string_view what) const;

  pg_result* result_ = nullptr;
  std::string_view name_;  // points at a static Query name
};

struct PgConnectOptions {
  // libpq keywords and values (PQconnectdbParams; dbname is never
  // expanded as a connection string).
  std::vector<std::pair<std::string, std::string>> params;
  int lock_timeout_ms = 5000;  // a write waiting on the audit head longer gets kUnavailable
};

// One libpq connection (private to storage/), with a cache of its prepared statements by
// SQL text: each Query is prepared once per connection (PQprepare) and then executed with
// bound parameters (PQexecPrepared). The session is set up at open: bytea_output hex, UTC,
// synchronous_commit never below on, lock and idle-in-transaction timeouts. Not thread-safe:
// one thread at a time (a pool lends it out).
class PgConnection {
 public:
  // kUnavailable if the server cannot be reached or refuses the session (the message is
  // libpq's, which never holds the password).
  static Result<std::unique_ptr<PgConnection>> Open(const PgConnectOptions& options);

  PgConnection(const PgConnection&) = delete;  // two owners would PQfinish it twice
  PgConnection& operator=(const PgConnection&) = delete;
  PgConnection(PgConnection&&) = delete;
  PgConnection& operator=(PgConnection&&) = delete;
  ~PgConnection();  // PQfinish

  // Runs `query` with `params` (prepared once on this connection). Errors map as
  // pg_error.h says; after a connection-level error broken() is true.
  Result<PgResult> Exec(const Query& query, const PgParams& params = {});
  // Runs SQL text without parameters (BEGIN, COMMIT, SAVEPOINT, migrations: several
  // `;`-separated statements). REQUIRES: `sql` is a constant of ours, never input.
  // Rows it returns are ignored.
  Status Run(std::string_view name, const std::string& sql);
  // COMMIT, checked: kUnavailable if the server rolled the transaction back instead, or if
  // the connection failed (the outcome is then unknown: the caller must not acknowledge).
  Status Commit();

  // True once the connection is lost or left in a state the pool must not reuse.
  bool broken() const;
  // True inside BEGIN ... COMMIT (PQtransactionStatus is not idle).
  bool in_transaction() const;
  void MarkBroken() { broken_ = true; }

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  Status Check(pg_result* result, std::string_view name, bool want_rows);

  pg_conn* conn_ = nullptr;
  bool broken_ = false;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
};

}  // namespace escrow::storage
