#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "tests/faults/fault_util.h"
#include "tests/support/temp_dir.h"

namespace escrow::faults {
namespace {

namespace fs = std::filesystem;

// A small tmpfs mounted for one test (root only), lazily unmounted at the end even if the
// killed vaultd still held files on it.
class TmpfsMount {
 public:
  TmpfsMount(std::string dir, const std::string& size) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    mounted_ = Sh("mount -t tmpfs -o size=" + size + ",mode=0700 tmpfs " + Quote(dir_)) == 0;
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  TmpfsMount(TmpfsMount&&) = delete;
  TmpfsMount& operator=(TmpfsMount&&) = delete;
  ~TmpfsMount() {
    if (mounted_) Sh("umount -l " + Quote(dir_));
  }
  bool mounted() const { return mounted_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// Moves the dev state's database into `dir` and points vault.conf at it.
void MoveDatabase(const VaultProcess& v, const std::string& dir) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const fs::path from = DbPath(v) + suffix;
    if (fs::exists(from)) {
      fs::copy_file(from, dir + "/vault.db" + suffix);
      fs::remove(from);
    }
  }
  SetConf(v.state() + "/vault.conf", "database", "path", "'" + dir + "/vault.db'");
}

HttpResult Retrieve(const VaultProcess& v, const std::string& token, const std::string& id,
                    std::uint32_t version) {
  return v.As(token, "POST", "/v1/devices/" + id + "/recovery-key/retrieve",
              R"({"reason":"fault test","version":)" + std::to_string(version) + "}");
}

HttpResult Store(const VaultProcess& v, const std::string& id, const std::string& key) {
  return v.Mdm("PUT", "/v1/devices/" + id + "/recovery-key", MdmKeyBody(key));
}

std::size_t Versions(const VaultProcess& v, const std::string& id) {
  const HttpResult r = v.Mdm("GET", "/v1/devices/" + id + "/recovery-key/versions");
  REQUIRE(r.status == 200);
  return Json(r.body).at("versions").as_array().size();
}

void NoKeyIn(const HttpResult& r) {
  INFO(r.body);
  CHECK(r.body.find("\"recovery_key\"") == std::string::npos);
}

void Relax(const VaultProcess& v) {
  const std::string conf = v.state() + "/vault.conf";
  SetConf(conf, "limits", "retrieve_per_user", "{ count = 0, window_seconds = 60 }");
  SetConf(conf, "policy", "daily_quota", "0");
}

TEST_CASE("A full database disk answers 503, loses no acknowledged write, and service resumes "
          "when space returns",
          "[faults][disk]") {
  if (!CanMount()) {
    WARN("skipped: mounting a tmpfs needs root");
    return;
  }
  VaultProcess v;
  TmpfsMount fs2(v.tmp() + "/dbfs", "2m");
  REQUIRE(fs2.mounted());
  MoveDatabase(v, fs2.dir());
  Relax(v);
  REQUIRE(v.Start());
  const std::vector<std::string> ids = {"full-0", "full-1", "full-2", "full-3"};
  std::map<std::string, std::vector<std::string>> acked;  // device -> keys by version - 1
  for (const std::string& id : ids) {
    v.Enrol(id, "alice", "corporate");
    const std::string key = MacKey(static_cast<int>(acked.size()));
    REQUIRE(Store(v, id, key).status == 200);
    acked[id].push_back(key);
  }

  // Fill the file system to the last byte.
  Sh("dd if=/dev/zero of=" + Quote(fs2.dir() + "/filler") + " bs=4k >/dev/null 2>&1");
  int failures = 0;
  const std::string admin = v.Token("ada", "--roles admin");
  for (int n = 0; n < 200 && failures < 3; ++n) {
    const std::string& id = ids[static_cast<std::size_t>(n) % ids.size()];
    const std::string key = MacKey(100 + n);
    const HttpResult r = Store(v, id, key);
    INFO(r.status << " " << r.body);
    if (r.status == 200) {
      acked[id].push_back(key);
      continue;
    }
    CHECK(r.status == 503);
    CHECK(ErrCode(r) == "store_failed");
    ++failures;
    // A retrieval that cannot be audited releases nothing.
    const HttpResult got = Retrieve(v, admin, id, 1);
    if (got.status != 200) {
      CHECK(got.status == 503);
      NoKeyIn(got);
    }
  }
  REQUIRE(failures > 0);
  CHECK(v.running());

  fs::remove(fs2.dir() + "/filler");
  CHECK(WaitFor([&] {
    const HttpResult r = Store(v, "full-0", MacKey(999));
    if (r.status == 200) acked["full-0"].push_back(MacKey(999));
    return r.status == 200;
  }));
  for (const auto& [id, keys] : acked) {
    CHECK(Versions(v, id) == keys.size());  // no failed store left a version behind
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const HttpResult r = Retrieve(v, admin, id, static_cast<std::uint32_t>(i + 1));
      INFO(id << " v" << i + 1 << ": " << r.body);
      REQUIRE(r.status == 200);
      CHECK(Json(r.body).at("recovery_key").as_string() == keys[i]);
    }
  }
  CHECK(AuditVerifies(v));
  REQUIRE(v.Stop() == 0);
  CHECK(IntegrityCheck(fs2.dir() + "/vault.db") == "ok");
}

TEST_CASE("A read-only database is refused or answered with 503, and service resumes when it "
          "is writable again",
          "[faults][disk]") {
  if (!CanMount()) {
    WARN("skipped: mounting a tmpfs needs root");
    return;
  }
  VaultProcess v;
  TmpfsMount fs2(v.tmp() + "/dbfs", "8m");
  REQUIRE(fs2.mounted());
  MoveDatabase(v, fs2.dir());
  Relax(v);
  REQUIRE(v.Start());
  v.Enrol("ro-1", "alice", "corporate");
  REQUIRE(Store(v, "ro-1", MacKey(1)).status == 200);
  const std::string admin = v.Token("ada", "--roles admin");

  // Linux refuses to remount a file system read-only while a file on it is open for writing
  // (EBUSY), so a running vaultd cannot have its database turned read-only under it: try,
  // and otherwise stop vaultd, remount, and start it on the read-only file.
  bool live = Sh("mount -o remount,ro " + Quote(fs2.dir()) + " 2>/dev/null") == 0;
  if (!live) {
    REQUIRE(v.Stop() == 0);
    REQUIRE(Sh("mount -o remount,ro " + Quote(fs2.dir())) == 0);
    if (!v.Start()) {
      // Refused, with a reason: acceptable (nothing served from a database it cannot use).
      CHECK(v.start_exit_status() != 0);
      CHECK(v.Log().find("database") != std::string::npos);
    }
  }
  if (v.running()) {
    HttpResult r = Store(v, "ro-1", MacKey(2));
    INFO(r.status << " " << r.body);
    CHECK(r.status == 503);
    CHECK(ErrCode(r) == "store_failed");
    r = Retrieve(v, admin, "ro-1", 1);
    INFO(r.status << " " << r.body);
    CHECK(r.status == 503);  // the audit record cannot be written: no key
    NoKeyIn(r);
  }

  REQUIRE(Sh("mount -o remount,rw " + Quote(fs2.dir())) == 0);
  if (!v.running()) REQUIRE(v.Start());
  CHECK(WaitFor([&] { return Store(v, "ro-1", MacKey(3)).status == 200; }));
  CHECK(Versions(v, "ro-1") == 2);
  const HttpResult r = Retrieve(v, admin, "ro-1", 1);
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key").as_string() == MacKey(1));
  CHECK(AuditVerifies(v));
}

TEST_CASE("A failing audit write releases no key and stores nothing", "[faults][audit]") {
  VaultProcess v;
  Relax(v);
  REQUIRE(v.Start());
  const std::string alice = v.Token("alice");
  v.Enrol("au-1", "alice", "personal");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/au-1/recovery-key",
               e2e::KeyBody(MacKey(1), MacKey(1))).status == 200);

  Sqlite(DbPath(v), "CREATE TRIGGER fault_audit BEFORE INSERT ON audit "
                    "BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END;");
  HttpResult r = v.As(alice, "POST", "/v1/devices/au-1/recovery-key/retrieve", "{}");
  INFO(r.status << " " << r.body);
  CHECK(r.status == 503);
  CHECK(ErrCode(r) == "unavailable");
  NoKeyIn(r);
  CHECK(r.body.find(MacKey(1)) == std::string::npos);
  r = v.As(alice, "PUT", "/v1/devices/au-1/recovery-key", e2e::KeyBody(MacKey(2), MacKey(2)));
  CHECK(r.status == 503);
  CHECK(ErrCode(r) == "store_failed");
  CHECK(DbVersions(DbPath(v), "au-1") == "1");

  Sqlite(DbPath(v), "DROP TRIGGER fault_audit");
  r = v.As(alice, "POST", "/v1/devices/au-1/recovery-key/retrieve", "{}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key").as_string() == MacKey(1));
  CHECK(AuditVerifies(v));
}

// Finds `needle` in the file and flips one bit of its middle byte. False if not found.
bool FlipInFile(const std::string& path, const std::string& needle) {
  std::string bytes = testing::ReadFileBytes(path);
  const std::size_t at = bytes.find(needle);
  if (at == std::string::npos) return false;
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const std::size_t pos = at + needle.size() / 2;
  f.seekp(static_cast<std::streamoff>(pos));
  f.put(static_cast<char>(bytes[pos] ^ 0x10));
  return static_cast<bool>(f);
}

std::string Unhex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

TEST_CASE("Corrupted database pages are detected and never yield a wrong key",
          "[faults][corruption]") {
  VaultProcess v;
  Relax(v);
  REQUIRE(v.Start());
  const std::string alice = v.Token("alice");
  for (int i = 0; i < 3; ++i) {
    const std::string id = "cor-" + std::to_string(i);
    v.Enrol(id, "alice", "personal");
    REQUIRE(v.As(alice, "PUT", "/v1/devices/" + id + "/recovery-key",
                 e2e::KeyBody(MacKey(i), MacKey(i))).status == 200);
  }
  REQUIRE(v.Stop() == 0);  // checkpointed: the rows are in the main file
  const std::string db = DbPath(v);

  SECTION("a flipped bit inside a stored ciphertext: integrity_error for that device only") {
    const std::string ct = Unhex(Sqlite(db, "SELECT hex(ciphertext) FROM key_versions "
                                            "WHERE device_id = 'cor-1'"));
    REQUIRE(FlipInFile(db, ct));
    CHECK(IntegrityCheck(db) == "ok");  // SQLite cannot see it; the AEAD tag can
    REQUIRE(v.Start());
    HttpResult r = v.As(alice, "POST", "/v1/devices/cor-1/recovery-key/retrieve", "{}");
    INFO(r.body);
    CHECK(r.status == 500);
    CHECK(ErrCode(r) == "integrity_error");
    NoKeyIn(r);
    r = v.As(alice, "POST", "/v1/devices/cor-0/recovery-key/retrieve", "{}");
    REQUIRE(r.status == 200);
    CHECK(Json(r.body).at("recovery_key").as_string() == MacKey(0));
  }
  SECTION("swapped sealed fields between two devices: integrity_error, never the other key") {
    Sqlite(db,
           "CREATE TEMP TABLE s AS SELECT device_id, iv, ciphertext, tag FROM key_versions;"
           "UPDATE key_versions SET (iv, ciphertext, tag) = (SELECT iv, ciphertext, tag FROM s "
           "WHERE s.device_id = CASE key_versions.device_id WHEN 'cor-1' THEN 'cor-2' "
           "WHEN 'cor-2' THEN 'cor-1' ELSE key_versions.device_id END);");
    REQUIRE(v.Start());
    for (const char* id : {"cor-1", "cor-2"}) {
      const HttpResult r =
          v.As(alice, "POST", std::string("/v1/devices/") + id + "/recovery-key/retrieve", "{}");
      INFO(id << ": " << r.body);
      CHECK(r.status == 500);
      CHECK(ErrCode(r) == "integrity_error");
      NoKeyIn(r);
    }
  }
  SECTION("a garbled b-tree page: refused at start or reported, never a key") {
    const std::string page_size = Sqlite(db, "PRAGMA page_size");
    const std::string root =
        Sqlite(db, "SELECT rootpage FROM sqlite_schema WHERE name = 'key_versions'");
    const std::size_t size = std::stoul(page_size);
    const std::size_t offset = (std::stoul(root) - 1) * size;
    {
      std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(offset));
      for (std::size_t i = 0; i < size; ++i) f.put(static_cast<char>((i * 131 + 7) & 0xff));
    }
    CHECK(IntegrityCheck(db) != "ok");
    if (!v.Start()) {
      CHECK(v.start_exit_status() != 0);
      CHECK(v.Log().find("\"fatal\"") != std::string::npos);
    } else {
      for (int i = 0; i < 3; ++i) {
        const HttpResult r = v.As(alice, "POST",
                                  "/v1/devices/cor-" + std::to_string(i) + "/recovery-key/retrieve",
                                  "{}");
        INFO(r.status << " " << r.body);
        CHECK(r.status >= 500);
        NoKeyIn(r);
      }
    }
  }
}

}  // namespace
}  // namespace escrow::faults
