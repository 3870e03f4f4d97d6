// EscrowService::ListAccesses (GET .../recovery-key/accesses) on the fakes: who may ask, what
// an owner sees against what roles see, order, paging, and its own audit record.

#include <string>

#include <catch2/catch.hpp>

#include "tests/vault/cms_vault.h"

namespace escrow::vault {
namespace {

using escrow::testing::CmsVault;
using escrow::testing::FakeVault;
using escrow::testing::HelpdeskCaller;
using escrow::testing::kSecondKey;

Caller Mdm() { return Caller::Mdm("mdm"); }
Caller Alice() { return Caller::User("alice", {}, "portal"); }
Caller Bob() { return Caller::User("bob", {}, "portal"); }
Caller Auditor() {
  RoleSet roles;
  roles.Add(Role::kAuditor);
  return Caller::User("au", roles, "portal");
}

AccessPage List(FakeVault& v, const Caller& c, std::optional<std::uint64_t> before = {},
                std::size_t limit = 100) {
  Result<AccessPage> r = v.service->ListAccesses(c, "mac-1", before, limit);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

std::vector<std::string> Actors(const AccessPage& page) {
  std::vector<std::string> out;
  for (const KeyAccess& a : page.accesses) out.push_back(a.actor);
  return out;
}

TEST_CASE("Accesses list every release newest first, with who, why and whether the owner",
          "[vault][accesses]") {
  FakeVault v;
  REQUIRE(v.service->Retrieve(HelpdeskCaller(), "mac-1", "user locked out", std::nullopt).ok());
  REQUIRE(v.service->Retrieve(Alice(), "mac-1", "", std::nullopt).ok());
  // A refusal is not a release.
  REQUIRE_FALSE(v.service->Retrieve(HelpdeskCaller(), "mac-1", "", std::nullopt).ok());

  const AccessPage page = List(v, HelpdeskCaller());
  REQUIRE(page.accesses.size() == 2);
  CHECK_FALSE(page.next_after.has_value());
  const KeyAccess& newest = page.accesses[0];
  CHECK(newest.actor == "user:alice");
  CHECK(newest.by_owner);
  CHECK(newest.version == 1u);
  const KeyAccess& oldest = page.accesses[1];
  CHECK(oldest.actor == "user:hd");
  CHECK(oldest.role == "helpdesk");
  CHECK(oldest.reason == "user locked out");
  CHECK_FALSE(oldest.by_owner);
  CHECK(oldest.version == 1u);
  CHECK(oldest.at <= newest.at);
  // The owner and the auditor see the same; the read is audited.
  CHECK(Actors(List(v, Alice())) == Actors(page));
  CHECK(Actors(List(v, Auditor())) == Actors(page));
  CHECK(v.Dump().find("audit head") != std::string::npos);
}

TEST_CASE("Accesses are refused to the mdm and strangers, and a bad limit is invalid",
          "[vault][accesses]") {
  FakeVault v;
  Result<AccessPage> mdm = v.service->ListAccesses(Mdm(), "mac-1", std::nullopt, 100);
  REQUIRE_FALSE(mdm.ok());
  CHECK(mdm.status().reason() == "forbidden");
  Result<AccessPage> stranger = v.service->ListAccesses(Bob(), "mac-1", std::nullopt, 100);
  REQUIRE_FALSE(stranger.ok());
  CHECK(stranger.status().reason() == "device_not_found");
  Result<AccessPage> absent =
      v.service->ListAccesses(HelpdeskCaller(), "no-such", std::nullopt, 100);
  CHECK(absent.status().reason() == "device_not_found");
  for (const std::size_t bad : {std::size_t{0}, std::size_t{1001}}) {
    Result<AccessPage> r = v.service->ListAccesses(HelpdeskCaller(), "mac-1", std::nullopt, bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().reason() == "invalid_request");
  }
}

TEST_CASE("An owner sees the accesses to versions recorded under them, roles see all",
          "[vault][accesses]") {
  FakeVault v;
  REQUIRE(v.service->Retrieve(HelpdeskCaller(), "mac-1", "for alice", std::nullopt).ok());
  // The Mac goes to bob, who stores his own key and views it.
  const DeviceSpec spec{"SN-1", "Laptop", Platform::kMacos, Ownership::kCorporate, "bob", true};
  REQUIRE(v.service->PutDevice(Mdm(), "mac-1", spec).ok());
  REQUIRE(v.service->StoreKey(Mdm(), "mac-1", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
  REQUIRE(v.service->Retrieve(Bob(), "mac-1", "", std::nullopt).ok());

  const AccessPage bob = List(v, Bob());
  REQUIRE(bob.accesses.size() == 1);
  CHECK(bob.accesses[0].actor == "user:bob");
  CHECK(bob.accesses[0].version == 2u);
  CHECK(bob.accesses[0].by_owner);
  CHECK(Actors(List(v, HelpdeskCaller())) == std::vector<std::string>{"user:bob", "user:hd"});
  // No longer alice's device: not visible to her.
  Result<AccessPage> alice = v.service->ListAccesses(Alice(), "mac-1", std::nullopt, 100);
  REQUIRE_FALSE(alice.ok());
  CHECK(alice.status().reason() == "device_not_found");
}

TEST_CASE("Accesses are paged by audit sequence", "[vault][accesses]") {
  FakeVault v;
  for (int i = 0; i < 5; ++i) {
    const std::string reason = "ticket " + std::to_string(i);
    REQUIRE(v.service->Retrieve(HelpdeskCaller(), "mac-1", reason, std::nullopt).ok());
  }
  std::vector<std::string> reasons;
  std::optional<std::uint64_t> after;
  int pages = 0;
  do {
    const AccessPage page = List(v, HelpdeskCaller(), after, 2);
    CHECK(page.accesses.size() <= 2);
    for (const KeyAccess& a : page.accesses) reasons.push_back(a.reason);
    after = page.next_after;
    ++pages;
  } while (after && pages < 10);
  CHECK(pages == 3);
  CHECK(reasons ==
        std::vector<std::string>{"ticket 4", "ticket 3", "ticket 2", "ticket 1", "ticket 0"});
  // A full last page says so only when nothing follows.
  const AccessPage all = List(v, HelpdeskCaller(), std::nullopt, 5);
  CHECK(all.accesses.size() == 5);
  CHECK_FALSE(all.next_after.has_value());
}

TEST_CASE("The mdm's rotation command is an access", "[vault][accesses]") {
  EscrowOptions o;
  o.mdm_rotation_command = true;
  CmsVault v(o);
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  REQUIRE(v.service->IssueRotationCommand(Mdm(), "mac-1").ok());
  const AccessPage page = List(v, Alice());
  REQUIRE(page.accesses.size() == 1);
  CHECK(page.accesses[0].actor == "client:mdm");
  CHECK(page.accesses[0].version == 1u);
  CHECK_FALSE(page.accesses[0].by_owner);
}

}  // namespace
}  // namespace escrow::vault
