#include <catch2/catch.hpp>

#include "storage/row_enums.h"
#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::CurrentKeyVersion;
using testing::GetDevice;
using testing::GetKeyVersion;
using testing::ListDevicesByOwner;
using testing::ListKeyVersions;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;
using testing::RawExec;
using testing::StoreFixture;

TEST_CASE("Each stored enum has one text, and only those texts map back", "[storage][typed_rows]") {
  for (Platform p : {Platform::kMacos, Platform::kWindows, Platform::kLinux}) {
    CHECK(ParsePlatform(PlatformName(p)) == p);
  }
  for (Ownership o : {Ownership::kCorporate, Ownership::kPersonal}) {
    CHECK(ParseOwnership(OwnershipName(o)) == o);
  }
  for (VersionState s :
       {VersionState::kActive, VersionState::kSuperseded, VersionState::kDestroyed}) {
    CHECK(ParseVersionState(VersionStateName(s)) == s);
  }
  CHECK(PlatformName(Platform::kMacos) == "macos");
  CHECK(OwnershipName(Ownership::kPersonal) == "personal");
  CHECK(VersionStateName(VersionState::kSuperseded) == "superseded");
  // Texts the schema's CHECKs already refuse, and any other, are none of ours: no default.
  for (std::string_view bad : {"", "shared", "Corporate", "unknown", "corporate "}) {
    CHECK_FALSE(ParseOwnership(bad).has_value());
  }
  for (std::string_view bad : {"", "beos", "MacOS", "unknown"}) {
    CHECK_FALSE(ParsePlatform(bad).has_value());
  }
  for (std::string_view bad : {"", "lost", "unknown"}) {
    CHECK_FALSE(ParseVersionState(bad).has_value());
  }
  for (PrincipalKind k : {PrincipalKind::kUser, PrincipalKind::kClient}) {
    CHECK(ParsePrincipalKind(PrincipalKindName(k)) == k);
  }
  CHECK(PrincipalKindName(PrincipalKind::kUser) == "user");
  CHECK(PrincipalKindName(PrincipalKind::kClient) == "client");
  for (std::string_view bad : {"", "User", "mdm", "operator", "unknown", "client "}) {
    CHECK_FALSE(ParsePrincipalKind(bad).has_value());
  }
  CHECK(PrincipalKindName(static_cast<PrincipalKind>(0)) == "unknown");
  CHECK(PlatformName(static_cast<Platform>(0)) == "unknown");
  CHECK(OwnershipName(static_cast<Ownership>(3)) == "unknown");
  CHECK(VersionStateName(static_cast<VersionState>(0)) == "unknown");
}

TEST_CASE("A stored platform or kind the code does not know reads as kDataLoss",
          "[storage][typed_rows]") {
  StoreFixture f;
  auto store = f.Open();
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-2")));
    return txn.versions().Insert(MakeKeyVersion("dev-2", 1));
  });
  const DeviceRow dev2 = **GetDevice(*store, "dev-2");
  // The schema has no CHECK on these columns: an edit behind the store's back can write any
  // text, and reading it must not fall back to a default.
  REQUIRE(RawExec(f.path,
                  "UPDATE devices SET platform = 'beos' WHERE id = 'dev-1';"
                  "UPDATE key_versions SET kind = 'amiga' WHERE device_id = 'dev-2';") ==
          SQLITE_OK);

  auto device = GetDevice(*store, "dev-1");
  CHECK(device.status().code() == Code::kDataLoss);
  CHECK_THAT(device.status().message(), Catch::Contains("get device") &&
                                            Catch::Contains("platform") &&
                                            !Catch::Contains("beos"));
  CHECK(ListDevicesByOwner(*store, "alice").status().code() == Code::kDataLoss);
  CHECK(GetKeyVersion(*store, "dev-2", 1).status().code() == Code::kDataLoss);
  CHECK(ListKeyVersions(*store, "dev-2").status().code() == Code::kDataLoss);
  // The current version is looked up by the device's platform: an edited kind is not it.
  auto current = CurrentKeyVersion(*store, dev2);
  REQUIRE(current.ok());
  CHECK_FALSE(current->has_value());
  // The untouched device still reads.
  CHECK(GetDevice(*store, "dev-2")->has_value());

  SECTION("the read transaction is spent: a later read repeats the error") {
    Status s = store->Read([](ReadTxn& txn) -> Status {
      Result<std::optional<DeviceRow>> bad = txn.devices().Get("dev-1");
      CHECK(bad.status().code() == Code::kDataLoss);
      CHECK(txn.devices().Get("dev-2").status().code() == Code::kDataLoss);
      return Status::Ok();  // ignores it on purpose
    });
    CHECK(s.code() == Code::kDataLoss);
  }
}

TEST_CASE("A stored principal kind the code does not know reads as kDataLoss - NULL reads as none",
          "[storage][typed_rows]") {
  StoreFixture f;
  auto store = f.Open();
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
    KeyVersionRow v1 = MakeKeyVersion("dev-1", 1);
    v1.stored_by_kind = PrincipalKind::kClient;
    ESCROW_RETURN_IF_ERROR(txn.versions().Insert(v1));
    return txn.versions().Insert(MakeKeyVersion("dev-1", 2));  // no kind: NULL
  });
  auto none = GetKeyVersion(*store, "dev-1", 2);
  REQUIRE(none.ok());
  REQUIRE(none->has_value());
  CHECK_FALSE((*none)->stored_by_kind.has_value());
  // The schema's CHECK refuses any other text; past it (checks switched off, as an editor of
  // the file can), reading must not fall back to a default.
  CHECK(RawExec(f.path, "UPDATE key_versions SET stored_by_kind = 'robot' WHERE version = 1") ==
        SQLITE_CONSTRAINT);
  REQUIRE(RawExec(f.path,
                  "PRAGMA ignore_check_constraints = ON; "
                  "UPDATE key_versions SET stored_by_kind = 'robot' WHERE version = 1") ==
          SQLITE_OK);
  auto bad = GetKeyVersion(*store, "dev-1", 1);
  CHECK(bad.status().code() == Code::kDataLoss);
  CHECK_THAT(bad.status().message(),
             Catch::Contains("stored_by kind") && !Catch::Contains("robot"));
  CHECK(ListKeyVersions(*store, "dev-1").status().code() == Code::kDataLoss);
}

}  // namespace
}  // namespace escrow::storage
