#pragma once

#include <span>
#include <string_view>

#include "base/result.h"

namespace escrow::storage {

class Database;

// One numbered schema change. Migrations are append-only: a released one is never edited;
// a change is a new migration with the next number.
struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

// All migrations, version 1 first, numbered without gaps.
std::span<const Migration> Migrations();
// The schema version this code writes and understands.
int LatestSchemaVersion();
// Written to the file header (PRAGMA application_id) when a vault database is created.
inline constexpr int kApplicationId = 0x45534352;  // "ESCR"

// The recorded schema version (0 for an empty file), after checking that the file is one
// this code may use. kFailedPrecondition: newer than this code, tables but not a vault
// database, another application's file, or empty while `allow_create` is false;
// kDataLoss: not a database or corrupt. Only reads.
Result<int> CheckSchema(Database& db, bool allow_create);

// Brings the database to LatestSchemaVersion(): pending migrations run in one BEGIN
// IMMEDIATE transaction and each is recorded in schema_version (version, description,
// applied_ms), so a crash leaves either the old schema or the new one. A database already
// current is only read, so a write-protected file still opens. Returns the version in force.
// kFailedPrecondition: the recorded version is newer than this code knows, the file has
// tables but is not a vault database, or it is empty and `allow_create` is false;
// kUnavailable: busy or read-only while a migration is due; kDataLoss: corrupt.
Result<int> Migrate(Database& db, bool allow_create);

}  // namespace escrow::storage
