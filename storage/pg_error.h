#pragma once

#include <string_view>

#include "base/status.h"

namespace escrow::storage {

// The one place where PostgreSQL's SQLSTATEs become Status codes (STYLE.md section 2), as
// sqlite_error.h is for SQLite and txn.h documents:
//   23505 unique_violation                                   -> kAlreadyExists
//   23503 foreign_key_violation                              -> kFailedPrecondition
//   23001 restrict_violation (our append-only audit trigger) -> kFailedPrecondition
//   23514 check_violation, 23502 not_null_violation, class 22 (data exception: out of
//         range, invalid text, a NUL byte in text)           -> kInvalidArgument
//   40001 serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available (the
//         lock timeout), class 08 (connection), 53 (insufficient resources: disk full,
//         too many connections), 57 (operator intervention: shutdown, cancel), 58 (I/O),
//         25006 read_only_sql_transaction (a standby after failover), 25P03 idle in
//         transaction timeout                                -> kUnavailable
//   XX001 data_corrupted, XX002 index_corrupted              -> kDataLoss
//   anything else                                            -> kInternal
// The message is "`operation`: <what> (sqlstate XXXXX)", with the constraint's name for
// class 23. The server's own text is kept only outside classes 22 and 23, whose messages
// and details may quote a value (a value may be ciphertext or an owner's name).
Status FromSqlState(std::string_view sqlstate, std::string_view operation,
                    std::string_view server_message, std::string_view constraint);

// True for the SQLSTATEs after which the connection must not be reused: class 08, 57P01-
// 57P03 (shutdown), 58 (I/O), XX (internal errors and corruption).
bool IsPgConnectionFatal(std::string_view sqlstate);

}  // namespace escrow::storage
