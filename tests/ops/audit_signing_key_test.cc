// `vaultctl audit-signing-key create` on a vault made by vaultctl init (tests/tools'
// CtlFixture): the next version in the SoftHSMv2 token, its public key printed and recorded in
// the transaction of its ceremony record; and a service opened afterwards signing its groups'
// heads with it.
#include "vault/ops/audit_signing_key.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/ssl_ptr.h"
#include "tests/tools/ctl_fixture.h"
#include "vault/audit_chain.h"
#include "vault/ops/audit_ops.h"
#include "vault/signed_checkpoint.h"

namespace escrow::ops {
namespace {

using escrow::testing::CtlFixture;
using escrow::testing::CtlRun;

std::string PemIn(const std::string& out) {
  const std::size_t begin = out.find("-----BEGIN PUBLIC KEY-----");
  const std::size_t end = out.find("-----END PUBLIC KEY-----");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  return out.substr(begin, end + 25 - begin);
}

TEST_CASE("audit-signing-key create makes the next version, prints its public key and audits it",
          "[ops][checkpoints][hsm]") {
  CtlFixture f;
  const CtlRun first = f.Ctl("audit-signing-key create");
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(first.out.find("label: escrow-audit-sign-v1") != std::string::npos);
  CHECK(first.out.find("version: 1\n") != std::string::npos);
  const std::string pem1 = PemIn(first.out);
  const CtlRun second = f.Ctl("audit-signing-key create");
  REQUIRE(second.exit_code == 0);
  CHECK(second.out.find("label: escrow-audit-sign-v2") != std::string::npos);
  CHECK(PemIn(second.out) != pem1);
  CHECK(f.Ctl("audit verify").exit_code == 0);

  f.Open();
  // The token holds both, sign only; the database both public keys, as printed.
  Result<hsm::EscrowKeyInfo> v1 = f.keys().FindEscrowKey(hsm::EscrowKeyKind::kAuditSign, 1);
  REQUIRE(v1.ok());
  CHECK_FALSE(v1->extractable);
  Result<std::vector<storage::AuditSigningKeyRow>> keys = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit_checkpoints().SigningKeys(); });
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].public_key == v1->public_key_der);
  CHECK(vault::PublicKeyFromPem(pem1).value() == v1->public_key_der);
  // Each creation is a ceremony record.
  Result<std::vector<storage::AuditRow>> records = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit().List(0, 1000, std::nullopt); });
  REQUIRE(records.ok());
  int ceremonies = 0;
  for (const storage::AuditRow& r : *records) {
    if (r.action != "ceremony.audit_signing_key.create") continue;
    ++ceremonies;
    CHECK(r.role == "operator");
    CHECK(r.detail.find("escrow-audit-sign-v") != std::string::npos);
  }
  CHECK(ceremonies == 2);

  // A service opened now signs its first group's head with the newest version.
  REQUIRE(f.audit()
              .Append(vault::AuditEvent{"u", "user", "test.event", "", "ok", "", "x", std::nullopt})
              .ok());
  Result<std::vector<storage::AuditCheckpointRow>> rows = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit_checkpoints().List(0, 10); });
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK((*rows)[0].key_version == 2u);
  CHECK((*rows)[0].seq == f.audit().head().seq);
  CHECK(vault::VerifyCheckpointSignature(vault::PublicKeyFromPem(PemIn(second.out)).value(),
                                         (*rows)[0])
            .ok());
}

std::vector<boost::json::object> Lines(const std::string& text) {
  std::vector<boost::json::object> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(boost::json::parse(line).as_object());
  return out;
}

std::string Text(const std::vector<boost::json::object>& lines) {
  std::string out;
  for (const auto& o : lines) out += boost::json::serialize(o) + "\n";
  return out;
}

Result<SignedExportReport> VerifyText(const std::string& text, const Bytes& key) {
  std::istringstream in(text);
  return VerifySignedExport(in, key);
}

// Rewrites the chain from line `from` on as an insider with the database would: every hash
// recomputed from the (edited) fields, so that the chain links again.
void Relink(std::vector<boost::json::object>& lines) {
  Bytes prev(32, 0);
  for (auto& o : lines) {
    if (o.at("type").as_string() != "record") continue;
    storage::AuditRow row;
    row.seq = static_cast<std::uint64_t>(o.at("seq").as_int64());
    row.time_ms = o.at("time_ms").as_int64();
    row.actor = std::string(o.at("actor").as_string());
    row.role = std::string(o.at("role").as_string());
    row.action = std::string(o.at("action").as_string());
    row.device_id = std::string(o.at("device_id").as_string());
    row.outcome = std::string(o.at("outcome").as_string());
    row.reason = std::string(o.at("reason").as_string());
    row.detail = std::string(o.at("detail").as_string());
    row.audit_key_version = static_cast<std::uint32_t>(o.at("audit_key_version").as_int64());
    const Bytes hash = vault::ChainHash(prev, vault::EncodeAuditRecord(row));
    o["prev_hash"] = HexEncode(prev);
    o["hash"] = HexEncode(hash);
    prev = hash;
  }
}

TEST_CASE(
    "An export carries every record field and the signed checkpoints, and the public key alone "
    "verifies it and catches tampering",
    "[ops][checkpoints][hsm]") {
  CtlFixture f;
  const CtlRun made = f.Ctl("audit-signing-key create");
  REQUIRE(made.exit_code == 0);
  const std::string pem = PemIn(made.out);
  const Bytes key = vault::PublicKeyFromPem(pem).value();
  f.Open();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(f.audit()
                .Append(vault::AuditEvent{"u", "user", "test.event", "dev-1", "ok", "",
                                          "n=" + std::to_string(i), std::nullopt})
                .ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // one checkpoint a second
  }
  std::ostringstream exported;
  Result<AuditExportReport> report = ExportAudit({}, f.store(), exported);
  REQUIRE(report.ok());
  CHECK(report->checkpoints == 3);
  const std::string text = exported.str();
  std::vector<boost::json::object> lines = Lines(text);
  REQUIRE(lines.back().at("type").as_string() == "signing_key");
  CHECK(std::string(lines.back().at("public_key").as_string()) == pem);
  CHECK(lines.front().at("prev_hash").as_string() == std::string(64, '0'));
  CHECK(lines.front().at("time_ms").is_int64());
  CHECK(lines.front().at("audit_key_version").is_int64());

  Result<SignedExportReport> ok = VerifyText(text, key);
  INFO(ok.status().ToString());
  REQUIRE(ok.ok());
  CHECK(ok->verified == 3);
  CHECK(ok->first_seq == 1);
  CHECK(ok->signed_head.seq == f.audit().head().seq);
  CHECK(ok->signed_head.hash == f.audit().head().hash);
  CHECK(ok->head.seq == ok->signed_head.seq);

  // The vaultctl command, with the key's PEM and the export in files, no config.
  const std::string key_path = f.dir().str() + "/pub.pem";
  const std::string export_path = f.dir().str() + "/export.jsonl";
  std::ofstream(key_path) << pem;
  std::ofstream(export_path) << text;
  CtlRun cli = f.Run("audit verify --signed-by " + key_path + " --export " + export_path);
  INFO(cli.err);
  CHECK(cli.exit_code == 0);
  CHECK(cli.out == std::to_string(ok->signed_head.seq) + ":" + ok->signed_head.hash + "\n");
  CHECK(cli.err.find("newest signed head") != std::string::npos);
  CHECK(f.Run("audit verify --signed-by " + key_path).exit_code == 2);

  SECTION("a record edited in place") {
    lines[1]["detail"] = "edited";
    Result<SignedExportReport> r = VerifyText(Text(lines), key);
    CHECK(r.status().code() == Code::kDataLoss);
    CHECK(r.status().message().find("record 2") != std::string::npos);
    std::ofstream(export_path) << Text(lines);
    CtlRun bad = f.Run("audit verify --signed-by " + key_path + " --export " + export_path);
    CHECK(bad.exit_code == 1);
    CHECK(bad.err.find("FAILED") != std::string::npos);
    CHECK(bad.out.empty());
  }
  SECTION("a record edited and the chain rewritten: the signed hash differs") {
    lines[1]["detail"] = "edited";
    Relink(lines);
    Result<SignedExportReport> r = VerifyText(Text(lines), key);
    CHECK(r.status().code() == Code::kDataLoss);
    CHECK(r.status().message().find("checkpoint") != std::string::npos);
  }
  SECTION("a checkpoint edited") {
    for (auto& o : lines) {
      if (o.at("type").as_string() == "checkpoint") {
        o["at"] = o.at("at").as_int64() + 1;
        break;
      }
    }
    Result<SignedExportReport> r = VerifyText(Text(lines), key);
    CHECK(r.status().code() == Code::kDataLoss);
    CHECK(r.status().message().find("signature does not verify") != std::string::npos);
  }
  SECTION("records cut off the end while their checkpoint stays") {
    std::vector<boost::json::object> cut;
    const auto last = lines.size();
    for (std::size_t i = 0; i < last; ++i) {
      const bool newest_record =
          lines[i].at("type").as_string() == "record" &&
          lines[i].at("seq").as_int64() == static_cast<std::int64_t>(ok->head.seq);
      if (!newest_record) cut.push_back(lines[i]);
    }
    Result<SignedExportReport> r = VerifyText(Text(cut), key);
    CHECK(r.status().code() == Code::kDataLoss);
    CHECK(r.status().message().find("past the export's last") != std::string::npos);
  }
  SECTION("a key that signed none of them") {
    SslPtr<EVP_PKEY> other(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    REQUIRE(other);
    const int len = i2d_PUBKEY(other.get(), nullptr);
    Bytes der(static_cast<std::size_t>(len));
    unsigned char* p = der.data();
    REQUIRE(i2d_PUBKEY(other.get(), &p) == len);
    // The export says which key made them (another public key): this key signed none.
    Result<SignedExportReport> r = VerifyText(text, der);
    CHECK(r.status().code() == Code::kDataLoss);
    CHECK(r.status().message().find("signed none") != std::string::npos);
    std::ofstream(key_path) << vault::PublicKeyPem(der).value();
    CtlRun bad = f.Run("audit verify --signed-by " + key_path + " --export " + export_path);
    CHECK(bad.exit_code == 1);
  }
}

}  // namespace
}  // namespace escrow::ops
