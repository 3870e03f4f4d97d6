#include "vault/ops/audit_ops.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "base/base64.h"
#include "vault/audit_checkpoint.h"
#include "vault/ops/ceremony_record.h"
#include "vault/signed_checkpoint.h"

namespace escrow::ops {
namespace {

constexpr std::size_t kPage = 1000;
constexpr std::size_t kHashBytes = 32;
// A line of an export is at most this long (a record's fields are bounded by
// SanitizeAuditEvent to a few KiB).
constexpr std::size_t kMaxExportLine = 1 << 20;

boost::json::object RecordLine(const storage::AuditRow& row, const Bytes& prev) {
  const vault::AuditRecord r = vault::ToAuditRecord(row);
  return boost::json::object{
      {"type", "record"},
      {"seq", r.seq},
      {"time", FormatRfc3339(r.time)},
      {"time_ms", row.time_ms},
      {"actor", r.event.actor},
      {"role", r.event.role},
      {"action", r.event.action},
      {"device_id", r.event.device_id},
      {"outcome", r.event.outcome},
      {"reason", r.event.reason},
      {"detail", r.event.detail},
      {"audit_key_version", row.audit_key_version},
      {"prev_hash", HexEncode(prev)},
      {"hash", r.hash},
      {"sealed", r.sealed},
      {"mac", row.mac ? boost::json::value(HexEncode(*row.mac)) : boost::json::value(nullptr)}};
}

// The export's fields, read back: kInvalidArgument naming the line and the field.
class LineReader {
 public:
  LineReader(const boost::json::object& o, std::size_t line) : o_(o), line_(line) {}
  Status Bad(std::string_view field) const {
    return Status::InvalidArgument("line " + std::to_string(line_) + ": field \"" +
                                   std::string(field) + "\" is missing or malformed");
  }
  Result<std::string> Text(std::string_view field) const {
    const boost::json::value* v = o_.if_contains(field);
    if (v == nullptr || !v->is_string()) return Bad(field);
    return std::string(v->as_string());
  }
  Result<std::uint64_t> U64(std::string_view field) const {
    const boost::json::value* v = o_.if_contains(field);
    if (v != nullptr && v->is_uint64()) return v->as_uint64();
    if (v != nullptr && v->is_int64() && v->as_int64() >= 0) {
      return static_cast<std::uint64_t>(v->as_int64());
    }
    return Bad(field);
  }
  Result<std::int64_t> I64(std::string_view field) const {
    const boost::json::value* v = o_.if_contains(field);
    if (v != nullptr && v->is_int64()) return v->as_int64();
    return Bad(field);
  }
  Result<std::uint32_t> U32(std::string_view field) const {
    ESCROW_ASSIGN_OR_RETURN(const std::uint64_t n, U64(field));
    if (n > UINT32_MAX) return Bad(field);
    return static_cast<std::uint32_t>(n);
  }
  Result<Bytes> Hash(std::string_view field) const {
    ESCROW_ASSIGN_OR_RETURN(const std::string text, Text(field));
    std::optional<Bytes> bytes = HexDecode(text);
    if (!bytes || bytes->size() != kHashBytes) return Bad(field);
    return std::move(*bytes);
  }

 private:
  const boost::json::object& o_;
  std::size_t line_;
};

Result<storage::AuditRow> ReadRecord(const LineReader& r) {
  storage::AuditRow row;
  ESCROW_ASSIGN_OR_RETURN(row.seq, r.U64("seq"));
  ESCROW_ASSIGN_OR_RETURN(row.time_ms, r.I64("time_ms"));
  ESCROW_ASSIGN_OR_RETURN(row.actor, r.Text("actor"));
  ESCROW_ASSIGN_OR_RETURN(row.role, r.Text("role"));
  ESCROW_ASSIGN_OR_RETURN(row.action, r.Text("action"));
  ESCROW_ASSIGN_OR_RETURN(row.device_id, r.Text("device_id"));
  ESCROW_ASSIGN_OR_RETURN(row.outcome, r.Text("outcome"));
  ESCROW_ASSIGN_OR_RETURN(row.reason, r.Text("reason"));
  ESCROW_ASSIGN_OR_RETURN(row.detail, r.Text("detail"));
  ESCROW_ASSIGN_OR_RETURN(row.audit_key_version, r.U32("audit_key_version"));
  ESCROW_ASSIGN_OR_RETURN(row.hash, r.Hash("hash"));
  return row;
}

struct ExportedCheckpoint {
  storage::AuditCheckpointRow row;
  std::size_t line = 0;
};

Result<ExportedCheckpoint> ReadCheckpointLine(const LineReader& r, std::size_t line) {
  ExportedCheckpoint c;
  c.line = line;
  ESCROW_ASSIGN_OR_RETURN(c.row.seq, r.U64("seq"));
  ESCROW_ASSIGN_OR_RETURN(c.row.hash, r.Hash("hash"));
  ESCROW_ASSIGN_OR_RETURN(c.row.at_ms, r.I64("at"));
  ESCROW_ASSIGN_OR_RETURN(c.row.key_version, r.U32("key_version"));
  ESCROW_ASSIGN_OR_RETURN(const std::string sig, r.Text("signature"));
  Result<Bytes> der = DecodeBase64Strict(sig, 1024);
  if (!der.ok() || der->empty()) return r.Bad("signature");
  c.row.signature = std::move(der).value();
  return c;
}

}  // namespace

Result<vault::AuditHead> ParseAuditHead(std::string_view text) {
  Result<vault::AuditHead> head = vault::ParseAuditHead(text);
  if (!head.ok()) {
    return Status::InvalidArgument("--expect-head must be SEQ:HASH (64 lowercase hex)");
  }
  return head;
}

Result<vault::AuditVerifyReport> VerifyAudit(const AuditVerifyOptions& options, const Vault& v) {
  return v.audit.Verify(options.expected);
}

Result<AuditExportReport> ExportAudit(const AuditExportOptions& options, storage::Store& store,
                                      std::ostream& out) {
  std::optional<std::int64_t> since_ms;
  if (options.since) since_ms = ToUnixMillis(*options.since);
  AuditExportReport report;
  std::uint64_t after = 0;
  Bytes prev(kHashBytes, 0);  // the hash before record 1
  std::optional<std::uint64_t> first;
  std::uint64_t last = 0;
  for (;;) {
    ESCROW_ASSIGN_OR_RETURN(std::vector<storage::AuditRow> page,
                            storage::ReadValue(store, [&](storage::ReadTxn& rtx) {
                              return rtx.audit().List(after, kPage, std::nullopt);
                            }));
    for (const storage::AuditRow& row : page) {
      after = row.seq;
      if (!since_ms || row.time_ms >= *since_ms) {
        if (!first) first = row.seq;
        last = row.seq;
        out << boost::json::serialize(RecordLine(row, prev)) << "\n";
        ++report.records;
      }
      prev = row.hash;
    }
    if (page.size() < kPage) break;
  }
  // The signed checkpoints of the exported records (not of records committed since: they
  // would name records the export lacks), then every signing key's public key.
  if (first) {
    after = *first - 1;
    for (bool more = true; more;) {
      ESCROW_ASSIGN_OR_RETURN(std::vector<storage::AuditCheckpointRow> page,
                              storage::ReadValue(store, [&](storage::ReadTxn& rtx) {
                                return rtx.audit_checkpoints().List(after, kPage);
                              }));
      more = page.size() == kPage;
      for (const storage::AuditCheckpointRow& c : page) {
        after = c.seq;
        if (c.seq > last) {
          more = false;
          break;
        }
        const boost::json::object line{
            {"type", "checkpoint"},         {"seq", c.seq},
            {"hash", HexEncode(c.hash)},    {"at", c.at_ms},
            {"key_version", c.key_version}, {"signature", EncodeBase64(c.signature)}};
        out << boost::json::serialize(line) << "\n";
        ++report.checkpoints;
      }
    }
  }
  ESCROW_ASSIGN_OR_RETURN(const std::vector<storage::AuditSigningKeyRow> keys,
                          storage::ReadValue(store, [](storage::ReadTxn& rtx) {
                            return rtx.audit_checkpoints().SigningKeys();
                          }));
  for (const storage::AuditSigningKeyRow& k : keys) {
    ESCROW_ASSIGN_OR_RETURN(const std::string pem, vault::PublicKeyPem(k.public_key));
    const boost::json::object line{
        {"type", "signing_key"}, {"version", k.version}, {"public_key", pem}};
    out << boost::json::serialize(line) << "\n";
  }
  out << std::flush;
  if (!out.good()) return Status::Unavailable("cannot write the export");
  return report;
}

Result<SignedExportReport> VerifySignedExport(std::istream& in,
                                              std::span<const std::uint8_t> public_key) {
  SignedExportReport report;
  std::vector<std::array<std::uint8_t, kHashBytes>> hashes;  // by seq - first_seq
  std::vector<ExportedCheckpoint> checkpoints;
  std::map<std::uint32_t, Bytes> keys;  // the export's own claims, by version
  Bytes prev;
  std::size_t line_no = 0;
  for (std::string text; std::getline(in, text);) {
    ++line_no;
    if (text.empty()) continue;
    const std::string where = "line " + std::to_string(line_no);
    if (text.size() > kMaxExportLine) return Status::InvalidArgument(where + ": too long");
    boost::system::error_code ec;
    boost::json::value parsed = boost::json::parse(text, ec);
    if (ec || !parsed.is_object()) {
      return Status::InvalidArgument(where + ": not a JSON object");
    }
    const boost::json::object& o = parsed.as_object();
    const LineReader r(o, line_no);
    ESCROW_ASSIGN_OR_RETURN(const std::string type, r.Text("type"));
    if (type == "record") {
      ESCROW_ASSIGN_OR_RETURN(const storage::AuditRow row, ReadRecord(r));
      ESCROW_ASSIGN_OR_RETURN(const Bytes stated_prev, r.Hash("prev_hash"));
      const std::string rec = "record " + std::to_string(row.seq) + " (" + where + ")";
      if (report.records == 0) {
        if (row.seq == 0) return Status::DataLoss(rec + ": sequence 0");
        // Record 1 follows 32 zero bytes; a later first record (an export --since) follows the
        // hash it states, which the checkpoints after it vouch for.
        if (row.seq == 1 && stated_prev != Bytes(kHashBytes, 0)) {
          return Status::DataLoss(rec + ": the first record's prev_hash is not 32 zero bytes");
        }
        report.first_seq = row.seq;
        prev = stated_prev;
      } else {
        if (row.seq != report.head.seq + 1) {
          return Status::DataLoss(rec + ": follows record " + std::to_string(report.head.seq) +
                                  " (records are missing or out of order)");
        }
        if (stated_prev != prev) {
          return Status::DataLoss(rec + ": prev_hash is not record " +
                                  std::to_string(report.head.seq) + "'s hash");
        }
      }
      const Bytes computed = vault::ChainHash(prev, vault::EncodeAuditRecord(row));
      if (computed != row.hash) {
        return Status::DataLoss(rec +
                                ": its hash does not match its fields (the record was "
                                "edited)");
      }
      std::array<std::uint8_t, kHashBytes> h{};
      std::copy(row.hash.begin(), row.hash.end(), h.begin());
      hashes.push_back(h);
      prev = row.hash;
      report.head = vault::AuditHead{row.seq, HexEncode(row.hash)};
      ++report.records;
    } else if (type == "checkpoint") {
      ESCROW_ASSIGN_OR_RETURN(ExportedCheckpoint c, ReadCheckpointLine(r, line_no));
      checkpoints.push_back(std::move(c));
    } else if (type == "signing_key") {
      ESCROW_ASSIGN_OR_RETURN(const std::uint32_t version, r.U32("version"));
      ESCROW_ASSIGN_OR_RETURN(const std::string pem, r.Text("public_key"));
      Result<Bytes> der = vault::PublicKeyFromPem(pem);
      if (!der.ok()) return r.Bad("public_key");
      keys[version] = std::move(der).value();
    } else {
      return Status::InvalidArgument(where + ": unknown type \"" + type + "\"");
    }
  }
  if (in.bad()) return Status::Unavailable("cannot read the export");
  if (report.records == 0) return Status::InvalidArgument("the export holds no records");

  for (const ExportedCheckpoint& c : checkpoints) {
    const std::string cp =
        "checkpoint at seq " + std::to_string(c.row.seq) + " (line " + std::to_string(c.line) + ")";
    if (c.row.seq < report.first_seq) continue;  // of records before the export's first
    if (c.row.seq > report.head.seq) {
      return Status::DataLoss(cp + ": names a record past the export's last, " +
                              std::to_string(report.head.seq) + " (records are missing)");
    }
    const auto& h = hashes[c.row.seq - report.first_seq];
    if (!std::equal(h.begin(), h.end(), c.row.hash.begin(), c.row.hash.end())) {
      return Status::DataLoss(cp + ": its hash is not record " + std::to_string(c.row.seq) +
                              "'s (the record or the checkpoint was changed)");
    }
    const Status verified = vault::VerifyCheckpointSignature(public_key, c.row);
    if (verified.ok()) {
      ++report.verified;
      if (c.row.seq >= report.signed_head.seq) {
        report.signed_head = vault::AuditHead{c.row.seq, HexEncode(c.row.hash)};
        report.signed_at_ms = c.row.at_ms;
      }
      continue;
    }
    if (verified.code() != Code::kDataLoss) return verified;
    // Made by another signing key, as the export says: not this key's to check.
    const auto key = keys.find(c.row.key_version);
    const Bytes given(public_key.begin(), public_key.end());
    if (key != keys.end() && key->second != given) {
      ++report.other_key;
      continue;
    }
    return Status::DataLoss(cp +
                            ": its signature does not verify under the given key "
                            "(signing key version " +
                            std::to_string(c.row.key_version) + ")");
  }
  if (report.verified == 0) {
    return Status::DataLoss("the given key signed none of the export's " +
                            std::to_string(checkpoints.size()) + " checkpoints");
  }
  return report;
}

Result<AcceptHeadReport> AcceptHead(const Vault& v) {
  AcceptHeadReport report;
  // The newest checkpoint of any node: the head the vault last vouched for.
  Result<std::vector<hsm::NodeCheckpointValue>> kept = v.keys.ReadEveryCheckpoint();
  if (!kept.ok()) return kept.status().WithContext("reading the token's checkpoints");
  for (const hsm::NodeCheckpointValue& node : *kept) {
    if (!node.value) continue;  // damaged: replaced below like the rest
    ESCROW_ASSIGN_OR_RETURN(const vault::AuditHead head, vault::DecodeCheckpoint(*node.value));
    if (!report.previous || report.previous->seq < head.seq) report.previous = head;
  }
  ESCROW_ASSIGN_OR_RETURN(const vault::AuditVerifyReport verified, v.audit.Verify());
  if (!verified.ok) {
    return Status::DataLoss("the audit chain does not verify at record " +
                            (verified.first_bad ? std::to_string(*verified.first_bad)
                                                : std::string("?")) +
                            ": " + verified.problem + "; not accepted");
  }
  report.accepted = verified.head;
  boost::json::object detail;
  detail["previous_checkpoint"] =
      report.previous ? std::to_string(report.previous->seq) + ":" + report.previous->hash
                      : std::string("none");
  detail["accepted_head"] = std::to_string(report.accepted.seq) + ":" + report.accepted.hash;
  ESCROW_RETURN_IF_ERROR(
      RecordCeremony(v.audit, "ceremony.accept_head", boost::json::serialize(detail)));
  report.kept = v.audit.head();
  ESCROW_RETURN_IF_ERROR(vault::KeepCheckpoint(v.keys, report.kept)
                             .WithContext("keeping the new checkpoint on the token"));
  // The accepted head holds for the whole vault: the other nodes' checkpoints, which may name
  // the database that was replaced, go (each node keeps its own again as it releases keys).
  ESCROW_RETURN_IF_ERROR(v.keys.ForgetOtherCheckpoints().WithContext(
      "removing the other nodes' checkpoints from the token"));
  return report;
}

}  // namespace escrow::ops
