#include "storage/pg_copy.h"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string_view>

#include "storage/database.h"
#include "storage/migrations.h"
#include "storage/pg_migrations.h"
#include "storage/pg_store.h"

namespace escrow::storage {
namespace {

// PostgreSQL-only tables: audit_head is kept by the audit trigger as the records go in.
constexpr std::array<std::string_view, 2> kPostgresOnly = {"audit_head", "schema_version"};
// Tables a trigger keeps from another one's rows: copied last, over what the trigger wrote
// while that table went in, so that they hold exactly the file's values (IntegrityCheck
// compares them with the rows they count).
constexpr std::array<std::string_view, 1> kKeptByTriggers = {"key_version_counts"};

bool IsOneOf(std::string_view name, std::span<const std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

constexpr Query kPgTables{
    "list tables",
    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
    "AND table_type = 'BASE TABLE' ORDER BY table_name"};
constexpr Query kPgForeignKeys{
    "list foreign keys",
    "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c "
    "JOIN pg_namespace n ON n.oid = c.connamespace "
    "WHERE c.contype = 'f' AND n.nspname = current_schema()"};
constexpr Query kPgColumns{
    "list columns",
    "SELECT column_name, data_type, is_identity FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"};
constexpr Query kPgPrimaryKey{
    "list primary key",
    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
    "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary "
    "ORDER BY array_position(i.indkey, a.attnum)"};
constexpr Query kLockHead{"lock audit head", "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"};
constexpr Query kVaultRows{"count vault rows",
                           "SELECT (SELECT count(*) FROM devices) + (SELECT count(*) FROM audit)"};
constexpr Query kPgHead{"read audit head",
                        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"};
constexpr Query kSqliteTables{
    "list tables",
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
    "ESCAPE '\\' AND name <> 'schema_version' ORDER BY name"};
constexpr Query kSqliteHead{"read audit head",
                            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"};

struct Column {
  std::string name;
  bool bytea = false;
  bool identity = false;
};

struct Table {
  std::string name;
  std::vector<Column> columns;
  std::vector<std::string> key;  // primary key columns: the copy order
};

std::string Ident(std::string_view name) { return "\"" + std::string(name) + "\""; }

Result<std::vector<std::string>> PgStrings(PgConnection& pg, const Query& q,
                                           const PgParams& params = {}) {
  ESCROW_ASSIGN_OR_RETURN(PgResult r, pg.Exec(q, params));
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.Text(i, 0));
  return out;
}

Result<std::int64_t> PgCount(PgConnection& pg, const std::string& sql) {
  ESCROW_ASSIGN_OR_RETURN(PgResult r, pg.Exec(Query{"count rows", sql}));
  if (r.rows() != 1) return Status::Internal("count rows: no row");
  return r.Int64(0, 0);
}

Result<std::int64_t> SqliteCount(Database& db, const std::string& sql) {
  ESCROW_ASSIGN_OR_RETURN(Statement stmt, db.PrepareOnce(Query{"count rows", sql}));
  ESCROW_ASSIGN_OR_RETURN(const bool has_row, stmt.Step());
  if (!has_row) return Status::Internal("count rows: no row");
  return stmt.ColumnInt64(0);
}

// The tables to copy, referenced ones first (a topological order of the foreign keys), each
// with PostgreSQL's columns. The SQLite file must have exactly these tables.
Result<std::vector<Table>> Plan(PgConnection& pg, Database& db) {
  ESCROW_ASSIGN_OR_RETURN(std::vector<std::string> names, PgStrings(pg, kPgTables));
  std::erase_if(names, [](const std::string& n) { return IsOneOf(n, kPostgresOnly); });
  std::vector<std::string> sqlite_names;
  {
    ESCROW_ASSIGN_OR_RETURN(Statement stmt, db.PrepareOnce(kSqliteTables));
    for (;;) {
      ESCROW_ASSIGN_OR_RETURN(const bool has_row, stmt.Step());
      if (!has_row) break;
      sqlite_names.push_back(stmt.ColumnText(0));
    }
  }
  if (names != sqlite_names) {
    return Status::FailedPrecondition(
        "the SQLite file and the PostgreSQL schema have different tables (not the same schema "
        "version?)");
  }
  std::map<std::string, std::set<std::string>> refs;  // table -> tables it references
  {
    ESCROW_ASSIGN_OR_RETURN(PgResult r, pg.Exec(kPgForeignKeys));
    for (int i = 0; i < r.rows(); ++i) {
      if (r.Text(i, 0) != r.Text(i, 1)) refs[r.Text(i, 0)].insert(r.Text(i, 1));
    }
  }
  std::vector<Table> plan;
  std::set<std::string> placed;
  while (plan.size() < names.size()) {
    const std::size_t before = plan.size();
    for (const std::string& name : names) {
      if (placed.contains(name)) continue;
      const std::set<std::string>& needs = refs[name];
      if (!std::all_of(needs.begin(), needs.end(),
                       [&](const std::string& n) { return placed.contains(n); })) {
        continue;
      }
      Table t{name, {}, {}};
      PgParams params;
      params.Text(name);
      ESCROW_ASSIGN_OR_RETURN(PgResult cols, pg.Exec(kPgColumns, params));
      for (int i = 0; i < cols.rows(); ++i) {
        t.columns.push_back(
            {cols.Text(i, 0), cols.Text(i, 1) == "bytea", cols.Text(i, 2) == "YES"});
      }
      ESCROW_ASSIGN_OR_RETURN(t.key, PgStrings(pg, kPgPrimaryKey, params));
      plan.push_back(std::move(t));
      placed.insert(name);
    }
    if (plan.size() == before) return Status::Internal("the foreign keys form a cycle");
  }
  std::stable_partition(plan.begin(), plan.end(),
                        [](const Table& t) { return !IsOneOf(t.name, kKeptByTriggers); });
  return plan;
}

// Copies one table in primary-key order (the audit trigger takes records in seq order only).
// Every value but bytea goes in PostgreSQL's text form, so that PostgreSQL's own input
// functions check it: an integer column refuses text, a flag column anything but 0 and 1.
Result<std::int64_t> CopyTable(const Table& t, Database& db, PgConnection& pg) {
  std::string names, placeholders;
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    names += (i ? ", " : "") + Ident(t.columns[i].name);
    placeholders += (i ? ", $" : "$") + std::to_string(i + 1);
  }
  std::string select = "SELECT " + names + " FROM " + Ident(t.name);
  for (std::size_t i = 0; i < t.key.size(); ++i) {
    select += (i ? ", " : " ORDER BY ") + Ident(t.key[i]);
  }
  const std::string insert =
      "INSERT INTO " + Ident(t.name) + " (" + names + ") VALUES (" + placeholders + ")";
  ESCROW_ASSIGN_OR_RETURN(Statement stmt, db.PrepareOnce(Query{"read rows", select}));
  std::int64_t rows = 0;
  for (;;) {
    ESCROW_ASSIGN_OR_RETURN(const bool has_row, stmt.Step());
    if (!has_row) break;
    PgParams params;
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
      const int c = static_cast<int>(i);
      if (stmt.ColumnIsNull(c)) {
        params.Null();
      } else if (t.columns[i].bytea) {
        params.Blob(stmt.ColumnBlob(c));
      } else {
        params.Text(stmt.ColumnText(c));
      }
    }
    ESCROW_RETURN_IF_ERROR(
        pg.Exec(Query{"copy rows", insert}, params).status().WithContext("table " + t.name));
    ++rows;
  }
  for (const Column& c : t.columns) {
    if (!c.identity || rows == 0) continue;
    ESCROW_RETURN_IF_ERROR(
        pg.Exec(Query{"set identity", "SELECT setval(pg_get_serial_sequence('" + t.name + "', '" +
                                          c.name + "'), (SELECT max(" + Ident(c.name) +
                                          ") FROM " + Ident(t.name) + "))"})
            .status());
  }
  return rows;
}

// The per-row triggers that advance the audit head and count key versions update one row per
// copied row; in one transaction each update walks the row's growing chain of versions, which
// is quadratic (a 100,000-record trail took minutes). They are switched off for the copy,
// inside its transaction (DDL is transactional: a failed copy leaves them on), and their work
// is done once at the end: the head is set to the last record after checking that the
// records run 1..N without a gap, and the counts are copied from the file (kKeptByTriggers).
constexpr std::string_view kTriggersOff =
    "ALTER TABLE audit DISABLE TRIGGER audit_advance_head; "
    "ALTER TABLE key_versions DISABLE TRIGGER key_versions_count_insert";
constexpr std::string_view kTriggersOn =
    "ALTER TABLE audit ENABLE TRIGGER audit_advance_head; "
    "ALTER TABLE key_versions ENABLE TRIGGER key_versions_count_insert";
constexpr Query kRecordsRun{"check audit sequence",
                            "SELECT count(*) = coalesce(max(seq), 0) FROM audit"};
constexpr Query kSetHead{"set audit head",
                         "UPDATE audit_head SET seq = (SELECT coalesce(max(seq), 0) FROM audit) "
                         "WHERE id = 1"};

Status CopyAll(const std::vector<Table>& plan, Database& db, PgConnection& pg, CopyReport& report) {
  ESCROW_RETURN_IF_ERROR(pg.Run("begin copy", "BEGIN ISOLATION LEVEL READ COMMITTED"));
  ESCROW_ASSIGN_OR_RETURN(PgResult head, pg.Exec(kLockHead));
  if (head.rows() != 1) return Status::DataLoss("the audit head row is missing");
  ESCROW_ASSIGN_OR_RETURN(PgResult held, pg.Exec(kVaultRows));
  ESCROW_ASSIGN_OR_RETURN(const std::int64_t vault_rows, held.Int64(0, 0));
  if (vault_rows != 0) {
    return Status::FailedPrecondition("the PostgreSQL database already holds a vault");
  }
  ESCROW_RETURN_IF_ERROR(pg.Run("switch triggers off", std::string(kTriggersOff)));
  for (const Table& t : plan) {
    // Rows a migration or a trigger put in give way to the copied ones.
    ESCROW_ASSIGN_OR_RETURN(const std::int64_t present,
                            PgCount(pg, "SELECT count(*) FROM " + Ident(t.name)));
    if (present != 0) {
      ESCROW_RETURN_IF_ERROR(pg.Run("clear table", "DELETE FROM " + Ident(t.name)));
    }
    ESCROW_ASSIGN_OR_RETURN(const std::int64_t rows, CopyTable(t, db, pg));
    report.tables.emplace_back(t.name, rows);
  }
  ESCROW_ASSIGN_OR_RETURN(PgResult run, pg.Exec(kRecordsRun));
  ESCROW_ASSIGN_OR_RETURN(const bool no_gap, run.Bool(0, 0));
  if (!no_gap) return Status::DataLoss("the audit records do not run from 1 without a gap");
  ESCROW_RETURN_IF_ERROR(pg.Exec(kSetHead).status());
  ESCROW_RETURN_IF_ERROR(pg.Run("switch triggers on", std::string(kTriggersOn)));
  return pg.Commit();
}

// The copy, read back: every table's count and the audit head equal the SQLite file's.
Status Compare(Database& db, PgConnection& pg, CopyReport& report) {
  for (const auto& [name, rows] : report.tables) {
    const std::string sql = "SELECT count(*) FROM " + Ident(name);
    ESCROW_ASSIGN_OR_RETURN(const std::int64_t in_pg, PgCount(pg, sql));
    ESCROW_ASSIGN_OR_RETURN(const std::int64_t in_sqlite, SqliteCount(db, sql));
    if (in_pg != rows || in_sqlite != rows) {
      return Status::DataLoss("table " + name + ": " + std::to_string(in_sqlite) +
                              " rows in SQLite, " + std::to_string(in_pg) + " in PostgreSQL");
    }
  }
  ESCROW_ASSIGN_OR_RETURN(PgResult pg_head, pg.Exec(kPgHead));
  ESCROW_ASSIGN_OR_RETURN(Statement sqlite_head, db.PrepareOnce(kSqliteHead));
  ESCROW_ASSIGN_OR_RETURN(const bool has_head, sqlite_head.Step());
  if (has_head != (pg_head.rows() == 1)) return Status::DataLoss("audit heads differ");
  if (!has_head) return Status::Ok();
  ESCROW_ASSIGN_OR_RETURN(report.audit_seq, pg_head.Uint64(0, 0));
  ESCROW_ASSIGN_OR_RETURN(report.audit_hash, pg_head.Blob(0, 1));
  ESCROW_ASSIGN_OR_RETURN(const std::uint64_t sqlite_seq, sqlite_head.ColumnUint64(0));
  if (sqlite_seq != report.audit_seq || sqlite_head.ColumnBlob(1) != report.audit_hash) {
    return Status::DataLoss("audit heads differ after the copy");
  }
  return Status::Ok();
}

}  // namespace

Result<CopyReport> CopySqliteToPostgres(const std::string& sqlite_path,
                                        const StoreOptions& target) {
  if (target.url.empty()) return Status::InvalidArgument("no PostgreSQL url to copy to");
  ESCROW_ASSIGN_OR_RETURN(PgConnectOptions connect, PgConnectOptionsFor(target));
  {
    // Brings the file to the latest schema, as vaultd's open would.
    StoreOptions source;
    source.path = sqlite_path;
    source.read_connections = 1;
    ESCROW_RETURN_IF_ERROR(Store::Open(source).status().WithContext("sqlite"));
  }
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<Database> db,
                          Database::Open({.path = sqlite_path, .read_only = true}));
  ESCROW_RETURN_IF_ERROR(db->Run(Query{"begin snapshot", "BEGIN"}));
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> pg, PgConnection::Open(connect));
  ESCROW_ASSIGN_OR_RETURN(const int pg_version, PgMigrate(*pg, /*allow_create=*/true));
  if (pg_version != LatestSchemaVersion()) {
    return Status::Internal("PostgreSQL schema version " + std::to_string(pg_version) +
                            " is not SQLite's " + std::to_string(LatestSchemaVersion()));
  }
  ESCROW_ASSIGN_OR_RETURN(std::vector<Table> plan, Plan(*pg, *db));
  CopyReport report;
  if (Status s = CopyAll(plan, *db, *pg, report); !s.ok()) {
    if (pg->in_transaction()) (void)pg->Run("roll back", "ROLLBACK");
    return s;
  }
  ESCROW_RETURN_IF_ERROR(Compare(*db, *pg, report));
  return report;
}

}  // namespace escrow::storage
