#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "base/bytes.h"
#include "hsm/key_service.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using escrow::testing::SoftHsmToken;

Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

bool Equals(const SecretBytes& secret, const Bytes& expected) {
  const std::span<const std::uint8_t> got = secret.RevealSecret();
  return std::equal(got.begin(), got.end(), expected.begin(), expected.end());
}

// A token with master key v1 and audit key v1.
struct Fixture {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys;

  Fixture() {
    Result<std::unique_ptr<KeyService>> opened = KeyService::Open(token.config());
    INFO(opened.status().ToString());
    REQUIRE(opened.ok());
    keys = std::move(opened).value();
    REQUIRE(keys->GenerateKey(KeyRole::kMaster, 1, false).ok());
    REQUIRE(keys->GenerateKey(KeyRole::kAudit, 1, false).ok());
  }
};

// Decrypt must fail closed: kDataLoss with the one integrity message, and no plaintext.
void RequireIntegrityFailure(KeyService& keys, const Sealed& sealed, const Bytes& aad) {
  Result<SecretBytes> opened = keys.Decrypt(1, sealed, aad);
  INFO(opened.status().ToString());
  REQUIRE_FALSE(opened.ok());
  REQUIRE(opened.status().code() == Code::kDataLoss);
  REQUIRE(opened.status().message() == "record failed its integrity check");
}

TEST_CASE("KeyService round-trips AES-GCM with associated data", "[hsm][gcm]") {
  Fixture f;
  const Bytes plaintext = ToBytes("ABCD-EFGH-IJKL-MNOP-QRST-UVWX");
  const Bytes aad = ToBytes("escrow-rk|device-1|v1");
  Result<Sealed> sealed = f.keys->Encrypt(1, plaintext, aad);
  REQUIRE(sealed.ok());
  CHECK(sealed->iv.size() == 12);
  CHECK(sealed->tag.size() == 16);
  CHECK(sealed->ciphertext.size() == plaintext.size());
  CHECK(sealed->ciphertext != plaintext);
  Result<SecretBytes> opened = f.keys->Decrypt(1, *sealed, aad);
  REQUIRE(opened.ok());
  CHECK(Equals(*opened, plaintext));

  SECTION("empty plaintext and empty AAD") {
    Result<Sealed> empty = f.keys->Encrypt(1, {}, {});
    REQUIRE(empty.ok());
    CHECK(empty->ciphertext.empty());
    Result<SecretBytes> back = f.keys->Decrypt(1, *empty, {});
    REQUIRE(back.ok());
    CHECK(back->empty());
  }
  SECTION("a record under another master version does not decrypt") {
    REQUIRE(f.keys->GenerateKey(KeyRole::kMaster, 2, false).ok());
    Result<SecretBytes> other = f.keys->Decrypt(2, *sealed, aad);
    REQUIRE_FALSE(other.ok());
    CHECK(other.status().code() == Code::kDataLoss);
  }
}

TEST_CASE("Two encryptions of the same plaintext use different IVs", "[hsm][gcm]") {
  Fixture f;
  const Bytes plaintext = ToBytes("same plaintext");
  Result<Sealed> a = f.keys->Encrypt(1, plaintext, {});
  Result<Sealed> b = f.keys->Encrypt(1, plaintext, {});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->iv != b->iv);
  CHECK(a->ciphertext != b->ciphertext);
}

TEST_CASE("Decrypt with the wrong associated data is an integrity failure", "[hsm][gcm]") {
  Fixture f;
  const Bytes aad = ToBytes("owner=alice");
  Result<Sealed> sealed = f.keys->Encrypt(1, ToBytes("secret"), aad);
  REQUIRE(sealed.ok());
  RequireIntegrityFailure(*f.keys, *sealed, ToBytes("owner=mallory"));
  RequireIntegrityFailure(*f.keys, *sealed, {});
}

TEST_CASE("Every flipped bit of IV, ciphertext, tag or AAD is an integrity failure",
          "[hsm][gcm][tamper]") {
  Fixture f;
  const Bytes plaintext = ToBytes("0123-4567-89AB-CDEF-GHIJ-KLMN");
  const Bytes aad = ToBytes("escrow-rk\x01\x02 dev-42");
  Result<Sealed> sealed = f.keys->Encrypt(1, plaintext, aad);
  REQUIRE(sealed.ok());

  auto flip_each = [&](auto&& mutate, std::size_t size) {
    for (std::size_t bit = 0; bit < size * 8; ++bit) {
      Sealed copy = *sealed;
      Bytes aad_copy = aad;
      mutate(copy, aad_copy, bit / 8, static_cast<std::uint8_t>(1U << (bit % 8)));
      CAPTURE(bit);
      RequireIntegrityFailure(*f.keys, copy, aad_copy);
    }
  };
  SECTION("iv") {
    flip_each([](Sealed& s, Bytes&, std::size_t i, std::uint8_t m) { s.iv[i] ^= m; },
              sealed->iv.size());
  }
  SECTION("ciphertext") {
    flip_each([](Sealed& s, Bytes&, std::size_t i, std::uint8_t m) { s.ciphertext[i] ^= m; },
              sealed->ciphertext.size());
  }
  SECTION("tag") {
    flip_each([](Sealed& s, Bytes&, std::size_t i, std::uint8_t m) { s.tag[i] ^= m; },
              sealed->tag.size());
  }
  SECTION("aad") {
    flip_each([](Sealed&, Bytes& a, std::size_t i, std::uint8_t m) { a[i] ^= m; }, aad.size());
  }
  // The untouched record still decrypts: the failures were the record's, not the HSM's.
  Result<SecretBytes> opened = f.keys->Decrypt(1, *sealed, aad);
  REQUIRE(opened.ok());
  CHECK(Equals(*opened, plaintext));
}

TEST_CASE("Every truncation of the record is an integrity failure", "[hsm][gcm][tamper]") {
  Fixture f;
  const Bytes aad = ToBytes("aad");
  Result<Sealed> sealed = f.keys->Encrypt(1, ToBytes("0123-4567-89AB-CDEF-GHIJ-KLMN"), aad);
  REQUIRE(sealed.ok());
  SECTION("ciphertext") {
    for (std::size_t len = 0; len < sealed->ciphertext.size(); ++len) {
      Sealed copy = *sealed;
      copy.ciphertext.resize(len);
      CAPTURE(len);
      RequireIntegrityFailure(*f.keys, copy, aad);
    }
  }
  SECTION("tag and iv (rejected before the HSM)") {
    for (std::size_t len = 0; len < 16; ++len) {
      Sealed copy = *sealed;
      copy.tag.resize(len);
      RequireIntegrityFailure(*f.keys, copy, aad);
    }
    for (std::size_t len = 0; len < 12; ++len) {
      Sealed copy = *sealed;
      copy.iv.resize(len);
      RequireIntegrityFailure(*f.keys, copy, aad);
    }
    Sealed longer = *sealed;
    longer.iv.push_back(0);
    RequireIntegrityFailure(*f.keys, longer, aad);
  }
  SECTION("appended bytes") {
    Sealed copy = *sealed;
    copy.ciphertext.push_back(0);
    RequireIntegrityFailure(*f.keys, copy, aad);
  }
}

TEST_CASE("KeyService signs and verifies HMAC-SHA256 under the audit key", "[hsm][hmac]") {
  Fixture f;
  const Bytes data = ToBytes("audit head 42 9f86d081884c7d659a2feaa0c55ad015");
  Result<Mac> mac = f.keys->Sign(hsm::KeyRole::kAudit, 1, data);
  REQUIRE(mac.ok());
  CHECK(f.keys->Verify(hsm::KeyRole::kAudit, 1, data, *mac).ok());
  Result<Mac> again = f.keys->Sign(hsm::KeyRole::kAudit, 1, data);
  REQUIRE(again.ok());
  CHECK(*again == *mac);  // deterministic

  SECTION("tampered data") {
    Bytes tampered = data;
    tampered.back() ^= 0x01;
    CHECK(f.keys->Verify(hsm::KeyRole::kAudit, 1, tampered, *mac).code() == Code::kDataLoss);
  }
  SECTION("tampered or truncated MAC") {
    Mac bad = *mac;
    bad[7] ^= 0x40;
    CHECK(f.keys->Verify(hsm::KeyRole::kAudit, 1, data, bad).code() == Code::kDataLoss);
    CHECK(f.keys->Verify(hsm::KeyRole::kAudit, 1, data, std::span(mac->data(), 31)).code() ==
          Code::kDataLoss);
    CHECK(f.keys->Verify(hsm::KeyRole::kAudit, 1, data, {}).code() == Code::kDataLoss);
  }
  SECTION("another audit key") {
    REQUIRE(f.keys->GenerateKey(KeyRole::kAudit, 2, false).ok());
    CHECK(f.keys->Verify(hsm::KeyRole::kAudit, 2, data, *mac).code() == Code::kDataLoss);
  }
}

TEST_CASE("Probe passes on a healthy HSM", "[hsm][probe]") {
  Fixture f;
  CHECK(f.keys->Probe(1).ok());
  CHECK(f.keys->Probe(9).code() == Code::kNotFound);
}

TEST_CASE("Concurrent Encrypt and Decrypt from 4 threads all succeed", "[hsm][concurrency]") {
  Fixture f;
  constexpr int kThreads = 4;
  constexpr int kRounds = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const Bytes plaintext = ToBytes("key-" + std::to_string(t) + "-" + std::to_string(i));
        const Bytes aad = ToBytes("thread-" + std::to_string(t));
        Result<Sealed> sealed = f.keys->Encrypt(1, plaintext, aad);
        if (!sealed.ok()) {
          ++failures;
          continue;
        }
        Result<SecretBytes> opened = f.keys->Decrypt(1, *sealed, aad);
        if (!opened.ok() || !Equals(*opened, plaintext)) ++failures;
        if (i % 10 == 0 && !f.keys->Sign(hsm::KeyRole::kAudit, 1, aad).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures.load() == 0);
}

}  // namespace
}  // namespace escrow::hsm
