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
};

class MetaWriter : public MetaReader {
 public:
  // Insert or replace.
  virtual Status Set(std::string_view key, std::string_view value) = 0;
};

}  // namespace escrow::storage
