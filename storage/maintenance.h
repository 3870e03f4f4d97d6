#pragma once

#include <string>

#include "base/status.h"

namespace escrow::storage {

class Database;

// Copies `source` into a new file at `path` with SQLite's online backup API (a consistent
// snapshot, writers keep going), via `path.partial`: fsync, hard link to `path` (never
// replacing a file), fsync of the directory. The copy is created 0600.
// kAlreadyExists if `path` (or a `path.partial`) exists; kUnavailable on I/O errors.
Status BackupDatabase(Database& source, const std::string& path);

// PRAGMA integrity_check, then PRAGMA foreign_key_check. kDataLoss naming the first problem.
Status CheckIntegrity(Database& db);

// fsyncs a directory, so that a file created or renamed in it survives a power cut.
Status SyncDirectory(const std::string& dir);

}  // namespace escrow::storage
