#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "base/result.h"
#include "storage/txn.h"

namespace escrow::storage {

struct StoreOptions {
  std::string path;
  // Instead of `path`: a PostgreSQL database (storage/pg_url.h says which URLs are
  // accepted), with its password read from `password_file` (0600) if one is needed.
  std::string url{};  // {}: designated initializers may leave them out (-Wextra)
  std::string password_file{};
  bool create = false;  // create the file (or the schema in an empty database) if missing
  int busy_timeout_ms = 5000;
  int read_connections = 4;
};

// The escrow and audit store: transactions over the narrow stores of txn.h. Open() gives the
// SQLite implementation (WAL, synchronous=FULL, foreign keys, busy timeout, numbered
// migrations applied at open); tests/fakes/ has an in-memory one, and every implementation
// passes tests/storage/conformance/. Thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  // SQLite at `path`, or PostgreSQL at `url` if that is set (storage/pg_store.h).
  // kUnavailable: cannot open; kFailedPrecondition: schema newer than this code (the message
  // says so); kDataLoss: not a vault database or corrupt; kInvalidArgument: both or neither of
  // path and url, or a url that is refused (a password in it, TCP without verify-full).
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);

  virtual int schema_version() const = 0;

  // Runs `fn` in one read transaction: one connection and one snapshot for all its reads, so
  // that a request sees its device, key versions and meta values as of one moment. Returns
  // `fn`'s Status, or kUnavailable if no transaction could be started. Reads run concurrently
  // with each other and with a Write. `fn` must not call Read or Write.
  virtual Status Read(const std::function<Status(ReadTxn&)>& fn) = 0;

  // Runs `fn` in one write transaction and commits if it returns OK (durably: synchronous=
  // FULL), else rolls back. kUnavailable if the database is busy, full or read-only; the
  // next Write reopens the connection, so writes work again once the cause is gone.
  // `fn` must not call Write (kInternal) but may use WriteTxn::Isolated.
  virtual Status Write(const std::function<Status(WriteTxn&)>& fn) = 0;

  // A consistent online copy into a new file (0600, fsynced). kAlreadyExists if `path`
  // exists; kUnavailable on I/O errors.
  virtual Status BackupTo(const std::string& path) = 0;
  // A full check of the stored structures; kDataLoss naming the first problem.
  virtual Status IntegrityCheck() = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  Store() = default;
  Store(const Store&) = default;
  Store& operator=(const Store&) = default;
  Store(Store&&) = default;
  Store& operator=(Store&&) = default;
};

// One read transaction that returns one value: `fn(ReadTxn&)` returns a Result<T>, and so
// does this (its error, or the transaction's).
template <class Fn>
auto ReadValue(Store& store, Fn&& fn) -> std::invoke_result_t<Fn&, ReadTxn&> {
  std::optional<std::invoke_result_t<Fn&, ReadTxn&>> out;
  Status s = store.Read([&](ReadTxn& txn) -> Status {
    out.emplace(fn(txn));
    return out->status();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

}  // namespace escrow::storage
