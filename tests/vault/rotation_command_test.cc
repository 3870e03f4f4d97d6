// EscrowService::IssueRotationCommand (POST .../recovery-key/rotation-command) on the fakes:
// every limit of API.md's row, the release's audit and burn, the state record's flag under its
// MAC, and the whole loop with the reply certificate. The real vaultd's half is
// tests/e2e/rotation_command_e2e_test.cc.

#include <catch2/catch.hpp>

#include <string>

#include "tests/vault/cms_vault.h"

namespace escrow::vault {
namespace {

using escrow::testing::CmsVault;
using escrow::testing::HelpdeskCaller;
using escrow::testing::kFirstKey;
using escrow::testing::kSecondKey;

Caller Mdm() { return Caller::Mdm("mdm"); }
Caller Alice() { return Caller::User("alice", {}, "portal"); }

EscrowOptions Enabled(int cap = 200) {
  EscrowOptions o;
  o.mdm_rotation_command = true;
  o.mdm_rotation_commands_per_day = cap;
  return o;
}

void CheckDenied(const Result<RotationCommand>& r, Code code, std::string_view reason) {
  INFO(r.status().ToString());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == code);
  CHECK(r.status().reason() == reason);
}

storage::DeviceStateRow State(CmsVault& v, std::string_view id) {
  std::optional<storage::DeviceStateRow> state;
  REQUIRE(v.fake_store
              .Read([&](storage::ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(state, txn.states().Get(id));
                return Status::Ok();
              })
              .ok());
  REQUIRE(state.has_value());
  return *state;
}

TEST_CASE("The rotation command is off unless configured, and only the mdm may ask",
          "[vault][rotation_command]") {
  CmsVault off;
  REQUIRE(off.service->RequestRotation(Alice(), "mac-1").ok());
  CheckDenied(off.service->IssueRotationCommand(Mdm(), "mac-1"), Code::kPermissionDenied,
              "forbidden");
  CHECK(off.LastDetail().rfind("key.rotation_command denied", 0) == 0);

  CmsVault on(Enabled());
  REQUIRE(on.service->RequestRotation(Alice(), "mac-1").ok());
  for (const Caller& c : {Alice(), HelpdeskCaller()}) {
    CheckDenied(on.service->IssueRotationCommand(c, "mac-1"), Code::kPermissionDenied,
                "forbidden");
  }
  CheckDenied(on.service->IssueRotationCommand(Mdm(), "no-such-mac"), Code::kNotFound,
              "device_not_found");
}

TEST_CASE("The rotation command releases the current key once per pending rotation, with the "
          "device's own certificate",
          "[vault][rotation_command]") {
  CmsVault v(Enabled());
  // No rotation pending: nothing released.
  CheckDenied(v.service->IssueRotationCommand(Mdm(), "mac-1"), Code::kFailedPrecondition,
              "rotation_not_pending");
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());

  Result<RotationCommand> r = v.service->IssueRotationCommand(Mdm(), "mac-1");
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->recovery_key.RevealSecretText() == kFirstKey);
  CHECK(r->version == 1);
  // The reply certificate is the device's own: the one the device route hands out.
  Result<EscrowCertificate> own = v.service->DeviceEscrowCertificate(Mdm(), "mac-1");
  REQUIRE(own.ok());
  CHECK(r->reply_certificate_der == own->der);
  CHECK(r->reply_certificate_der != v.fleet.der);
  CHECK(v.LastDetail().rfind("key.rotation_command ok version=1 reply_serial=" + own->serial, 0) ==
        0);
  // A release: its event (the mdm is not the owner), under the release's audit record.
  Result<std::vector<storage::EventRow>> events = storage::ReadValue(
      v.fake_store, [](storage::ReadTxn& txn) { return txn.events().List(0, 1000); });
  REQUIRE(events.ok());
  REQUIRE_FALSE(events->empty());
  const storage::EventRow& released = events->back();
  CHECK(released.type == "recovery_key.retrieved");
  CHECK(released.by_owner == std::optional<bool>(false));
  CHECK(released.device_id == "mac-1");
  CHECK(released.actor == "client:mdm");
  Result<std::optional<storage::AuditRow>> last = storage::ReadValue(
      v.fake_store, [](storage::ReadTxn& txn) { return txn.audit().Last(); });
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  CHECK((*last)->seq == released.id);
  CHECK((*last)->action == "key.rotation_command");
  // The version burned, the record says the command was sent.
  CHECK(State(v, "mac-1").rotation_command_sent);
  CHECK(v.Dump().find("version 1 state=active burned=1") != std::string::npos);

  // Once: a second command changes nothing.
  const std::string before = v.Dump();
  CheckDenied(v.service->IssueRotationCommand(Mdm(), "mac-1"), Code::kFailedPrecondition,
              "rotation_not_pending");
  const std::string after = v.Dump();
  CHECK(after.substr(0, after.find("audit head")) == before.substr(0, before.find("audit head")));

  // A seen key stored again leaves the rotation pending, and its command sent.
  REQUIRE(v.service->StoreKey(Mdm(), "mac-1", SecretBytes::CopyOf(kFirstKey), nullptr).ok());
  CHECK(State(v, "mac-1").rotation_command_sent);
  CheckDenied(v.service->IssueRotationCommand(Mdm(), "mac-1"), Code::kFailedPrecondition,
              "rotation_not_pending");
  // A person asking again (the Mac never answered) allows one more.
  REQUIRE(v.service->RequestRotation(HelpdeskCaller(), "mac-1").ok());
  CHECK_FALSE(State(v, "mac-1").rotation_command_sent);
  Result<RotationCommand> again = v.service->IssueRotationCommand(Mdm(), "mac-1");
  REQUIRE(again.ok());
  CHECK(again->reply_certificate_der == r->reply_certificate_der);
  CheckDenied(v.service->IssueRotationCommand(Mdm(), "mac-1"), Code::kFailedPrecondition,
              "rotation_not_pending");

  // The Mac rotates and escrows the new key to the reply certificate: the rotation clears,
  // and with it the command; the next rotation may have its own.
  const std::string cms = v.Envelope(r->reply_certificate_der, "-aes256");
  Result<StoreKeyResult> stored = v.service->StoreCmsKey(Mdm(), "mac-1", cms, std::nullopt);
  INFO(stored.status().ToString());
  REQUIRE(stored.ok());
  CHECK(stored->version == 2);
  const storage::DeviceStateRow cleared = State(v, "mac-1");
  CHECK_FALSE(cleared.rotation_pending);
  CHECK_FALSE(cleared.rotation_command_sent);
  // The reply certificate is bound to mac-1: the same envelope for mac-2 is refused.
  CHECK(v.Put("mac-2", cms).reason() == "invalid_cms");

  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  Result<RotationCommand> next = v.service->IssueRotationCommand(Mdm(), "mac-1");
  REQUIRE(next.ok());
  CHECK(next->recovery_key.RevealSecretText() == kSecondKey);
  CHECK(next->version == 2);
}

TEST_CASE("The rotation command is for corporate Macs with a key", "[vault][rotation_command]") {
  CmsVault v(Enabled());
  const DeviceSpec personal{"SN-3", "Own Mac", Platform::kMacos, Ownership::kPersonal, "carol",
                            true};
  const DeviceSpec windows{"SN-4", "PC", Platform::kWindows, Ownership::kCorporate, "dan", true};
  REQUIRE(v.service->PutDevice(Mdm(), "mac-3", personal).ok());
  REQUIRE(v.service->PutDevice(Mdm(), "pc-4", windows).ok());
  for (const char* id : {"mac-3", "pc-4"}) {
    REQUIRE(v.service->CheckIn(Mdm(), id).ok());
  }
  REQUIRE(v.service->StoreKey(Mdm(), "mac-3", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
  REQUIRE(v.service->RequestRotation(Caller::User("carol", {}, "portal"), "mac-3").ok());
  CheckDenied(v.service->IssueRotationCommand(Mdm(), "mac-3"), Code::kPermissionDenied,
              "personal_device");
  CheckDenied(v.service->IssueRotationCommand(Mdm(), "pc-4"), Code::kInvalidArgument,
              "invalid_request");
  // mac-2 is enrolled without a key.
  CheckDenied(v.service->IssueRotationCommand(Mdm(), "mac-2"), Code::kNotFound,
              "recovery_key_not_found");
}

TEST_CASE("Rotation commands stop at the daily cap, with an alert record",
          "[vault][rotation_command]") {
  CmsVault v(Enabled(/*cap=*/1));
  REQUIRE(v.service->StoreKey(Mdm(), "mac-2", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
  for (const char* id : {"mac-1", "mac-2"}) {
    REQUIRE(v.service->RequestRotation(HelpdeskCaller(), id).ok());
  }
  REQUIRE(v.service->IssueRotationCommand(Mdm(), "mac-1").ok());
  Result<RotationCommand> over = v.service->IssueRotationCommand(Mdm(), "mac-2");
  CheckDenied(over, Code::kResourceExhausted, "rate_limited");
  CHECK(over.status().retry_after_seconds() > 0);
  CHECK(v.LastDetail() == "key.rotation_command denied alert: daily rotation-command cap reached");
  CHECK_FALSE(State(v, "mac-2").rotation_command_sent);
  // A day later the cap has room again.
  v.clock.Advance(std::chrono::hours(24) + std::chrono::seconds(1));
  CHECK(v.service->IssueRotationCommand(Mdm(), "mac-2").ok());
}

TEST_CASE("A rotation the mdm caused itself is not one it may close with a command",
          "[vault][rotation_command]") {
  CmsVault v(Enabled());
  // The mdm flips mac-1 to personal and back (alice stays its owner): a rotation is pending,
  // and the current version is still the one recorded as corporate.
  for (const Ownership o : {Ownership::kPersonal, Ownership::kCorporate}) {
    const DeviceSpec spec{"SN-1", "Laptop", Platform::kMacos, o, "alice", true};
    REQUIRE(v.service->PutDevice(Mdm(), "mac-1", spec).ok());
  }
  REQUIRE(State(v, "mac-1").rotation_pending);
  CheckDenied(v.service->IssueRotationCommand(Mdm(), "mac-1"), Code::kFailedPrecondition,
              "rotation_not_pending");
  // Its owner asks for the rotation: now the mdm may close it.
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  Result<RotationCommand> r = v.service->IssueRotationCommand(Mdm(), "mac-1");
  INFO(r.status().ToString());
  CHECK(r.ok());
}

TEST_CASE("A rotation command whose audit record can't be written releases nothing",
          "[vault][rotation_command]") {
  CmsVault v(Enabled());
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  // The device certificate is issued first (its own commit); then the release's commit fails.
  REQUIRE(v.service->DeviceEscrowCertificate(Mdm(), "mac-1").ok());
  v.store.FailOn(escrow::testing::StoreOp::kAuditAppend, Status::Unavailable("disk gone"));
  Result<RotationCommand> r = v.service->IssueRotationCommand(Mdm(), "mac-1");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
  v.store.Heal(escrow::testing::StoreOp::kAuditAppend);
  CHECK_FALSE(State(v, "mac-1").rotation_command_sent);
  CHECK(v.service->IssueRotationCommand(Mdm(), "mac-1").ok());
}

TEST_CASE("A database writer can't clear the sent command: the state record's MAC covers it",
          "[vault][rotation_command]") {
  CmsVault v(Enabled());
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  REQUIRE(v.service->IssueRotationCommand(Mdm(), "mac-1").ok());
  storage::DeviceStateRow edited = State(v, "mac-1");
  edited.rotation_command_sent = false;
  REQUIRE(v.fake_store.Write([&](storage::WriteTxn& txn) { return txn.states().Put(edited); })
              .ok());
  CheckDenied(v.service->IssueRotationCommand(Mdm(), "mac-1"), Code::kDataLoss,
              "integrity_error");
}

}  // namespace
}  // namespace escrow::vault
