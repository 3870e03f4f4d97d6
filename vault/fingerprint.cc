#include "vault/fingerprint.h"

#include <algorithm>

#include "base/check.h"
#include "hsm/key_service.h"

namespace escrow::vault {
namespace {

constexpr std::string_view kDomain = "escrow-fp";

void PutU16Be(std::span<std::uint8_t> out, std::size_t& at, std::size_t v) {
  out[at++] = static_cast<std::uint8_t>(v >> 8);
  out[at++] = static_cast<std::uint8_t>(v & 0xFF);
}

void Put(std::span<std::uint8_t> out, std::size_t& at, std::span<const std::uint8_t> bytes) {
  std::copy(bytes.begin(), bytes.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
  at += bytes.size();
}

}  // namespace

SecretBytes FingerprintInput(Platform kind, std::string_view device_id,
                             const SecretBytes& normalised_key) {
  ESCROW_CHECK(device_id.size() < 65536 && normalised_key.size() < 65536);
  SecretBytes input(kDomain.size() + 1 + 1 + 2 + device_id.size() + 2 + normalised_key.size());
  std::span<std::uint8_t> out = input.mutable_span();
  std::size_t at = 0;
  Put(out, at, AsBytes(kDomain));
  out[at++] = 1;  // format
  out[at++] = static_cast<std::uint8_t>(kind);
  PutU16Be(out, at, device_id.size());
  Put(out, at, AsBytes(device_id));
  PutU16Be(out, at, normalised_key.size());
  Put(out, at, normalised_key.RevealSecret());
  ESCROW_CHECK(at == input.size());
  return input;
}

Result<Bytes> Fingerprint(hsm::KeyService& keys, std::uint32_t key_version, Platform kind,
                          std::string_view device_id, const SecretBytes& normalised_key) {
  const SecretBytes input = FingerprintInput(kind, device_id, normalised_key);
  ESCROW_ASSIGN_OR_RETURN(const hsm::Mac mac,
                          keys.Sign(hsm::KeyRole::kFingerprint, key_version, input.RevealSecret()));
  return Bytes(mac.begin(), mac.end());
}

}  // namespace escrow::vault
