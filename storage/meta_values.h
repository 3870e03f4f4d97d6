#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace escrow::storage {

// The meta table: named text values (key versions, backup records). vault/meta.h gives the
// typed view of the key versions. Read inside one transaction (txn.h gives the errors every
// method may also return). Not thread-safe: it belongs to its transaction.
class MetaReader {
 public:
  virtual ~MetaReader() = default;
  // nullopt if the key is absent.
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  MetaReader() = default;
  MetaReader(const MetaReader&) = default;
  MetaReader& operator=(const MetaReader&) = default;
  MetaReader(MetaReader&&) = default;
  MetaReader& operator=(MetaReader&&) = default;
};

class MetaWriter : public MetaReader {
 public:
  // Insert or replace.
  virtual Status Set(std::string_view key, std::string_view value) = 0;
};

}  // namespace escrow::storage
