#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::GetDevice;
using testing::GetKeyVersion;
using testing::LastAudit;
using testing::ListAllDevices;
using testing::MakeAudit;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;
using testing::StoreFixture;

void Fill(Store& store, int devices) {
  MustWrite(store, [&](WriteTxn& txn) {
    for (int i = 0; i < devices; ++i) {
      const std::string id = "dev-" + std::to_string(i);
      DeviceRow row = MakeDevice(id);
      row.name = std::string(200, static_cast<char>('a' + i % 26));
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(row));
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(MakeKeyVersion(id, 1)));
      ESCROW_RETURN_IF_ERROR(txn.audit().Append(MakeAudit(static_cast<std::uint64_t>(i) + 1, id)));
    }
    return Status::Ok();
  });
}

TEST_CASE("BackupTo writes a consistent copy that opens with the same rows",
          "[storage][maintenance]") {
  StoreFixture f;
  auto store = f.Open();
  Fill(*store, 50);
  const std::string backup = (f.dir.path() / "backup.db").string();
  Status s = store->BackupTo(backup);
  INFO(s.ToString());
  REQUIRE(s.ok());
  // Writes after the backup are not in it.
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("later")); });

  CHECK_FALSE(std::filesystem::exists(backup + ".partial"));
  struct stat st {};
  REQUIRE(::stat(backup.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  StoreOptions options = f.Options(/*create=*/false);
  options.path = backup;
  auto copy = Store::Open(options);
  INFO(copy.status().ToString());
  REQUIRE(copy.ok());
  CHECK((*copy)->IntegrityCheck().ok());
  auto devices = ListAllDevices(**copy, 1000);
  REQUIRE(devices.ok());
  CHECK(devices->size() == 50);
  CHECK_FALSE(GetDevice(**copy, "later")->has_value());
  auto version = GetKeyVersion(**copy, "dev-7", 1);
  REQUIRE(version.ok());
  REQUIRE(version->has_value());
  CHECK((*version)->ciphertext == MakeKeyVersion("dev-7", 1).ciphertext);
  auto head = LastAudit(**copy);
  REQUIRE(head.ok());
  CHECK((*head)->seq == 50);

  SECTION("an existing target is never replaced") {
    CHECK(store->BackupTo(backup).code() == Code::kAlreadyExists);
  }
}

TEST_CASE("BackupTo into a missing directory is kUnavailable", "[storage][maintenance]") {
  StoreFixture f;
  auto store = f.Open();
  CHECK(store->BackupTo((f.dir.path() / "no" / "such" / "dir.db").string()).code() ==
        Code::kUnavailable);
}

TEST_CASE("IntegrityCheck passes on a good file and reports kDataLoss on a damaged one",
          "[storage][maintenance]") {
  StoreFixture f;
  {
    auto store = f.Open();
    Fill(*store, 300);
    CHECK(store->IntegrityCheck().ok());
  }  // closing checkpoints the WAL into the file

  const std::string damaged = (f.dir.path() / "damaged.db").string();
  std::filesystem::copy_file(f.path, damaged);
  const auto size = std::filesystem::file_size(damaged);
  REQUIRE(size > std::uintmax_t{8} * 4096);
  {
    // Garbage over a page in the middle, well clear of the header and the schema page.
    std::fstream out(damaged, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>((size / 4096 / 2) * 4096));
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 131 + 17) & 0xff));
  }
  StoreOptions options = f.Options(/*create=*/false);
  options.path = damaged;
  auto store = Store::Open(options);
  if (!store.ok()) {
    CHECK(store.status().code() == Code::kDataLoss);
    return;
  }
  Status s = (*store)->IntegrityCheck();
  CHECK(s.code() == Code::kDataLoss);
  CHECK_THAT(s.message(), Catch::StartsWith("integrity check"));
}

}  // namespace
}  // namespace escrow::storage
