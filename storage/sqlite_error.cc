#include "storage/sqlite_error.h"

#include <string>

#include <sqlite3.h>

namespace escrow::storage {
namespace {

Code CodeFor(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_CONSTRAINT_DATATYPE:
      return Code::kInvalidArgument;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return Code::kFailedPrecondition;
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return Code::kUnavailable;
    case SQLITE_CONSTRAINT:
      return Code::kAlreadyExists;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Code::kDataLoss;
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      return Code::kInvalidArgument;
    default:
      return Code::kInternal;
  }
}

// Which constraint failed, for operators: SQLite's own message may quote a value.
std::string_view ConstraintKind(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
      return ": unique";
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return ": primary key";
    case SQLITE_CONSTRAINT_CHECK:
      return ": check";
    case SQLITE_CONSTRAINT_NOTNULL:
      return ": not null";
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return ": foreign key";
    case SQLITE_CONSTRAINT_DATATYPE:
      return ": datatype";
    case SQLITE_CONSTRAINT_TRIGGER:
      return ": trigger";
    default:
      return "";
  }
}

}  // namespace

Status FromSqlite(int rc, std::string_view operation) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  std::string message(operation);
  message += ": ";
  message += sqlite3_errstr(rc);
  message += ConstraintKind(rc);
  message += " (sqlite " + std::to_string(rc) + ")";
  return {CodeFor(rc), std::move(message)};
}

bool IsConnectionFatal(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
      return true;
    default:
      return false;
  }
}

}  // namespace escrow::storage
