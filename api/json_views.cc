#include "api/json_views.h"

#include <boost/json.hpp>
#include "base/base64.h"
#include "base/check.h"
#include "base/clock.h"
#include "vault/escrow_cert.h"

namespace escrow::api {
namespace json = boost::json;
namespace {

json::value OptTime(const std::optional<TimePoint>& t) {
  if (!t) return nullptr;
  return json::value(FormatRfc3339(*t));
}

// `head`, then `secret` as JSON string content, then `tail`, in one buffer reserved up front:
// no reallocation leaves a copy of the secret behind. `head` opens the string, `tail` closes
// it; neither holds anything that needs escaping.
std::string SecretJsonBody(std::string_view head, std::string_view secret,
                           std::string_view tail) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  // Worst case every byte becomes \u00XX.
  const std::size_t capacity = head.size() + secret.size() * 6 + tail.size();
  out.reserve(capacity);
  const char* const buffer = out.data();
  out += head;
  for (char c : secret) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\u00";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    } else {
      out.push_back(c);  // UTF-8 passes through as is
    }
  }
  out += tail;
  ESCROW_CHECK(out.data() == buffer);  // never reallocated: no copy of the secret left behind
  return out;
}

}  // namespace

json::object EscrowCertificateJson(const vault::EscrowCertificate& cert, bool with_state) {
  json::object o;
  o["serial"] = cert.serial;
  o["not_before"] = FormatRfc3339(cert.not_before);
  o["not_after"] = FormatRfc3339(cert.not_after);
  o["sha256"] = cert.sha256;
  o["pem"] = vault::CertificatePem(cert.der);
  o["der_base64"] = EncodeBase64(cert.der);
  if (with_state) o["state"] = cert.state;
  return o;
}

json::object EscrowCertificateListJson(const std::vector<vault::EscrowCertificate>& certs) {
  json::array arr;
  for (const vault::EscrowCertificate& c : certs) arr.push_back(EscrowCertificateJson(c, true));
  json::object o;
  o["certificates"] = std::move(arr);
  return o;
}

json::object DeviceJson(const vault::Device& d) {
  json::object o;
  o["id"] = d.id;
  o["serial"] = d.serial;
  o["name"] = d.name;
  o["platform"] = vault::PlatformName(d.platform);
  o["ownership"] = vault::OwnershipName(d.ownership);
  o["owner"] = d.owner;
  o["encryption_enabled"] = d.encryption_enabled;
  o["has_recovery_key"] = d.has_recovery_key;
  o["key_version"] = d.key_version ? json::value(*d.key_version) : json::value(nullptr);
  o["key_stored_at"] = OptTime(d.key_stored_at);
  o["rotation_pending"] = d.rotation_pending;
  o["rotation_requested_at"] = OptTime(d.rotation_requested_at);
  o["rotation_overdue"] = d.rotation_overdue;
  o["last_checkin_at"] = OptTime(d.last_checkin_at);
  o["escrow_verified_at"] = OptTime(d.escrow_verified_at);
  return o;
}

json::object DevicePageJson(const vault::DevicePage& page) {
  json::array arr;
  for (const vault::Device& d : page.devices) arr.push_back(DeviceJson(d));
  json::object o;
  o["devices"] = std::move(arr);
  o["next_after"] = page.next_after ? json::value(*page.next_after) : json::value(nullptr);
  return o;
}

json::object VersionsJson(const std::vector<vault::VersionInfo>& versions) {
  json::array arr;
  for (const vault::VersionInfo& v : versions) {
    json::object o;
    o["version"] = v.version;
    o["state"] = vault::VersionStateName(v.state);
    o["stored_at"] = FormatRfc3339(v.stored_at);
    o["stored_by"] = v.stored_by;
    // null for versions stored before the kind was recorded (schema 6).
    o["stored_by_kind"] = v.stored_by_kind
                              ? json::value(vault::PrincipalKindName(*v.stored_by_kind))
                              : json::value(nullptr);
    o["key_id"] = v.key_id ? json::value(*v.key_id) : json::value(nullptr);
    // null for versions of unknown origin (stored before the kind of principal was recorded).
    o["source"] = v.source ? json::value(vault::KeySourceName(*v.source)) : json::value(nullptr);
    arr.push_back(std::move(o));
  }
  json::object o;
  o["versions"] = std::move(arr);
  return o;
}

json::object AccessRequestJson(const vault::AccessRequest& r) {
  json::object o;
  o["id"] = r.id;
  o["device_id"] = r.device_id;
  o["requester"] = r.requester;
  o["reason"] = r.reason;
  o["version"] = r.version;
  o["state"] = storage::AccessRequestStateName(r.state);
  o["created_at"] = FormatRfc3339(r.created_at);
  o["expires_at"] = FormatRfc3339(r.expires_at);
  if (r.approver) o["approver"] = *r.approver;
  if (r.decided_at) o["decided_at"] = FormatRfc3339(*r.decided_at);
  if (r.note) o["note"] = *r.note;
  if (r.used_at) o["used_at"] = FormatRfc3339(*r.used_at);
  return o;
}

json::object AccessRequestPageJson(const vault::AccessRequestPage& page) {
  json::array arr;
  for (const vault::AccessRequest& r : page.requests) arr.push_back(AccessRequestJson(r));
  json::object o;
  o["access_requests"] = std::move(arr);
  if (page.next_after) {
    o["next_after"] = *page.next_after;
  } else {
    o["next_after"] = nullptr;
  }
  return o;
}

json::object AuditPageJson(const vault::AuditPage& page) {
  json::array arr;
  for (const vault::AuditRecord& r : page.records) {
    json::object o;
    o["seq"] = r.seq;
    o["time"] = FormatRfc3339(r.time);
    o["actor"] = r.event.actor;
    o["role"] = r.event.role;
    o["action"] = r.event.action;
    o["device_id"] = r.event.device_id;
    o["outcome"] = r.event.outcome;
    o["reason"] = r.event.reason;
    o["detail"] = r.event.detail;
    o["hash"] = r.hash;
    o["sealed"] = r.sealed;
    arr.push_back(std::move(o));
  }
  json::object o;
  o["records"] = std::move(arr);
  o["next_after"] = page.next_after ? json::value(*page.next_after) : json::value(nullptr);
  return o;
}

json::object CheckpointPageJson(const vault::CheckpointPage& page) {
  json::array arr;
  for (const storage::AuditCheckpointRow& c : page.checkpoints) {
    json::object o;
    o["seq"] = c.seq;
    o["hash"] = HexEncode(c.hash);
    o["at"] = c.at_ms;
    o["key_version"] = c.key_version;
    o["signature"] = EncodeBase64(c.signature);
    arr.push_back(std::move(o));
  }
  json::object keys;
  for (const auto& [version, pem] : page.public_keys) keys[std::to_string(version)] = pem;
  json::object o;
  o["checkpoints"] = std::move(arr);
  o["public_keys"] = std::move(keys);
  o["next_after"] = page.next_after ? json::value(*page.next_after) : json::value(nullptr);
  return o;
}

json::object EventPageJson(const vault::EventPage& page) {
  json::array arr;
  for (const storage::EventRow& e : page.events) {
    json::object o;
    o["id"] = e.id;
    o["type"] = e.type;
    o["at"] = FormatRfc3339(FromUnixMillis(e.at_ms));
    o["device_id"] = e.device_id;
    o["device_name"] = e.device_name;
    o["owner"] = e.owner;
    o["actor"] = e.actor;
    o["role"] = e.role;
    if (e.reason) o["reason"] = *e.reason;
    if (e.by_owner) o["by_owner"] = *e.by_owner;
    arr.push_back(std::move(o));
  }
  json::object o;
  o["events"] = std::move(arr);
  o["next_after"] = page.next_after ? json::value(*page.next_after) : json::value(nullptr);
  return o;
}

json::object AccessesJson(const vault::AccessPage& page) {
  json::array arr;
  for (const vault::KeyAccess& a : page.accesses) {
    json::object o;
    o["at"] = FormatRfc3339(a.at);
    o["actor"] = a.actor;
    o["role"] = a.role;
    o["reason"] = a.reason;
    o["version"] = a.version ? json::value(*a.version) : json::value(nullptr);
    o["by_owner"] = a.by_owner;
    arr.push_back(std::move(o));
  }
  json::object o;
  o["accesses"] = std::move(arr);
  o["next_after"] = page.next_after ? json::value(*page.next_after) : json::value(nullptr);
  return o;
}

json::object AuditVerifyJson(const vault::AuditVerifyReport& report) {
  json::object head;
  head["seq"] = report.head.seq;
  head["hash"] = report.head.hash;
  json::object o;
  o["ok"] = report.ok;
  o["records"] = report.records;
  o["head"] = std::move(head);
  o["first_bad"] = report.first_bad ? json::value(*report.first_bad) : json::value(nullptr);
  return o;
}

json::object StoreKeyJson(const vault::StoreKeyResult& result) {
  json::object o;
  o["version"] = result.version;
  o["stored_at"] = FormatRfc3339(result.stored_at);
  o["message"] = "Your recovery key has been updated.";
  return o;
}

json::object HealthJson(const vault::HealthReport& report) {
  json::object o;
  if (report.ok) {
    o["status"] = "ok";
  } else {
    o["status"] = "unavailable";
    o["hsm"] = report.hsm;
    o["database"] = report.database;
  }
  return o;
}

std::string RetrievedKeyBody(const vault::RetrievedKey& key) {
  return SecretJsonBody("{\"recovery_key\":\"", key.recovery_key.RevealSecretText(),
                        "\",\"version\":" + std::to_string(key.version) + ",\"expires_at\":\"" +
                            FormatRfc3339(key.expires_at) + "\"}");
}

std::string RotationCommandBody(const vault::RotationCommand& command) {
  return SecretJsonBody("{\"key_type\":\"personal\",\"unlock_recovery_key\":\"",
                        command.recovery_key.RevealSecretText(),
                        "\",\"version\":" + std::to_string(command.version) +
                            ",\"reply_certificate_der_base64\":\"" +
                            EncodeBase64(command.reply_certificate_der) + "\"}");
}

}  // namespace escrow::api
