#pragma once

#include "storage/meta_values.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The meta table in one SQLite transaction (private to storage/). A read transaction hands it
// out as a MetaReader only. Not thread-safe: it belongs to its transaction.
class SqliteMetaValues final : public MetaWriter {
 public:
  explicit SqliteMetaValues(SqliteTxnContext& ctx) : ctx_(ctx) {}

  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Set(std::string_view key, std::string_view value) override;

 private:
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
