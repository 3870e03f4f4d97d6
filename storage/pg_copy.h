#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "storage/store.h"

namespace escrow::storage {

// What CopySqliteToPostgres copied: rows per table (in copy order) and the audit head, read
// back from PostgreSQL after the commit.
struct CopyReport {
  std::vector<std::pair<std::string, std::int64_t>> tables;
  std::uint64_t audit_seq = 0;
  Bytes audit_hash;  // the newest record's hash; empty if the trail is empty
};

// `vaultctl db migrate --to` (API.md "PostgreSQL and several nodes"): copies every row of the
// SQLite vault at `sqlite_path` into the PostgreSQL database `target.url` names, which must
// hold no vault rows yet (an empty database gets the schema; a migrated one must have no
// devices and no audit records). The SQLite file is first brought to the latest schema, as
// any open would, then read in one snapshot; PostgreSQL is written in one transaction that
// holds the audit head's lock, so that no node can write in between and a failure leaves it
// as it was. Column types follow pg_migrations.cc's rules (0/1 flags become booleans, blobs
// bytea). Afterwards the row count of every table and the audit head (seq and hash) are
// compared with the SQLite file's: kDataLoss if any differs.
// kFailedPrecondition if the target already holds vault rows; kInvalidArgument for a refused
// URL; kUnavailable if either database cannot be opened.
Result<CopyReport> CopySqliteToPostgres(const std::string& sqlite_path,
                                        const StoreOptions& target);

}  // namespace escrow::storage
