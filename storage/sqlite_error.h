#pragma once

#include <string_view>

#include "base/status.h"

namespace escrow::storage {

// The one place where sqlite result codes become Status codes (STYLE.md section 2):
//   SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR*, SQLITE_CANTOPEN,
//   SQLITE_NOMEM, SQLITE_INTERRUPT, SQLITE_PROTOCOL          -> kUnavailable
//   SQLITE_CONSTRAINT (unique, primary key and others)        -> kAlreadyExists
//   SQLITE_CONSTRAINT_CHECK, _NOTNULL, _DATATYPE              -> kInvalidArgument
//   SQLITE_CONSTRAINT_FOREIGNKEY                              -> kFailedPrecondition
//   SQLITE_CORRUPT, SQLITE_NOTADB                             -> kDataLoss
//   SQLITE_TOOBIG, SQLITE_MISMATCH, SQLITE_RANGE              -> kInvalidArgument
//   anything else                                             -> kInternal
// The message is "`operation`: sqlite3_errstr (code)": never a bound value, since a bound
// value may be ciphertext or an owner's name.
Status FromSqlite(int rc, std::string_view operation);

// True if after `rc` the connection should not be trusted for further writes: the file
// went read-only, the disk filled, I/O failed or the file is corrupt. The store reopens
// such a connection before its next use, so that a write works again once the cause is
// gone.
bool IsConnectionFatal(int rc);

}  // namespace escrow::storage
