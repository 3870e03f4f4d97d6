#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "base/ssl_ptr.h"
#include "hsm/escrow_keys.h"

namespace escrow::testing {

// FakeKeyService's escrow keys: OpenSSL key pairs in process memory, with the token's
// Status contract and envelope causes (OAEP with SHA-1 only, as SoftHSMv2). No protection at
// all: tests only. Not thread-safe (FakeKeyService serialises calls).
class FakeEscrowKeys {
 public:
  Result<hsm::EscrowKeyInfo> Generate(hsm::EscrowKeyKind kind, std::uint32_t version,
                                      std::uint32_t bits);
  Result<hsm::EscrowKeyInfo> Find(hsm::EscrowKeyKind kind, std::uint32_t version) const;
  std::vector<hsm::EscrowKeyInfo> List() const;
  Status Destroy(hsm::EscrowKeyKind kind, std::uint32_t version);
  Result<Bytes> EcdsaSign(hsm::EscrowKeyKind kind, std::uint32_t version,
                          std::span<const std::uint8_t> data) const;
  hsm::OpenedEnvelope Open(const hsm::EnvelopeToOpen& envelope) const;

 private:
  using Id = std::pair<hsm::EscrowKeyKind, std::uint32_t>;
  struct Key {
    hsm::EscrowKeyInfo info;
    SslPtr<EVP_PKEY> pkey;
  };
  std::map<Id, Key> keys_;
};

}  // namespace escrow::testing
