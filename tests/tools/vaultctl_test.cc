// End-to-end tests of the real vaultctl binary in temp dirs, checked with openssl, pkcs11-tool
// and the vault's own config loader and store.

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "base/bytes.h"
#include "base/clock.h"
#include "storage/store.h"
#include "tests/support/temp_dir.h"
#include "tests/tools/tools_test_util.h"
#include "vault/config.h"

namespace escrow::tools {
namespace {

namespace fs = std::filesystem;
using escrow::testing::B64UrlDecode;
using escrow::testing::FileMode;
using escrow::testing::ReadFileBytes;
using escrow::testing::RunCommand;
using escrow::testing::ShellQuote;
using escrow::testing::SplitDots;
using escrow::testing::TempDir;
using escrow::testing::VerifyEs256;

std::string Q(const fs::path& p) { return ShellQuote(p.string()); }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs vaultctl with `args`; stdout into *out, stderr into *err.
int Vaultctl(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) {
  TempDir logs;
  const fs::path err_path = logs.path() / "stderr";
  const int rc =
      RunCommand(ShellQuote(VAULTCTL_PATH) + " " + args + " 2>" + Q(err_path), out);
  if (err != nullptr) *err = ReadFileBytes(err_path);
  return rc;
}

int InitDev(const fs::path& state, const std::string& extra = "", std::string* out = nullptr,
            std::string* err = nullptr) {
  return Vaultctl("init --state-dir " + Q(state) + " --dev " + extra, out, err);
}

// pkcs11-tool's object listing of the dev state's token, logged in as the user.
std::string ListObjects(const fs::path& state) {
  std::string out;
  const int rc = RunCommand("SOFTHSM2_CONF=" + Q(state / "hsm" / "softhsm2.conf") +
                                " pkcs11-tool --module " + SOFTHSM_MODULE_PATH +
                                " --token-label escrow-dev --login --pin \"$(cat " +
                                Q(state / "hsm" / "user.pin") + ")\" --list-objects 2>&1",
                            &out);
  CHECK(rc == 0);
  return out;
}

// The block of pkcs11-tool's listing that describes the object labelled `label`.
std::string ObjectBlock(const std::string& listing, const std::string& label) {
  const std::size_t at = listing.find("label:      " + label + "\n");
  if (at == std::string::npos) return {};
  const std::size_t start = listing.rfind("Object;", at);
  const std::size_t end = listing.find("Object;", at);
  return listing.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// path -> content of every file under `dir` plus its mode, to show that nothing changed.
std::map<std::string, std::string> Snapshot(const fs::path& dir) {
  std::map<std::string, std::string> snap;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    std::string value = std::to_string(FileMode(entry.path()));
    if (entry.is_regular_file()) {
      value += ":" + ReadFileBytes(entry.path());
      struct stat st {};
      ::stat(entry.path().c_str(), &st);
      value += ":" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    }
    snap[fs::relative(entry.path(), dir).string()] = value;
  }
  snap["."] = std::to_string(FileMode(dir));
  return snap;
}

std::string CliFingerprint(const fs::path& cert) {
  std::string out;
  RunCommand("openssl x509 -in " + Q(cert) +
                 " -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1",
             &out);
  return Trim(out);
}

constexpr std::string_view kFiles[] = {
    "vault.conf",          "vault.db",        "hsm/softhsm2.conf",      "hsm/user.pin",
    "hsm/so.pin",          "tls/ca.crt",      "tls/ca.key",             "tls/server.crt",
    "tls/server.key",      "tls/clients/portal.crt", "tls/clients/portal.key",
    "tls/clients/mdm.crt", "tls/clients/mdm.key",    "idp/dev-signing.key",
    "idp/dev-signing.pub", "ceremony/init.txt",
    "tls/clients/notifier.crt", "tls/clients/notifier.key", "notify.conf", "notify.secret"};
constexpr std::string_view kSecrets[] = {
    "hsm/user.pin", "hsm/so.pin", "tls/ca.key", "tls/server.key", "tls/clients/portal.key",
    "tls/clients/mdm.key", "idp/dev-signing.key", "tls/clients/notifier.key", "notify.secret"};

TEST_CASE("vaultctl init --dev creates the dev state of API.md", "[tools][vaultctl][hsm]") {
  TempDir tmp;
  const fs::path state = tmp.path() / "state";
  std::string out;
  std::string err;
  REQUIRE(InitDev(state, "--listen 127.0.0.1:18443", &out, &err) == 0);
  INFO(err);

  SECTION("every file exists, the directory is 0700 and every secret 0600") {
    CHECK(FileMode(state) == 0700);
    for (std::string_view rel : kFiles) {
      INFO(rel);
      CHECK(fs::is_regular_file(state / rel));
    }
    CHECK(fs::is_directory(state / "hsm" / "tokens"));
    for (std::string_view rel : kSecrets) {
      INFO(rel);
      CHECK(FileMode(state / rel) == 0600);
    }
    for (const auto& entry : fs::recursive_directory_iterator(state)) {
      INFO(entry.path());
      CHECK((FileMode(entry.path()) & 0022) == 0);  // nothing group- or world-writable
      if (entry.is_directory()) CHECK((FileMode(entry.path()) & 0077) == 0);
    }
    const std::string pin = ReadFileBytes(state / "hsm" / "user.pin");
    CHECK(std::regex_match(pin, std::regex("[a-z2-9]{16}")));
    CHECK(pin != ReadFileBytes(state / "hsm" / "so.pin"));
  }

  SECTION("the transcript names the token, each key with its check value, and the files") {
    CHECK(ReadFileBytes(state / "ceremony" / "init.txt") == out);
    CHECK(out.find("token label:     escrow-dev") != std::string::npos);
    CHECK(std::regex_search(out, std::regex("token serial: +[0-9a-f]{8,16}\n")));
    CHECK(std::regex_search(out, std::regex("escrow-master-v1 +role master +version 1 +check value [0-9a-f]{6} ")));
    CHECK(std::regex_search(out, std::regex("escrow-audit-v1 +role audit +version 1 +check value [0-9a-f]{6} ")));
    CHECK(out.find("/usr/lib/softhsm/libsofthsm2.so") != std::string::npos);
    CHECK(out.find("operator:") != std::string::npos);
    CHECK(out.find((fs::canonical(state) / "vault.conf").string()) != std::string::npos);
    CHECK(out.find(ReadFileBytes(state / "hsm" / "user.pin")) == std::string::npos);
  }

  SECTION("vault.conf is a dev config whose clients match their certificates") {
    Result<vault::VaultConfig> config = vault::LoadConfig((state / "vault.conf").string());
    REQUIRE(config.ok());
    CHECK(config->dev);
    CHECK(config->listen == "127.0.0.1:18443");
    REQUIRE(config->clients.size() == 3);
    for (const vault::ClientConfig& client : config->clients) {
      INFO(client.name);
      CHECK(client.role == (client.name == "portal" ? "frontend" : client.name));
      CHECK(client.fingerprint == CliFingerprint(state / "tls" / "clients" / (client.name + ".crt")));
    }
    CHECK(config->issuers == std::vector<std::string>{"https://idp.dev.local"});
    CHECK(config->audience == "escrow-vault");
    REQUIRE(config->idp_keys.size() == 1);
    CHECK(fs::equivalent(config->idp_keys[0], state / "idp" / "dev-signing.pub"));
    CHECK(config->hsm_module == SOFTHSM_MODULE_PATH);
    CHECK(config->hsm_token_label == "escrow-dev");
    CHECK(fs::equivalent(config->hsm_pin_file, state / "hsm" / "user.pin"));
    CHECK(fs::equivalent(config->softhsm_conf, state / "hsm" / "softhsm2.conf"));
    CHECK(fs::equivalent(config->db_path, state / "vault.db"));
    CHECK(fs::equivalent(config->tls_cert, state / "tls" / "server.crt"));
    CHECK(fs::equivalent(config->tls_key, state / "tls" / "server.key"));
    CHECK(fs::equivalent(config->client_ca, state / "tls" / "ca.crt"));
  }

  SECTION("the certificates verify against the dev CA for their purposes") {
    const std::string ca = Q(state / "tls" / "ca.crt");
    CHECK(RunCommand("openssl verify -CAfile " + ca + " -purpose sslserver " +
                     Q(state / "tls" / "server.crt") + " >/dev/null") == 0);
    for (const char* who : {"portal", "mdm", "notifier"}) {
      const fs::path cert = state / "tls" / "clients" / (std::string(who) + ".crt");
      CHECK(RunCommand("openssl verify -CAfile " + ca + " -purpose sslclient " + Q(cert) +
                       " >/dev/null") == 0);
      std::string text;
      RunCommand("openssl x509 -in " + Q(cert) + " -noout -subject -ext extendedKeyUsage", &text);
      CHECK(text.find("CN = " + std::string(who)) != std::string::npos);
      CHECK(text.find("TLS Web Client Authentication") != std::string::npos);
    }
    std::string san;
    RunCommand("openssl x509 -in " + Q(state / "tls" / "server.crt") +
                   " -noout -ext subjectAltName,extendedKeyUsage",
               &san);
    CHECK(san.find("DNS:localhost") != std::string::npos);
    CHECK(san.find("IP Address:127.0.0.1") != std::string::npos);
    CHECK(san.find("TLS Web Server Authentication") != std::string::npos);
    std::string ca_text;
    RunCommand("openssl x509 -in " + ca + " -noout -ext basicConstraints,keyUsage", &ca_text);
    CHECK(ca_text.find("CA:TRUE") != std::string::npos);
    CHECK(ca_text.find("Certificate Sign") != std::string::npos);
  }

  SECTION("the token holds both keys, sensitive and never extractable") {
    const std::string listing = ListObjects(state);
    INFO(listing);
    const std::string master = ObjectBlock(listing, "escrow-master-v1");
    const std::string audit = ObjectBlock(listing, "escrow-audit-v1");
    REQUIRE_FALSE(master.empty());
    REQUIRE_FALSE(audit.empty());
    CHECK(master.find("AES length 32") != std::string::npos);
    for (const std::string& block : {master, audit}) {
      CHECK(block.find("sensitive") != std::string::npos);
      CHECK(block.find("never extractable") != std::string::npos);
      CHECK(std::regex_search(block, std::regex("Access:.*[^r] extractable")) == false);
    }
    // The key value cannot be read out.
    CHECK(RunCommand("SOFTHSM2_CONF=" + Q(state / "hsm" / "softhsm2.conf") + " pkcs11-tool --module " +
                     SOFTHSM_MODULE_PATH + " --token-label escrow-dev --login --pin \"$(cat " +
                     Q(state / "hsm" / "user.pin") +
                     ")\" --read-object --type secrkey --label escrow-master-v1 >/dev/null 2>&1") != 0);
  }

  SECTION("the database records the key versions and the ceremony in the audit trail") {
    storage::StoreOptions options;
    options.path = (state / "vault.db").string();
    Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(options);
    REQUIRE(store.ok());
    Result<std::optional<std::string>> master = storage::ReadValue(
        **store, [](storage::ReadTxn& txn) { return txn.meta().Get("active_master_key_version"); });
    REQUIRE(master.ok());
    CHECK(*master == std::optional<std::string>("1"));
    Result<std::optional<std::string>> audit_key = storage::ReadValue(
        **store, [](storage::ReadTxn& txn) { return txn.meta().Get("audit_key_version"); });
    REQUIRE(audit_key.ok());
    CHECK(*audit_key == std::optional<std::string>("1"));
    Result<std::optional<storage::AuditRow>> last =
        storage::ReadValue(**store, [](storage::ReadTxn& txn) { return txn.audit().Last(); });
    REQUIRE(last.ok());
    REQUIRE(last->has_value());
    const storage::AuditRow& row = **last;
    CHECK(row.seq == 1);
    CHECK(row.action == "ceremony.init");
    CHECK(row.outcome == "ok");
    CHECK(row.mac.has_value());
    const boost::json::object detail = boost::json::parse(row.detail).as_object();
    CHECK(detail.at("token_label").as_string() == "escrow-dev");
    const boost::json::array& keys = detail.at("keys").as_array();
    REQUIRE(keys.size() == 4);
    CHECK(keys[0].at("label").as_string() == "escrow-master-v1");
    CHECK(keys[1].at("label").as_string() == "escrow-audit-v1");
    CHECK(keys[2].at("label").as_string() == "escrow-fingerprint-v1");
    CHECK(keys[3].at("label").as_string() == "escrow-state-v1");
    const std::string kcv(keys[0].at("check_value").as_string());
    CHECK(out.find("check value " + kcv) != std::string::npos);
  }

  SECTION("a second init on the same directory is refused and changes nothing") {
    const auto before = Snapshot(state);
    std::string out2;
    std::string err2;
    CHECK(InitDev(state, "", &out2, &err2) != 0);
    CHECK(out2.empty());
    CHECK(err2.find("already initialised") != std::string::npos);
    CHECK(std::count(err2.begin(), err2.end(), '\n') == 1);
    CHECK(Snapshot(state) == before);
    CHECK(InitDev(state, "--backup-capable") != 0);
    CHECK(Snapshot(state) == before);
  }
}

TEST_CASE("vaultctl init --dev --backup-capable lets keys leave only wrapped under a trusted key",
          "[tools][vaultctl][hsm]") {
  TempDir tmp;
  const fs::path state = tmp.path() / "state";
  std::string out;
  REQUIRE(InitDev(state, "--backup-capable", &out) == 0);
  CHECK(out.find("backup-capable:  yes") != std::string::npos);
  const std::string listing = ListObjects(state);
  INFO(listing);
  for (const char* label : {"escrow-master-v1", "escrow-audit-v1"}) {
    const std::string block = ObjectBlock(listing, label);
    REQUIRE_FALSE(block.empty());
    CHECK(block.find("sensitive") != std::string::npos);
    CHECK(block.find("never extractable") == std::string::npos);
    CHECK(block.find("extractable") != std::string::npos);
  }
  CHECK(out.find("extractable only wrapped under a trusted key") != std::string::npos);

  // CKA_WRAP_WITH_TRUSTED: a wrapping key the user makes (not CKA_TRUSTED, which only the SO
  // can set) is refused, so the key cannot be wrapped out under an attacker's key.
  const std::string p11 = "SOFTHSM2_CONF=" + Q(state / "hsm" / "softhsm2.conf") +
                          " pkcs11-tool --module " + SOFTHSM_MODULE_PATH +
                          " --token-label escrow-dev --login --pin \"$(cat " +
                          Q(state / "hsm" / "user.pin") + ")\" ";
  REQUIRE(RunCommand(p11 + "--keygen --key-type AES:32 --label untrusted --id 7772 --usage-wrap "
                           ">/dev/null 2>&1") == 0);
  std::string wrap;
  CHECK(RunCommand(p11 + "--wrap --mechanism AES-KEY-WRAP --id 7772 --application-id " +
                       HexEncode(AsBytes("escrow-master-v1")) + " --output-file " +
                       Q(tmp.path() / "wrapped.bin") + " 2>&1",
                   &wrap) != 0);
  CHECK(wrap.find("CKR_KEY_NOT_WRAPPABLE") != std::string::npos);
  CHECK_FALSE((fs::exists(tmp.path() / "wrapped.bin") && fs::file_size(tmp.path() / "wrapped.bin") > 0));
}

TEST_CASE("vaultctl init --dev refuses what it must not touch", "[tools][vaultctl]") {
  TempDir tmp;

  SECTION("a non-empty directory is refused and left as it was") {
    const fs::path state = tmp.path() / "state";
    fs::create_directory(state);
    std::ofstream(state / "notes.txt") << "keep me";
    std::string err;
    CHECK(InitDev(state, "", nullptr, &err) != 0);
    CHECK(err.find("not empty") != std::string::npos);
    CHECK(ReadFileBytes(state / "notes.txt") == "keep me");
    CHECK(std::distance(fs::directory_iterator(state), fs::directory_iterator()) == 1);
  }

  SECTION("a directory holding only part of a state counts as initialised") {
    const fs::path state = tmp.path() / "state";
    fs::create_directories(state / "tls");
    std::string err;
    CHECK(InitDev(state, "", nullptr, &err) != 0);
    CHECK(err.find("already initialised") != std::string::npos);
  }

  SECTION("a non-loopback listen address is refused before anything is created") {
    const fs::path state = tmp.path() / "state";
    std::string err;
    CHECK(InitDev(state, "--listen 0.0.0.0:8443", nullptr, &err) != 0);
    CHECK(err.find("loopback") != std::string::npos);
    CHECK_FALSE(fs::exists(state));
    CHECK(InitDev(state, "--listen 127.0.0.1:notaport") != 0);
    CHECK_FALSE(fs::exists(state));
  }

  SECTION("an existing empty directory is used and tightened to 0700") {
    const fs::path state = tmp.path() / "state";
    fs::create_directory(state);
    fs::permissions(state, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
    REQUIRE(InitDev(state) == 0);
    CHECK(FileMode(state) == 0700);
  }

  SECTION("a failure half way removes what was created, so init can run again") {
    const fs::path state = tmp.path() / "state";
    // Too few file descriptors for the database: init fails after the token, the PKI and
    // the IdP key exist.
    // Inherited descriptors are closed first so that the limit means the same everywhere.
    const std::string script =
        "for fd in $(ls /proc/$$/fd); do if [ \"$fd\" -gt 2 ]; then eval \"exec $fd<&-\"; fi; "
        "done; ulimit -n 10; exec " + ShellQuote(VAULTCTL_PATH) + " init --state-dir " + Q(state) +
        " --dev";
    std::string err;
    const int rc = RunCommand("bash -c " + ShellQuote(script) + " 2>&1", &err);
    INFO(err);
    CHECK(rc != 0);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(state));
    CHECK(InitDev(state) == 0);
  }
}

TEST_CASE("vaultctl's ceremony commands fail cleanly on a missing config - bad usage is exit 2",
          "[tools][vaultctl]") {
  // The commands themselves are tested in ctl_*_test.cc (the ceremony issue).
  std::string err;
  CHECK(Vaultctl("status --config /nonexistent", nullptr, &err) == 1);
  CHECK(err.find("/nonexistent") != std::string::npos);
  CHECK(Vaultctl("master-key rotate --config x") == 1);
  CHECK(Vaultctl("audit verify --config x") == 1);
  CHECK(Vaultctl("init --config x") == 2);
  CHECK(Vaultctl("master-key rotate --config x --retire-old") == 2);
  CHECK(Vaultctl("no-such-command") == 2);
  CHECK(Vaultctl("init --dev") == 2);
}

// One dev state for all the dev-token checks (init is the slow part).
const fs::path& DevState() {
  static TempDir* tmp = new TempDir();  // lives until exit
  static const fs::path state = [] {
    fs::path p = tmp->path() / "state";
    REQUIRE(InitDev(p) == 0);
    return p;
  }();
  return state;
}

struct Minted {
  boost::json::object header;
  boost::json::object payload;
  std::string token;
};

Minted Mint(const std::string& args) {
  std::string out;
  std::string err;
  const int rc = Vaultctl("dev-token --state-dir " + Q(DevState()) + " " + args, &out, &err);
  INFO(err);
  REQUIRE(rc == 0);
  REQUIRE(std::count(out.begin(), out.end(), '\n') == 1);
  Minted m;
  m.token = Trim(out);
  const std::vector<std::string> parts = SplitDots(m.token);
  REQUIRE(parts.size() == 3);
  m.header = boost::json::parse(*B64UrlDecode(parts[0])).as_object();
  m.payload = boost::json::parse(*B64UrlDecode(parts[1])).as_object();
  return m;
}

// Verifies with the openssl CLI: the JOSE r||s signature rebuilt as DER with asn1parse.
bool OpensslVerifies(const std::string& token, const fs::path& pub) {
  TempDir dir;
  const std::vector<std::string> parts = SplitDots(token);
  const std::optional<std::string> sig = B64UrlDecode(parts[2]);
  if (!sig || sig->size() != 64) return false;
  const std::span<const std::uint8_t> raw = AsBytes(*sig);
  std::ofstream(dir.path() / "sig.cnf") << "asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x"
                                          << HexEncode(raw.subspan(0, 32)) << "\ns=INTEGER:0x"
                                          << HexEncode(raw.subspan(32, 32)) << "\n";
  std::ofstream(dir.path() / "input", std::ios::binary) << parts[0] << "." << parts[1];
  if (RunCommand("openssl asn1parse -genconf " + Q(dir.path() / "sig.cnf") + " -out " +
                 Q(dir.path() / "sig.der") + " >/dev/null") != 0) {
    return false;
  }
  return RunCommand("openssl dgst -sha256 -verify " + Q(pub) + " -signature " +
                    Q(dir.path() / "sig.der") + " " + Q(dir.path() / "input") + " >/dev/null") == 0;
}

TEST_CASE("vaultctl dev-token prints one ES256 JWT signed by the dev IdP",
          "[tools][vaultctl][hsm]") {
  const fs::path pub = DevState() / "idp" / "dev-signing.pub";
  const std::int64_t now = ToUnixSeconds(Clock::System().Now());

  SECTION("defaults: the config's issuer and audience, an hour, no roles") {
    const Minted m = Mint("--sub alice@example.com");
    CHECK(m.header == boost::json::parse(R"({"alg":"ES256","typ":"JWT","kid":"dev"})"));
    CHECK(m.payload.at("sub").as_string() == "alice@example.com");
    CHECK(m.payload.at("iss").as_string() == "https://idp.dev.local");
    CHECK(m.payload.at("aud").as_string() == "escrow-vault");
    CHECK(m.payload.at("roles").as_array().empty());
    CHECK_FALSE(m.payload.contains("nbf"));
    const std::int64_t iat = m.payload.at("iat").as_int64();
    CHECK(std::abs(iat - now) < 60);
    CHECK(m.payload.at("exp").as_int64() == iat + 3600);
    CHECK(VerifyEs256(m.token, pub));
    CHECK(OpensslVerifies(m.token, pub));
  }

  SECTION("--roles gives the array; --iss, --aud and --nbf are honoured") {
    const Minted m = Mint("--sub bob --roles helpdesk,admin --iss https://other --aud x --nbf 30");
    CHECK(m.payload.at("roles") == boost::json::array{"helpdesk", "admin"});
    CHECK(m.payload.at("iss").as_string() == "https://other");
    CHECK(m.payload.at("aud").as_string() == "x");
    CHECK(m.payload.at("nbf").as_int64() == m.payload.at("iat").as_int64() + 30);
    CHECK(OpensslVerifies(m.token, pub));
  }

  SECTION("a negative --ttl gives an exp in the past") {
    const Minted m = Mint("--sub carol --ttl -120");
    CHECK(m.payload.at("exp").as_int64() < now);
    CHECK(m.payload.at("exp").as_int64() == m.payload.at("iat").as_int64() - 120);
    CHECK(OpensslVerifies(m.token, pub));
  }

  SECTION("a tampered token does not verify") {
    const Minted m = Mint("--sub dave");
    std::string forged = m.token;
    forged[forged.find('.') + 3] ^= 1;
    CHECK_FALSE(OpensslVerifies(forged, pub));
  }

  SECTION("a state without a config or key is a one-line error") {
    TempDir empty;
    std::string out;
    std::string err;
    CHECK(Vaultctl("dev-token --state-dir " + Q(empty.path()) + " --sub x", &out, &err) == 1);
    CHECK(out.empty());
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  }
}

}  // namespace
}  // namespace escrow::tools
