#include "storage/statement.h"

#include <algorithm>
#include <limits>
#include <utility>

#include <sqlite3.h>

#include "storage/database.h"
#include "storage/sqlite_error.h"

namespace escrow::storage {

Statement::Statement(Database* db, sqlite3_stmt* stmt, std::string_view name)
    : db_(db), stmt_(stmt), name_(name) {}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), name_(other.name_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    name_ = other.name_;
  }
  return *this;
}

Statement::~Statement() {
  // sqlite3_finalize repeats the last step's error, which was reported then: nothing to log.
  sqlite3_finalize(stmt_);
}

Status Statement::Check(int rc) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return Status::Ok();
  if (db_ != nullptr) db_->NoteResult(rc);
  return FromSqlite(rc, name_);
}

Status Statement::BindText(int index, std::string_view value) {
  // A null data pointer would bind NULL: bind "" for an empty value.
  const char* data = value.empty() ? "" : value.data();
  return Check(
      sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

Status Statement::BindBlob(int index, std::span<const std::uint8_t> value) {
  if (value.empty()) return Check(sqlite3_bind_zeroblob(stmt_, index, 0));
  return Check(sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT));
}

Status Statement::BindInt64(int index, std::int64_t value) {
  return Check(sqlite3_bind_int64(stmt_, index, value));
}

Status Statement::BindUint32(int index, std::uint32_t value) {
  return Check(sqlite3_bind_int64(stmt_, index, static_cast<std::int64_t>(value)));
}

Status Statement::BindUint64(int index, std::uint64_t value) {
  if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return Status::InvalidArgument(std::string(name_) + ": integer out of range");
  }
  return Check(sqlite3_bind_int64(stmt_, index, static_cast<std::int64_t>(value)));
}

Status Statement::BindCount(int index, std::size_t value) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return Check(sqlite3_bind_int64(stmt_, index, static_cast<std::int64_t>(std::min(value, kMax))));
}

Status Statement::BindBool(int index, bool value) {
  return Check(sqlite3_bind_int(stmt_, index, value ? 1 : 0));
}

Status Statement::BindNull(int index) { return Check(sqlite3_bind_null(stmt_, index)); }

Result<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Check(rc);
}

Status Statement::Run() {
  ESCROW_ASSIGN_OR_RETURN(bool row, Step());
  if (row) return Status::Internal(std::string(name_) + ": returned a row");
  return Status::Ok();
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::ColumnInt64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

bool Statement::ColumnBool(int column) const { return sqlite3_column_int64(stmt_, column) != 0; }

Result<std::uint32_t> Statement::ColumnUint32(int column) const {
  const std::int64_t v = sqlite3_column_int64(stmt_, column);
  if (v < 0 || v > std::numeric_limits<std::uint32_t>::max()) {
    return Status::DataLoss(std::string(name_) + ": stored value out of range in column " +
                            sqlite3_column_name(stmt_, column));
  }
  return static_cast<std::uint32_t>(v);
}

Result<std::uint64_t> Statement::ColumnUint64(int column) const {
  const std::int64_t v = sqlite3_column_int64(stmt_, column);
  if (v < 0) {
    return Status::DataLoss(std::string(name_) + ": stored value out of range in column " +
                            sqlite3_column_name(stmt_, column));
  }
  return static_cast<std::uint64_t>(v);
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);  // after column_text, as documented
  if (text == nullptr || size <= 0) return {};
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(size)};
}

Bytes Statement::ColumnBlob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (blob == nullptr || size <= 0) return {};
  const auto* begin = static_cast<const std::uint8_t*>(blob);
  return {begin, begin + size};
}

void Statement::Reset() {
  // sqlite3_reset repeats the last step's error, already reported: ignore it here.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

}  // namespace escrow::storage
