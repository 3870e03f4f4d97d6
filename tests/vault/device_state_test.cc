// The device state record's pure parts (vault/device_state.h), the fingerprints'
// (vault/fingerprint.h), and how the escrow service uses them without decrypting.
#include <catch2/catch.hpp>

#include <algorithm>

#include "storage/audit_records.h"
#include "tests/vault/fake_vault.h"
#include "vault/device_state.h"
#include "vault/fingerprint.h"
#include "vault/policy.h"

namespace escrow::vault {
namespace {

using testing::FakeVault;
using testing::KeyOp;

storage::DeviceStateRow Sample() {
  storage::DeviceStateRow row;
  row.device_id = "mac-1";
  row.current_version = 2;
  row.rotation_pending = true;
  row.burned = Bytes(32, 0x11);
  row.audit_seq = 9;
  row.audit_hash = Bytes(32, 0x22);
  row.state_key_version = 1;
  return row;
}

TEST_CASE("The actions that change a device's state are the ones storage indexes",
          "[vault][state]") {
  std::vector<std::string_view> names;
  for (const Action a : {Action::kEnrolDevice, Action::kChangeOwnership, Action::kStoreKey,
                         Action::kRetrieveCurrent, Action::kRetrieveOlder,
                         Action::kRequestRotation, Action::kRotationCommand}) {
    names.push_back(ActionName(a));
  }
  CHECK(std::equal(names.begin(), names.end(), storage::kStateChangingActions.begin(),
                   storage::kStateChangingActions.end()));
}

TEST_CASE("The actions that release a key are the ones the accesses index holds",
          "[vault][state]") {
  std::vector<std::string_view> names;
  for (const Action a :
       {Action::kRetrieveCurrent, Action::kRetrieveOlder, Action::kRotationCommand}) {
    names.push_back(ActionName(a));
  }
  CHECK(std::equal(names.begin(), names.end(), storage::kReleaseActions.begin(),
                   storage::kReleaseActions.end()));
}

TEST_CASE("Every field of a state record is in its MAC input", "[vault][state]") {
  const Bytes base = StateMacInput(Sample());
  std::vector<storage::DeviceStateRow> changed(8, Sample());
  changed[0].device_id = "mac-2";
  changed[1].current_version = 1;
  changed[2].rotation_pending = false;
  changed[3].burned.clear();
  changed[4].audit_seq = 10;
  changed[5].audit_hash[31] ^= 1;
  changed[6].state_key_version = 2;
  changed[7].rotation_command_sent = true;
  for (const storage::DeviceStateRow& row : changed) CHECK(StateMacInput(row) != base);
  // The MAC itself is not part of its input.
  storage::DeviceStateRow with_mac = Sample();
  with_mac.mac = Bytes(32, 0x33);
  CHECK(StateMacInput(with_mac) == base);
}

TEST_CASE("A record MACed before the rotation command existed keeps its MAC input",
          "[vault][state]") {
  // Format 1, byte for byte: "escrow-state" | 1 | len | id | version | pending | count |
  // fingerprints | seq | hash | key version. Records sealed before migration 11 still verify.
  const storage::DeviceStateRow row = Sample();
  Bytes expected;
  Append(expected, std::string_view("escrow-state"));
  AppendU8(expected, 1);
  AppendU16Be(expected, 5);
  Append(expected, std::string_view("mac-1"));
  AppendU32Be(expected, 2);
  AppendU8(expected, 1);
  AppendU32Be(expected, 1);
  Append(expected, row.burned);
  AppendU64Be(expected, 9);
  Append(expected, row.audit_hash);
  AppendU32Be(expected, 1);
  CHECK(StateMacInput(row) == expected);
  // Format 2 says so in its format byte and ends with the flag: no format-1 input equals it.
  storage::DeviceStateRow sent = row;
  sent.rotation_command_sent = true;
  const Bytes two = StateMacInput(sent);
  REQUIRE(two.size() == expected.size() + 1);
  CHECK(two[12] == 2);
  CHECK(two.back() == 1);
}

TEST_CASE("The burned set stays sorted without repeats", "[vault][state]") {
  storage::DeviceStateRow row = Sample();
  row.burned.clear();
  const Bytes a(32, 0x05);
  const Bytes b(32, 0x01);
  Burn(row, a);
  Burn(row, b);
  Burn(row, a);
  REQUIRE(row.burned.size() == 64);
  CHECK(std::equal(b.begin(), b.end(), row.burned.begin()));
  CHECK(IsBurned(row, a));
  CHECK(IsBurned(row, b));
  CHECK_FALSE(IsBurned(row, Bytes(32, 0x03)));
  CHECK_FALSE(IsBurned(row, Bytes(31, 0x05)));
}

TEST_CASE("A fingerprint is bound to the device and the platform", "[vault][state]") {
  const SecretBytes key = SecretBytes::CopyOf(std::string_view("ABCD-EFGH-IJKL-MNOP-QRST-UVWX"));
  const SecretBytes input = FingerprintInput(Platform::kMacos, "mac-1", key);
  CHECK(input.RevealSecret().size() == 9 + 1 + 1 + 2 + 5 + 2 + key.size());
  CHECK_FALSE(ConstantTimeEquals(input, FingerprintInput(Platform::kMacos, "mac-2", key)));
  CHECK_FALSE(ConstantTimeEquals(input, FingerprintInput(Platform::kWindows, "mac-1", key)));
  // Length prefixes: moving a byte between the id and the key changes the input.
  CHECK_FALSE(ConstantTimeEquals(
      FingerprintInput(Platform::kMacos, "ab", SecretBytes::CopyOf(std::string_view("c"))),
      FingerprintInput(Platform::kMacos, "a", SecretBytes::CopyOf(std::string_view("bc")))));
}

TEST_CASE("Stores compare keys by fingerprint and never decrypt", "[vault][state]") {
  FakeVault v;
  const Caller mdm = Caller::Mdm("mdm");
  const int decrypts = v.keys.calls(KeyOp::kDecrypt);
  // The same key again (unchanged), then a new one: neither decrypts anything.
  Result<StoreKeyResult> same =
      v.service->StoreKey(mdm, "mac-1", SecretBytes::CopyOf(testing::kFirstKey), nullptr);
  REQUIRE(same.ok());
  CHECK_FALSE(same->created);
  Result<StoreKeyResult> other = v.service->StoreKey(
      mdm, "mac-1", SecretBytes::CopyOf(testing::kSecondKey),
      nullptr);
  REQUIRE(other.ok());
  CHECK(other->created);
  CHECK(v.keys.calls(KeyOp::kDecrypt) == decrypts);
}

}  // namespace
}  // namespace escrow::vault
