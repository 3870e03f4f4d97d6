#pragma once

#include <span>
#include <string_view>

#include "base/result.h"

namespace escrow::storage {

class PgConnection;

// migrations.cc's numbered migrations, translated to PostgreSQL in one place: the same
// numbers, descriptions, tables, columns, CHECKs, indexes and count triggers, so that a
// database at version N holds what a SQLite file at version N holds. Migrations are
// append-only here too; a new SQLite migration gets its translation with the same number
// (pg_migrations_test checks that the two lists agree).
std::span<const std::string_view> PgMigrationScripts();  // [0] is migration 1
int PgLatestSchemaVersion();

// The recorded schema version of the connection's database (its current schema), 0 if it
// is empty, after checking that it is one this code may use. kFailedPrecondition: newer than
// this code, tables but not a vault database, or empty while `allow_create` is false.
// Only reads.
Result<int> PgCheckSchema(PgConnection& conn, bool allow_create);

// Brings the database to PgLatestSchemaVersion(): pending migrations run in one transaction
// under an advisory lock (two nodes starting at once migrate once), each recorded in
// schema_version. DDL is transactional in PostgreSQL: a failure leaves the old schema.
// Returns the version in force. Errors as PgCheckSchema, or kUnavailable.
Result<int> PgMigrate(PgConnection& conn, bool allow_create);

}  // namespace escrow::storage
