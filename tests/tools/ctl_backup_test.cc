#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <boost/json.hpp>

#include "tests/tools/ctl_fixture.h"
#include "vault/ops/shares.h"

namespace escrow::testing {
namespace {

namespace fs = std::filesystem;

// Deletes the fixture's token from the SoftHSMv2 store: the HSM is lost.
void LoseToken(CtlFixture& f) {
  f.Close();
  std::error_code ec;
  fs::remove_all(f.token().token_dir(), ec);
  REQUIRE_FALSE(ec);
}

std::string Shares(const std::string& dir, std::initializer_list<int> which) {
  std::string out;
  for (int i : which) out += " --share " + ShellQuote(dir + "/share-" + std::to_string(i));
  return out;
}

// The keys of the token after a failed restore: none (the restore changed nothing).
void ExpectTokenEmpty(CtlFixture& f) {
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(f.token().config());
  if (!keys.ok()) return;  // no token at all: nothing was changed either
  Result<std::vector<hsm::KeyInfo>> infos = (*keys)->ListKeys();
  REQUIRE(infos.ok());
  CHECK(infos->empty());
}

TEST_CASE("master-key backup 3-of-5, token lost, restore from three shares reads every key",
          "[tools][ctl][backup][hsm]") {
  CtlFixture f;
  f.Open();
  constexpr std::size_t kRecords = 300;
  f.Populate(0, kRecords);
  // Two master-key versions in use: rotate half way by hand (v2 for the newer records).
  REQUIRE(f.Ctl("master-key rotate").exit_code == 0);
  f.Populate(kRecords, 100);
  const std::string out = f.dir().str() + "/backup";
  const std::string so_pin = f.SoPinFile();

  CtlRun backup = f.Ctl("master-key backup", "--shares 5 --threshold 3 --out " + ShellQuote(out) +
                                                 " --so-pin-file " + ShellQuote(so_pin));
  INFO(backup.err);
  REQUIRE(backup.exit_code == 0);
  CHECK(backup.out.find("any 3 of 5") != std::string::npos);
  CHECK(backup.out.find("escrow-master-v1") != std::string::npos);
  CHECK(backup.out.find("escrow-master-v2") != std::string::npos);
  CHECK(backup.out.find("escrow-audit-v1") != std::string::npos);
  for (int i = 1; i <= 5; ++i) {
    const std::string share = ReadFileBytes(out + "/share-" + std::to_string(i));
    CHECK(share.find("index: " + std::to_string(i) + "\n") != std::string::npos);
    CHECK(share.find("check: ") != std::string::npos);
    CHECK(FileMode(out + "/share-" + std::to_string(i)) == 0600);
  }
  const std::string keys_backup = out + "/keys.backup";
  const std::string restore = "master-key restore";
  const std::string backup_arg = "--backup " + ShellQuote(keys_backup);

  LoseToken(f);

  SECTION("three shares restore into a fresh token with the same label") {
    // A fresh, empty token with the same label (as a replacement HSM would be set up).
    REQUIRE(RunCommand(SoftHsmToken::ShellEnv() + "softhsm2-util --init-token --free --label " +
                       ShellQuote(f.token().label()) + " --so-pin " +
                       ShellQuote(ReadFileBytes(so_pin)) + " --pin " + ShellQuote(f.token().pin()) +
                       " >/dev/null") == 0);
    CtlRun r = f.Ctl(restore, backup_arg + Shares(out, {5, 2, 4}));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("verified by the token") != std::string::npos);
    f.Open();
    for (std::size_t i = 0; i < kRecords + 100; ++i)
      REQUIRE(f.Retrieve(i) == CtlFixture::KeyFor(i));
    CHECK(f.Ctl("audit verify").exit_code == 0);
    // A restored token that now holds keys refuses a second restore.
    f.Close();
    CtlRun again = f.Ctl(restore, backup_arg + Shares(out, {1, 2, 3}));
    CHECK(again.exit_code == 1);
    CHECK(again.err.find("already holds") != std::string::npos);
  }

  SECTION("with no token left, restore initialises one with the SO PIN") {
    CtlRun r = f.Ctl(restore,
                     backup_arg + Shares(out, {1, 3, 5}) + " --so-pin-file " + ShellQuote(so_pin));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("initialised by this restore") != std::string::npos);
    f.Open();
    for (std::size_t i = 0; i < kRecords + 100; i += 3)
      CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
  }

  SECTION("two shares, a wrong share or a damaged backup fail and change nothing") {
    const std::string with_so = " --so-pin-file " + ShellQuote(so_pin);
    CtlRun two = f.Ctl(restore, backup_arg + Shares(out, {1, 2}) + with_so);
    CHECK(two.exit_code == 1);
    CHECK(two.err.find("got 2 shares; any 3 of the 5 are needed") != std::string::npos);

    // A share with one digit changed fails its check value.
    std::string share = ReadFileBytes(out + "/share-3");
    const std::size_t at = share.find("value: ") + 7;
    share[at] = share[at] == '0' ? '1' : '0';
    const std::string typo = f.dir().str() + "/typo-share";
    std::ofstream(typo) << share;
    CtlRun bad =
        f.Ctl(restore, backup_arg + Shares(out, {1, 2}) + " --share " + ShellQuote(typo) + with_so);
    CHECK(bad.exit_code == 1);
    CHECK(bad.err.find("fails its check value") != std::string::npos);

    // A share forged consistently (value changed, check value recomputed) gives a wrong
    // ceremony key: keys.backup's MAC refuses it.
    const std::string text4 = ReadFileBytes(out + "/share-4");
    Result<ops::CeremonyShare> parsed = ops::ParseShare(AsBytes(text4), "share-4");
    REQUIRE(parsed.ok());
    parsed->value.mutable_span()[0] ^= 0x01;
    const SecretBytes forged_text = ops::RenderShare(*parsed);
    const std::string forged = f.dir().str() + "/forged-share";
    std::ofstream(forged) << forged_text.RevealSecretText();
    CtlRun wrong = f.Ctl(
        restore, backup_arg + Shares(out, {1, 3}) + " --share " + ShellQuote(forged) + with_so);
    CHECK(wrong.exit_code == 1);
    CHECK(wrong.err.find("do not give this backup's ceremony key") != std::string::npos);

    // A flipped byte in keys.backup.
    std::string file = ReadFileBytes(keys_backup);
    const std::size_t wrapped_at = file.find("\"wrapped\":\"") + 20;
    file[wrapped_at] = file[wrapped_at] == 'a' ? 'b' : 'a';
    const std::string damaged = f.dir().str() + "/damaged.backup";
    std::ofstream(damaged) << file;
    CtlRun flipped =
        f.Ctl(restore, "--backup " + ShellQuote(damaged) + Shares(out, {1, 2, 3}) + with_so);
    CHECK(flipped.exit_code == 1);
    CHECK(flipped.err.find("keys.backup is damaged or was altered") != std::string::npos);

    // A share of another backup.
    std::string other = ReadFileBytes(out + "/share-5");
    const std::size_t id_at = other.find("backup: ") + 8;
    other[id_at] = other[id_at] == 'a' ? 'b' : 'a';
    const std::string foreign = f.dir().str() + "/foreign-share";
    std::ofstream(foreign) << other;
    CtlRun alien = f.Ctl(
        restore, backup_arg + Shares(out, {1, 2}) + " --share " + ShellQuote(foreign) + with_so);
    CHECK(alien.exit_code == 1);

    // Nothing was created: no token, or an empty one.
    CHECK_FALSE(RunCommand(SoftHsmToken::ShellEnv() + "softhsm2-util --show-slots | grep -q " +
                           ShellQuote(f.token().label())) == 0);
    ExpectTokenEmpty(f);
  }
}

// A config for a second node of the fixture's vault: the same database, `token` as its HSM.
std::string NodeConfig(const CtlFixture& f, const SoftHsmToken& token) {
  std::string text = ReadFileBytes(f.config());
  const auto replace_line = [&](const std::string& key, const std::string& value) {
    const std::size_t at = text.find("\n" + key + " = ");
    REQUIRE(at != std::string::npos);
    const std::size_t end = text.find('\n', at + 1);
    text.replace(at + 1, end - at - 1, key + " = '" + value + "'");
  };
  replace_line("token_label", token.label());
  replace_line("pin_file", token.pin_file());
  const std::string path = f.dir().str() + "/etc/node-b.conf";
  std::ofstream(path) << text;
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  return path;
}

// Generates `role` v`version`, backup-capable, on `token` (as `vaultctl upgrade` will).
void Generate(const SoftHsmToken& token, hsm::KeyRole role, std::uint32_t version) {
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token.config());
  REQUIRE(keys.ok());
  REQUIRE(keys.value()->GenerateKey(role, version, true).ok());
}

// Device i's current key retrieved through node B (its token, the shared database).
std::string RetrieveOnNode(const SoftHsmToken& token, const std::string& db, std::size_t i) {
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token.config());
  REQUIRE(keys.ok());
  Result<std::unique_ptr<storage::Store>> store = storage::Store::Open({.path = db});
  REQUIRE(store.ok());
  Result<std::unique_ptr<vault::EscrowService>> service =
      vault::EscrowService::Open(**keys, **store, Clock::System(), vault::EscrowOptions{});
  INFO(service.status().ToString());
  REQUIRE(service.ok());
  const vault::Caller owner = vault::Caller::User(CtlFixture::OwnerOf(i), {}, "portal");
  Result<vault::RetrievedKey> key =
      (*service)->Retrieve(owner, CtlFixture::DeviceId(i), "", std::nullopt);
  if (!key.ok()) return "error: " + key.status().ToString();
  return std::string(key->recovery_key.RevealSecretText());
}

TEST_CASE("master-key restore --add lets a second node's token follow a rotation done on the first",
          "[tools][ctl][backup][hsm]") {
  CtlFixture f;  // node A: init made every role's v1
  f.Open();
  f.Populate(0, 40);
  f.Close();
  SoftHsmToken node_b;
  const std::string config_b = NodeConfig(f, node_b);
  const std::string so_pin = ShellQuote(f.SoPinFile());

  // Node B starts from node A's first backup: every role of it.
  const std::string out1 = f.dir().str() + "/backup1";
  CtlRun backup1 = f.Ctl("master-key backup", "--shares 3 --threshold 2 --out " + ShellQuote(out1) +
                                                  " --so-pin-file " + so_pin);
  INFO(backup1.err);
  REQUIRE(backup1.exit_code == 0);
  for (const char* label :
       {"escrow-master-v1", "escrow-audit-v1", "escrow-fingerprint-v1", "escrow-state-v1"}) {
    CHECK_THAT(backup1.out, Catch::Contains(std::string("  ") + label + "  check value"));
  }
  CtlRun first = f.Run("master-key restore --config " + ShellQuote(config_b) + " --backup " +
                       ShellQuote(out1 + "/keys.backup") + Shares(out1, {1, 3}));
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.out, Catch::Contains("  escrow-state-v1  check value"));

  // Node A rotates (every record moves to escrow-master-v2) and backs up again.
  REQUIRE(f.Ctl("master-key rotate").exit_code == 0);
  const std::string out2 = f.dir().str() + "/backup2";
  REQUIRE(f.Ctl("master-key backup",
                "--shares 3 --threshold 2 --out " + ShellQuote(out2) + " --so-pin-file " + so_pin)
              .exit_code == 0);
  CHECK_THAT(RetrieveOnNode(node_b, f.db_path(), 3), Catch::Contains("error: "));
  const std::string restore_b = "master-key restore --config " + ShellQuote(config_b) +
                                " --backup " + ShellQuote(out2 + "/keys.backup") +
                                Shares(out2, {2, 3});

  CtlRun plain = f.Run(restore_b);
  CHECK(plain.exit_code == 1);
  CHECK_THAT(plain.err, Catch::Contains("already holds"));
  CHECK_THAT(plain.err, Catch::Contains("--add"));

  CtlRun added = f.Run(restore_b + " --add");
  INFO(added.err);
  REQUIRE(added.exit_code == 0);
  CHECK_THAT(added.out, Catch::Contains("master-key restore --add"));
  CHECK_THAT(added.out, Catch::Contains("keys imported:\n  escrow-master-v2  check value "));
  const std::size_t present_at = added.out.find("keys already on the token");
  REQUIRE(present_at != std::string::npos);
  for (const char* label :
       {"escrow-master-v1", "escrow-audit-v1", "escrow-fingerprint-v1", "escrow-state-v1"}) {
    CHECK(added.out.find(label, present_at) != std::string::npos);
  }
  for (std::size_t i = 0; i < 40; i += 3) {
    CHECK(RetrieveOnNode(node_b, f.db_path(), i) == CtlFixture::KeyFor(i));
  }
  // The restore is an audit record naming what it imported.
  CtlRun exported = f.Ctl("audit export", "--format jsonl");
  REQUIRE(exported.exit_code == 0);
  std::string last_restore;
  std::istringstream lines(exported.out);
  for (std::string record; std::getline(lines, record);) {
    const boost::json::object o = boost::json::parse(record).as_object();
    if (o.at("action").as_string() == "ceremony.master_key.restore") {
      last_restore = std::string(o.at("detail").as_string());
    }
  }
  const boost::json::object detail = boost::json::parse(last_restore).as_object();
  CHECK(detail.at("mode").as_string() == "add");
  REQUIRE(detail.at("keys").as_array().size() == 1);
  CHECK(detail.at("keys").as_array()[0].as_object().at("label").as_string() == "escrow-master-v2");
  CHECK(detail.at("already_present").as_array().size() == 4);
  CHECK(f.Ctl("audit verify").exit_code == 0);

  // Both nodes made an escrow-fingerprint-v2 of their own: --add refuses, naming it.
  Generate(f.token(), hsm::KeyRole::kFingerprint, 2);
  Generate(node_b, hsm::KeyRole::kFingerprint, 2);
  const std::string out3 = f.dir().str() + "/backup3";
  REQUIRE(f.Ctl("master-key backup",
                "--shares 3 --threshold 2 --out " + ShellQuote(out3) + " --so-pin-file " + so_pin)
              .exit_code == 0);
  CtlRun refused = f.Run("master-key restore --config " + ShellQuote(config_b) + " --backup " +
                         ShellQuote(out3 + "/keys.backup") + Shares(out3, {1, 2}) + " --add");
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("escrow-fingerprint-v2"));
  CHECK_THAT(refused.err, Catch::Contains("not the same key; nothing was imported"));
}

TEST_CASE("master-key backup shares CMS-encrypted to custodians decrypt with openssl cms",
          "[tools][ctl][backup][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 30);
  const std::string d = f.dir().str();
  std::string recipients;
  for (int i = 1; i <= 3; ++i) {
    const std::string n = std::to_string(i);
    REQUIRE(RunCommand("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=custodian" + n +
                       " -keyout " + d + "/c" + n + ".key -out " + d + "/c" + n +
                       ".crt 2>/dev/null") == 0);
    recipients += " --recipient " + d + "/c" + n + ".crt";
  }
  const std::string out = d + "/backup";
  CtlRun r = f.Ctl("master-key backup", "--shares 3 --threshold 2 --out " + out +
                                            " --so-pin-file " + f.SoPinFile() + recipients);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(ReadFileBytes(out + "/share-1").find("index:") == std::string::npos);  // encrypted
  // Restore refuses a share that is still encrypted.
  LoseToken(f);
  CtlRun still = f.Ctl("master-key restore", "--backup " + out + "/keys.backup --share " + out +
                                                 "/share-1 --share " + out +
                                                 "/share-2 --so-pin-file " + f.SoPinFile());
  CHECK(still.exit_code == 1);
  CHECK(still.err.find("still CMS-encrypted") != std::string::npos);
  for (int i : {1, 3}) {
    const std::string n = std::to_string(i);
    REQUIRE(RunCommand("openssl cms -decrypt -in " + out + "/share-" + n + " -recip " + d + "/c" +
                       n + ".crt -inkey " + d + "/c" + n + ".key -out " + d + "/plain-" + n) == 0);
  }
  CtlRun restored = f.Ctl("master-key restore", "--backup " + out + "/keys.backup --share " + d +
                                                    "/plain-1 --share " + d +
                                                    "/plain-3 --so-pin-file " + f.SoPinFile());
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  f.Open();
  for (std::size_t i = 0; i < 30; ++i) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
}

TEST_CASE("master-key backup is refused for keys made without --backup-capable",
          "[tools][ctl][backup][hsm]") {
  CtlFixture f(false);
  const std::string out = f.dir().str() + "/backup";
  CtlRun r = f.Ctl("master-key backup", "--shares 3 --threshold 2 --out " + ShellQuote(out) +
                                            " --so-pin-file " + ShellQuote(f.SoPinFile()));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not backup-capable") != std::string::npos);
  CHECK_FALSE(fs::exists(out + "/keys.backup"));
  CHECK_FALSE(fs::exists(out + "/share-1"));
}

TEST_CASE("master-key backup checks its arguments", "[tools][ctl][backup]") {
  CtlFixture f;
  CHECK(f.Ctl("master-key backup", "--shares 3 --threshold 4 --out /tmp/x").exit_code == 2);
  CHECK(f.Ctl("master-key backup", "--shares 3 --threshold 1 --out /tmp/x").exit_code == 2);
  CHECK(f.Ctl("master-key backup", "--shares 3 --threshold 2 --out /tmp/x --recipient a.crt")
            .exit_code == 2);
  CtlRun no_so = f.Ctl("master-key backup",
                       "--shares 3 --threshold 2 --out " + ShellQuote(f.dir().str() + "/b"));
  CHECK(no_so.exit_code == 1);
  CHECK(no_so.err.find("--so-pin-file") != std::string::npos);
}

// A directory with exactly `mode` (chmod after mkdir, so the umask does not matter).
void MakeDir(const std::string& path, mode_t mode) {
  REQUIRE(::mkdir(path.c_str(), 0700) == 0);
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

// master-key backup into `out` is refused with `reason`, and nothing was written there.
void ExpectOutRefused(const CtlFixture& f, const std::string& out, const std::string& reason) {
  CtlRun r = f.Ctl("master-key backup", "--shares 3 --threshold 2 --out " + ShellQuote(out) +
                                            " --so-pin-file " + ShellQuote(f.SoPinFile()));
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("vaultctl: master-key backup: --out ") != std::string::npos);
  CHECK(r.err.find(reason) != std::string::npos);
  std::error_code ec;
  CHECK_FALSE(fs::exists(out + "/keys.backup", ec));
  CHECK_FALSE(fs::exists(out + "/share-1", ec));
}

// master-key backup into `out` succeeds, and `out` is the caller's 0700 directory.
void ExpectBackupIn(const CtlFixture& f, const std::string& out) {
  CtlRun r = f.Ctl("master-key backup", "--shares 3 --threshold 2 --out " + ShellQuote(out) +
                                            " --so-pin-file " + ShellQuote(f.SoPinFile()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(out + "/keys.backup"));
  CHECK(FileMode(out) == 0700);
}

TEST_CASE(
    "master-key backup refuses an --out directory that is not empty, not the caller's, "
    "open to group or others, or a symlink",
    "[tools][ctl][backup][hsm]") {
  CtlFixture f;
  const std::string out = f.dir().str() + "/out";

  SECTION("a directory that is not empty") {
    MakeDir(out, 0700);
    std::ofstream(out + "/planted") << "not a backup\n";
    ExpectOutRefused(f, out, " is not empty (it has planted): give an empty or new directory");
  }
  SECTION("a group-readable directory") {
    MakeDir(out, 0750);
    ExpectOutRefused(f, out, " has mode 0750: group and others must have no access");
  }
  SECTION("a world-accessible directory") {
    MakeDir(out, 0701);
    ExpectOutRefused(f, out, " has mode 0701: group and others must have no access");
  }
  SECTION("a symlink to an empty directory of the caller's, with or without a trailing slash") {
    const std::string target = f.dir().str() + "/target";
    MakeDir(target, 0700);
    REQUIRE(::symlink(target.c_str(), out.c_str()) == 0);
    ExpectOutRefused(f, out, " is a symbolic link: give a real directory");
    ExpectOutRefused(f, out + "/", " is a symbolic link: give a real directory");
    CHECK(fs::is_empty(target));
  }
  SECTION("a directory owned by another user") {
    if (::geteuid() != 0) {
      WARN("SKIPPED: giving a directory to another user (chown) needs root");
      return;
    }
    MakeDir(out, 0700);
    REQUIRE(::chown(out.c_str(), 65534, 65534) == 0);
    ExpectOutRefused(f, out,
                     " is owned by uid 65534, not by the caller (uid " +
                         std::to_string(::getuid()) + "): it must be the caller's own");
  }
  SECTION("an empty 0700 directory of the caller's is accepted") {
    MakeDir(out, 0700);
    ExpectBackupIn(f, out);
  }
  SECTION("a missing directory is created 0700, with its parents") {
    ExpectBackupIn(f, f.dir().str() + "/new/parent/out");
  }
}

TEST_CASE(
    "Without dev = true, backup and restore never fall back to the hsm/so.pin beside the "
    "config, and say so",
    "[tools][ctl][backup][hsm]") {
  CtlFixture f;
  // The real SO PIN where a dev state keeps it: a production config must not pick it up.
  const fs::path planted = fs::path(f.config()).parent_path() / "hsm" / "so.pin";
  fs::create_directories(planted.parent_path());
  std::ofstream(planted) << ReadFileBytes(f.SoPinFile());
  REQUIRE(::chmod(planted.c_str(), 0600) == 0);
  const std::string rule =
      ": give --so-pin-file (hsm/so.pin beside the config is read only for a dev = true state)";
  const std::string out = f.dir().str() + "/backup";

  CtlRun backup = f.Ctl("master-key backup", "--shares 3 --threshold 2 --out " + ShellQuote(out));
  INFO(backup.err);
  CHECK(backup.exit_code == 1);
  CHECK(backup.err.find("the ceremony key is marked trusted, which needs the SO" + rule) !=
        std::string::npos);
  CHECK_FALSE(fs::exists(out));  // refused before anything was created

  CtlRun made = f.Ctl("master-key backup", "--shares 3 --threshold 2 --out " + ShellQuote(out) +
                                               " --so-pin-file " + ShellQuote(f.SoPinFile()));
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  LoseToken(f);
  CtlRun restore = f.Ctl("master-key restore",
                         "--backup " + ShellQuote(out + "/keys.backup") + Shares(out, {1, 2}));
  INFO(restore.err);
  CHECK(restore.exit_code == 1);
  CHECK(restore.err.find("no token labelled " + f.token().label() +
                         "; initialise one, or let restore initialise it with the SO PIN" + rule) !=
        std::string::npos);
  CHECK_FALSE(RunCommand(SoftHsmToken::ShellEnv() + "softhsm2-util --show-slots | grep -q " +
                         ShellQuote(f.token().label())) == 0);
}

// Sets an environment variable for one scope and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    REQUIRE(::setenv(name, value, 1) == 0);
  }
  ScopedEnv(const ScopedEnv&) = delete;  // two owners would restore twice
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ScopedEnv(ScopedEnv&&) = delete;
  ScopedEnv& operator=(ScopedEnv&&) = delete;
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST_CASE("Ceremony transcripts and audit records name the real user id's account, not $USER",
          "[tools][ctl][backup][hsm]") {
  const passwd* pw = ::getpwuid(::getuid());
  REQUIRE(pw != nullptr);
  const std::string real = pw->pw_name;
  REQUIRE(real != "mallory");
  const ScopedEnv user("USER", "mallory");
  const ScopedEnv logname("LOGNAME", "mallory");

  CtlFixture f;  // vaultctl init runs with USER=mallory
  const std::string line = "operator:        " + real + " (host ";
  CHECK(f.init_transcript().find(line) != std::string::npos);
  const std::string out = f.dir().str() + "/backup";
  CtlRun backup = f.Ctl("master-key backup", "--shares 3 --threshold 2 --out " + ShellQuote(out) +
                                                 " --so-pin-file " + ShellQuote(f.SoPinFile()));
  INFO(backup.err);
  REQUIRE(backup.exit_code == 0);
  CHECK(backup.out.find(line) != std::string::npos);
  CHECK(backup.out.find("mallory") == std::string::npos);

  CtlRun exported = f.Ctl("audit export", "--format jsonl");
  REQUIRE(exported.exit_code == 0);
  std::istringstream lines(exported.out);
  std::vector<std::string> actions;
  for (std::string record; std::getline(lines, record);) {
    const boost::json::object o = boost::json::parse(record).as_object();
    if (o.at("role").as_string() != "operator") continue;
    actions.emplace_back(o.at("action").as_string());
    CHECK(o.at("actor").as_string() == real);
  }
  CHECK(actions == std::vector<std::string>{"ceremony.init", "ceremony.master_key.backup"});
}

}  // namespace
}  // namespace escrow::testing
