#include <atomic>
#include <chrono>
#include <thread>

#include "tests/tools/ctl_fixture.h"

namespace escrow::testing {
namespace {

// Runs `vaultctl master-key rotate` while threads store new keys for existing devices and
// retrieve keys, as vaultd would serve them, then checks that every record reads back under
// the new master key.
void RotateUnderTraffic(std::size_t records) {
  CtlFixture f;
  f.Open();
  f.Populate(0, records);
  REQUIRE(f.Counts() == std::map<std::uint32_t, std::int64_t>{{1, records}});

  std::atomic<bool> stop{false};
  std::atomic<int> stores{0}, retrievals{0}, failures{0};
  std::vector<std::string> expected(records);
  for (std::size_t i = 0; i < records; ++i) expected[i] = CtlFixture::KeyFor(i);
  std::mutex expected_mu;
  // Storer: new key versions for the first 200 devices (each its own thread-free slot), at most
  // eight rounds: with the first, nine versions a device, within keep_versions (10), so that
  // none is destroyed and every stored version is counted below however fast stores run.
  std::thread storer([&] {
    constexpr std::size_t kRounds = 8;
    std::size_t round = 0;
    while (!stop && round < kRounds) {
      for (std::size_t i = 0; i < 200 && !stop; ++i) {
        const std::string key = CtlFixture::KeyFor(500000 + round * 1000 + i);
        const SecretBytes secret = SecretBytes::CopyOf(key);
        Result<vault::StoreKeyResult> r =
            f.service().StoreKey(vault::Caller::Mdm("mdm"), CtlFixture::DeviceId(i), secret,
                                 nullptr);
        if (r.ok()) {
          std::lock_guard lock(expected_mu);
          expected[i] = key;
          ++stores;
        } else {
          UNSCOPED_INFO("store: " << r.status().ToString());
          ++failures;
        }
      }
      ++round;
    }
  });
  // Reader: retrieves devices past the stored range (their keys never change).
  std::thread reader([&] {
    std::size_t i = 200;
    while (!stop) {
      const std::string got = f.Retrieve(i);
      if (got != CtlFixture::KeyFor(i)) {
        UNSCOPED_INFO("retrieve " << i << ": " << got);
        ++failures;
      }
      ++retrievals;
      i = i + 37 < records ? i + 37 : 200 + (i % 37);
    }
  });

  const auto start = std::chrono::steady_clock::now();
  CtlRun r = f.Ctl("master-key rotate");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop = true;
  storer.join();
  reader.join();
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  WARN("rotated " << records << " records in " << seconds << " s with " << stores
                  << " concurrent stores and " << retrievals << " retrievals");
  CHECK(failures == 0);
  CHECK(stores > 0);
  CHECK(retrievals > 0);
  CHECK(r.out.find("master key rotated to escrow-master-v2") != std::string::npos);

  // Every record, old and new, is now under v2 and reads back.
  const std::map<std::uint32_t, std::int64_t> counts = f.Counts();
  REQUIRE(counts.size() == 1);
  CHECK(counts.begin()->first == 2);
  CHECK(counts.begin()->second == static_cast<std::int64_t>(records) + stores);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < records; ++i) {
    if (f.Retrieve(i) != expected[i]) ++bad;
  }
  CHECK(bad == 0);
  // Older versions of the devices that got new keys were re-encrypted too.
  Result<std::vector<storage::KeyVersionRow>> versions = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.versions().List("dev-0"); });
  REQUIRE(versions.ok());
  for (const storage::KeyVersionRow& v : *versions) CHECK(v.master_key_version == 2);
}

TEST_CASE("master-key rotate re-encrypts 2,000 records under concurrent stores and retrievals",
          "[tools][ctl][rotate][hsm]") {
  RotateUnderTraffic(2000);
}

TEST_CASE("master-key rotate re-encrypts 10,000 records under concurrent stores and retrievals",
          "[tools][ctl][rotate][hsm][.slow]") {
  RotateUnderTraffic(10000);
}

TEST_CASE("master-key rotate resumes after kill -9 at every stage and loses nothing",
          "[tools][ctl][rotate][hsm]") {
  const std::string point = GENERATE(as<std::string>{}, "target", "keygen", "activate",
                                     "batch:1", "batch:3", "complete");
  CAPTURE(point);
  constexpr std::size_t kRecords = 600;
  CtlFixture f;
  f.Open();
  f.Populate(0, kRecords);

  CtlRun killed = f.Ctl("master-key rotate", "",
                        "ESCROW_CTL_ROTATE_BATCH=100 ESCROW_CTL_CRASH_AT=" + point);
  INFO(killed.err);
  REQUIRE(killed.killed);
  // Between the kill and the resume vaultd keeps working: every record still reads.
  for (std::size_t i = 0; i < kRecords; i += 7) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
  CtlRun status = f.Ctl("status");
  REQUIRE(status.exit_code == 0);
  CHECK(status.out.find("in progress to v2") != std::string::npos);

  CtlRun resumed = f.Ctl("master-key rotate", "", "ESCROW_CTL_ROTATE_BATCH=100");
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.err.find("resuming the rotation to escrow-master-v2") != std::string::npos);
  CHECK(f.Counts() == std::map<std::uint32_t, std::int64_t>{{2, kRecords}});
  // No extra key was generated: v1 and v2 only.
  std::vector<std::uint32_t> masters;
  for (const hsm::KeyInfo& k : f.TokenKeys()) {
    if (k.role == hsm::KeyRole::kMaster) masters.push_back(k.version);
  }
  CHECK(masters == std::vector<std::uint32_t>{1, 2});
  for (std::size_t i = 0; i < kRecords; ++i) REQUIRE(f.Retrieve(i) == CtlFixture::KeyFor(i));
  CtlRun verify = f.Ctl("audit verify");
  CHECK(verify.exit_code == 0);
}

TEST_CASE("master-key rotate --retire-old destroys only unused versions, after a warning",
          "[tools][ctl][rotate][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 50);

  CtlRun no_yes = f.Ctl("master-key rotate", "--retire-old");
  CHECK(no_yes.exit_code == 2);
  CHECK(no_yes.err.find("--yes") != std::string::npos);

  CtlRun r = f.Ctl("master-key rotate", "--retire-old --yes");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("older") == std::string::npos);
  CHECK(r.err.find("become unreadable") != std::string::npos);
  CHECK(r.out.find("destroyed escrow-master-v1") != std::string::npos);
  std::vector<std::uint32_t> masters;
  for (const hsm::KeyInfo& k : f.TokenKeys()) {
    if (k.role == hsm::KeyRole::kMaster) masters.push_back(k.version);
  }
  CHECK(masters == std::vector<std::uint32_t>{2});
  for (std::size_t i = 0; i < 50; ++i) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));

  // A second rotation goes to v3 and again reads everything.
  CtlRun again = f.Ctl("master-key rotate");
  REQUIRE(again.exit_code == 0);
  CHECK(f.Counts() == std::map<std::uint32_t, std::int64_t>{{3, 50}});
  for (std::size_t i = 0; i < 50; ++i) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
}

TEST_CASE("master-key rotate stops at a record that fails its integrity check, and resumes",
          "[tools][ctl][rotate][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 20);
  REQUIRE(RunCommand("sqlite3 " + ShellQuote(f.db_path()) +
                     " \"UPDATE key_versions SET owner = 'mallory' WHERE device_id = 'dev-5'\"") ==
          0);
  CtlRun r = f.Ctl("master-key rotate");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("device dev-5 version 1") != std::string::npos);
  CHECK(r.err.find("integrity") != std::string::npos);
  CtlRun status = f.Ctl("status");
  CHECK(status.out.find("in progress to v2") != std::string::npos);
}

}  // namespace
}  // namespace escrow::testing

namespace escrow::testing {
namespace {

TEST_CASE("master-key rotate re-encrypts 100,000 records (timing, by hand)",
          "[tools][ctl][rotate][hsm][.slow][100k]") {
  constexpr std::size_t kRecords = 100000;
  CtlFixture f;
  f.Open();
  f.Populate(0, kRecords);
  const auto start = std::chrono::steady_clock::now();
  CtlRun r = f.Ctl("master-key rotate");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  WARN("rotated " << kRecords << " records in " << seconds << " s: " << r.out);
  CHECK(f.Counts() == std::map<std::uint32_t, std::int64_t>{{2, kRecords}});
  for (std::size_t i = 0; i < kRecords; i += 997) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
}

}  // namespace
}  // namespace escrow::testing
