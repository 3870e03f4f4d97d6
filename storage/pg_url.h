#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace escrow::storage {

// Where a PostgreSQL store connects: libpq keywords and values, never a password (that
// comes from ReadPasswordFile). Every keyword that decides where and how to connect is set
// explicitly (host, port, sslmode, gssencmode, passfile), so that no PG* environment
// variable or ~/.pgpass can redirect the connection or weaken its TLS.
struct PostgresTarget {
  std::vector<std::pair<std::string, std::string>> params;
  bool unix_socket = true;  // every host is a socket directory
  std::string description;  // "user@host:port/db" for logs and errors; no secrets
};

// Parses and checks `[database] url` (API.md, "PostgreSQL and several nodes"):
//   postgresql://USER@HOST[:PORT][,HOST2[:PORT2]...]/DB?sslmode=verify-full[&...]
//   postgresql://USER@%2Fsocket%2Fdir/DB or postgresql://USER@/DB?host=/socket/dir
// kInvalidArgument if it is not a postgresql:// (or postgres://) URL, holds a password (in
// the user part or as ?password=), names ?passfile=, a parameter outside the allowed set, a
// bad port or no database, or if any host is reached over TCP without sslmode=verify-full
// (a Unix socket needs no TLS). Allowed parameters: host, port, sslmode, sslrootcert,
// sslcert, sslkey, sslcrl, sslcrldir, sslsni, connect_timeout, application_name,
// target_session_attrs, keepalives, keepalives_idle, keepalives_interval, keepalives_count,
// tcp_user_timeout. A host-less URL means Debian's socket directory, /var/run/postgresql.
Result<PostgresTarget> ParsePostgresUrl(std::string_view url);

// The password in `path`, without its trailing newline. The file must be a regular file
// that neither group nor others may read or write (0600 or stricter): kFailedPrecondition
// otherwise; kUnavailable if it cannot be read; kInvalidArgument if it is empty or holds a
// NUL or a second line.
Result<std::string> ReadPasswordFile(const std::string& path);

}  // namespace escrow::storage
