#pragma once

// Signed audit checkpoints (API.md, "HSM modules and signed audit checkpoints"): the head of a
// committed group, signed in the HSM by escrow-audit-sign-v<N> and written in that group's
// transaction, keyed by the head record's seq; and the public keys of the signing key versions
// the vault recorded (`vaultctl audit-signing-key create`), so that an auditor (the API, an
// export) gets them with the checkpoints. Public material only: never a private key.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace escrow::storage {

struct AuditCheckpointRow {
  std::uint64_t seq = 0;          // the audit record's seq (a committed group's head)
  Bytes hash;                     // that record's chain hash (32 bytes)
  std::int64_t at_ms = 0;         // that record's time, ms since the epoch
  std::uint32_t key_version = 0;  // escrow-audit-sign-v<key_version>
  Bytes signature;                // ECDSA-Sig-Value, DER
};

struct AuditSigningKeyRow {
  std::uint32_t version = 0;  // escrow-audit-sign-v<version>
  Bytes public_key;           // SubjectPublicKeyInfo, DER
  std::int64_t created_ms = 0;
};

// Read inside one transaction (txn.h gives the errors every method may also return).
// Not thread-safe: it belongs to its transaction.
class AuditCheckpointReader {
 public:
  virtual ~AuditCheckpointReader() = default;
  // Oldest first (by seq), seq > `after`, at most `limit` rows: a walk of the primary key.
  virtual Result<std::vector<AuditCheckpointRow>> List(std::uint64_t after,
                                                       std::size_t limit) = 0;
  // Every recorded signing key, by version.
  virtual Result<std::vector<AuditSigningKeyRow>> SigningKeys() = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  AuditCheckpointReader() = default;
  AuditCheckpointReader(const AuditCheckpointReader&) = default;
  AuditCheckpointReader& operator=(const AuditCheckpointReader&) = default;
  AuditCheckpointReader(AuditCheckpointReader&&) = default;
  AuditCheckpointReader& operator=(AuditCheckpointReader&&) = default;
};

// The checkpoints inside a write transaction; its reads see the transaction's own writes.
class AuditCheckpointWriter : public AuditCheckpointReader {
 public:
  // kAlreadyExists for a known seq; kFailedPrecondition if no audit record has this seq (the
  // record goes in first, in the same transaction) or no signing key of this version is
  // recorded; kInvalidArgument for seq 0, a hash that is not 32 bytes, key version 0 or an
  // empty signature.
  virtual Status Append(const AuditCheckpointRow& row) = 0;
  // kAlreadyExists for a known version; kInvalidArgument for version 0 or an empty key.
  virtual Status AddSigningKey(const AuditSigningKeyRow& row) = 0;
};

}  // namespace escrow::storage
