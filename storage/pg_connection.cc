#include "storage/pg_connection.h"

#include <charconv>
#include <limits>
#include <string>

#include <libpq-fe.h>

#include "base/log.h"
#include "storage/pg_error.h"

namespace escrow::storage {
namespace {

constexpr auto kInt64Max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// The session every connection runs in. Times and bytea are read in one fixed form; a lock
// wait (the audit head, held by a writer on another node) ends in kUnavailable instead of
// hanging a worker; a session left idle inside a transaction (a stalled node holding the
// head lock) is ended by the server.
std::string SessionSetup(int lock_timeout_ms) {
  return "SET bytea_output = 'hex'; SET TimeZone = 'UTC'; SET client_encoding = 'UTF8'; "
         "SET lock_timeout = " +
         std::to_string(lock_timeout_ms) +
         "; SET idle_in_transaction_session_timeout = 60000";
}

// Acknowledged writes must be durable (DESIGN.md): a server or role configured with a weaker
// synchronous_commit gets `on` for this session; remote_apply, stronger, is kept.
constexpr Query kReadSynchronousCommit{"read synchronous_commit",
                                       "SELECT current_setting('synchronous_commit')"};

}  // namespace

PgParams& PgParams::Text(std::string_view value) {
  // Text parameters travel as C strings: a NUL inside would cut the value short silently.
  if (value.find('\0') != std::string_view::npos) has_nul_ = true;
  values_.emplace_back(std::string(value));
  formats_.push_back(0);
  return *this;
}

PgParams& PgParams::Blob(std::span<const std::uint8_t> value) {
  values_.emplace_back(std::string(value.begin(), value.end()));
  formats_.push_back(1);
  return *this;
}

PgParams& PgParams::Int64(std::int64_t value) { return Text(std::to_string(value)); }
PgParams& PgParams::Uint32(std::uint32_t value) { return Text(std::to_string(value)); }
PgParams& PgParams::Uint64Clamped(std::uint64_t value) {
  return Text(std::to_string(value > kInt64Max ? kInt64Max : value));
}
PgParams& PgParams::Count(std::size_t value) {
  return Uint64Clamped(static_cast<std::uint64_t>(value));
}
PgParams& PgParams::Bool(bool value) { return Text(value ? "t" : "f"); }

PgParams& PgParams::Null() {
  values_.emplace_back(std::nullopt);
  formats_.push_back(0);
  return *this;
}

PgParams& PgParams::OptionalText(const std::optional<std::string_view>& value) {
  return value ? Text(*value) : Null();
}

PgParams& PgParams::OptionalInt64(const std::optional<std::int64_t>& value) {
  return value ? Int64(*value) : Null();
}

std::vector<const char*> PgParams::values() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const std::optional<std::string>& v : values_) out.push_back(v ? v->data() : nullptr);
  return out;
}

std::vector<int> PgParams::lengths() const {
  std::vector<int> out;
  out.reserve(values_.size());
  for (const std::optional<std::string>& v : values_) {
    out.push_back(v ? static_cast<int>(v->size()) : 0);
  }
  return out;
}

PgResult::PgResult(PgResult&& other) noexcept : result_(other.result_), name_(other.name_) {
  other.result_ = nullptr;
}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    PQclear(result_);
    result_ = other.result_;
    name_ = other.name_;
    other.result_ = nullptr;
  }
  return *this;
}

PgResult::~PgResult() { PQclear(result_); }

int PgResult::rows() const { return result_ == nullptr ? 0 : PQntuples(result_); }

std::int64_t PgResult::affected() const {
  if (result_ == nullptr) return 0;
  const std::string_view text = PQcmdTuples(result_);
  std::int64_t n = 0;
  (void)std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

bool PgResult::IsNull(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

std::string PgResult::Text(int row, int column) const {
  if (IsNull(row, column)) return {};
  return {PQgetvalue(result_, row, column),
          static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

Status PgResult::Bad(int column, std::string_view what) const {
  return Status::DataLoss(std::string(name_) + ": column " + std::to_string(column) +
                          " is not " + std::string(what));
}

Result<std::int64_t> PgResult::Int64(int row, int column) const {
  if (IsNull(row, column)) return Bad(column, "an integer");
  const std::string text = Text(row, column);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return Bad(column, "an integer");
  return value;
}

Result<std::uint32_t> PgResult::Uint32(int row, int column) const {
  ESCROW_ASSIGN_OR_RETURN(std::int64_t value, Int64(row, column));
  if (value < 0 || value > std::numeric_limits<std::uint32_t>::max()) {
    return Bad(column, "a 32-bit unsigned integer");
  }
  return static_cast<std::uint32_t>(value);
}

Result<std::uint64_t> PgResult::Uint64(int row, int column) const {
  ESCROW_ASSIGN_OR_RETURN(std::int64_t value, Int64(row, column));
  if (value < 0) return Bad(column, "an unsigned integer");
  return static_cast<std::uint64_t>(value);
}

Result<bool> PgResult::Bool(int row, int column) const {
  const std::string text = Text(row, column);
  if (text == "t") return true;
  if (text == "f") return false;
  return Bad(column, "a boolean");
}

Result<Bytes> PgResult::Blob(int row, int column) const {
  if (IsNull(row, column)) return Bytes();
  const std::string text = Text(row, column);
  if (!text.starts_with("\\x")) return Bad(column, "bytea in hex");
  std::optional<Bytes> bytes = HexDecode(std::string_view(text).substr(2));
  if (!bytes) return Bad(column, "bytea in hex");
  return std::move(*bytes);
}

Result<std::unique_ptr<PgConnection>> PgConnection::Open(const PgConnectOptions& options) {
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [key, value] : options.params) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  // PQconnectdbParams hands back a connection object to finish even when it fails.
  std::unique_ptr<PgConnection> conn(
      new PgConnection(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0)));
  if (conn->conn_ == nullptr) return Status::Unavailable("connect to PostgreSQL: out of memory");
  if (PQstatus(conn->conn_) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn->conn_);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return Status::Unavailable("connect to PostgreSQL: " + message);
  }
  ESCROW_RETURN_IF_ERROR(conn->Run("set up session", SessionSetup(options.lock_timeout_ms)));
  ESCROW_ASSIGN_OR_RETURN(PgResult sync, conn->Exec(kReadSynchronousCommit));
  const std::string level = sync.rows() == 1 ? sync.Text(0, 0) : "";
  if (level != "on" && level != "remote_apply") {
    ESCROW_RETURN_IF_ERROR(conn->Run("set synchronous_commit", "SET synchronous_commit = on"));
  }
  return conn;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::broken() const { return broken_ || PQstatus(conn_) != CONNECTION_OK; }

bool PgConnection::in_transaction() const {
  return PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

Status PgConnection::Check(pg_result* result, std::string_view name, bool want_rows) {
  const ExecStatusType status = result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || (want_rows && status == PGRES_TUPLES_OK)) return Status::Ok();
  if (status == PGRES_TUPLES_OK) {
    return Status::Internal(std::string(name) + ": returned rows where none were expected");
  }
  const char* sqlstate = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary =
      result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  const char* constraint =
      result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
  std::string server = primary != nullptr ? primary : PQerrorMessage(conn_);
  while (!server.empty() && (server.back() == '\n' || server.back() == ' ')) server.pop_back();
  const std::string_view state = sqlstate != nullptr ? sqlstate : "";
  if (IsPgConnectionFatal(state) || PQstatus(conn_) != CONNECTION_OK) broken_ = true;
  return FromSqlState(state, name, server, constraint != nullptr ? constraint : "");
}

Result<PgResult> PgConnection::Exec(const Query& query, const PgParams& params) {
  if (params.has_nul()) {
    return Status::InvalidArgument(std::string(query.name) + ": a text value holds a NUL byte");
  }
  std::string sql(query.sql);
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string statement = "escrow_" + std::to_string(prepared_.size() + 1);
    PgResult prepared(PQprepare(conn_, statement.c_str(), sql.c_str(), 0, nullptr), query.name);
    ESCROW_RETURN_IF_ERROR(Check(prepared.raw(), query.name, /*want_rows=*/false));
    it = prepared_.emplace(std::move(sql), std::move(statement)).first;
  }
  const std::vector<const char*> values = params.values();
  const std::vector<int> lengths = params.lengths();
  const std::vector<int>& formats = params.formats();
  PgResult result(PQexecPrepared(conn_, it->second.c_str(), params.size(), values.data(),
                                 lengths.data(), formats.data(), /*resultFormat=*/0),
                  query.name);
  ESCROW_RETURN_IF_ERROR(Check(result.raw(), query.name, /*want_rows=*/true));
  return result;
}

Status PgConnection::Run(std::string_view name, const std::string& sql) {
  PgResult result(PQexec(conn_, sql.c_str()), name);
  return Check(result.raw(), name, /*want_rows=*/true);
}

Status PgConnection::Commit() {
  PgResult result(PQexec(conn_, "COMMIT"), "commit");
  ESCROW_RETURN_IF_ERROR(Check(result.raw(), "commit", /*want_rows=*/false));
  // COMMIT of a transaction that had failed answers ROLLBACK, not an error.
  if (std::string_view(PQcmdStatus(result.raw())) != "COMMIT") {
    return Status::Unavailable("commit: the transaction was rolled back");
  }
  return Status::Ok();
}

}  // namespace escrow::storage
