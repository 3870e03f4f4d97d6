#pragma once

#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "vault/audit_chain.h"
#include "vault/escrow_service.h"
#include "vault/types.h"

namespace escrow::api {

// The JSON shapes of API.md's answers. Pure; timestamps are RFC 3339 UTC.
boost::json::object DeviceJson(const vault::Device& d);
// {"devices": [...], "next_after": ID or null}
boost::json::object DevicePageJson(const vault::DevicePage& page);
boost::json::object VersionsJson(const std::vector<vault::VersionInfo>& versions);
boost::json::object AuditPageJson(const vault::AuditPage& page);
// {"events": [...], "next_after": ID or null}: id, type, at, device_id, device_name, owner,
// actor, role, and reason and by_owner where the event has them.
boost::json::object EventPageJson(const vault::EventPage& page);
// GET /v1/audit/checkpoints: {"checkpoints": [{seq, hash (hex), at (ms), key_version,
// signature (base64 DER)}], "public_keys": {"<version>": PEM}, "next_after"}.
boost::json::object CheckpointPageJson(const vault::CheckpointPage& page);
boost::json::object AccessesJson(const vault::AccessPage& page);
boost::json::object AuditVerifyJson(const vault::AuditVerifyReport& report);
boost::json::object StoreKeyJson(const vault::StoreKeyResult& result);
boost::json::object HealthJson(const vault::HealthReport& report);
// API.md's escrow certificate: serial, not_before, not_after, sha256, pem, der_base64, and
// with `with_state` its state.
boost::json::object EscrowCertificateJson(const vault::EscrowCertificate& cert, bool with_state);
boost::json::object EscrowCertificateListJson(const std::vector<vault::EscrowCertificate>& certs);
// API.md's access request: id, device_id, requester, reason, version, state, created_at,
// expires_at, and once decided approver, decided_at, note (used_at once used).
boost::json::object AccessRequestJson(const vault::AccessRequest& request);
// {"access_requests": [...], "next_after": N or null}.
boost::json::object AccessRequestPageJson(const vault::AccessRequestPage& page);

// {"recovery_key":"...","version":N,"expires_at":"..."} written into one buffer reserved up
// front (no reallocation leaves a copy behind). The caller wipes it after sending.
std::string RetrievedKeyBody(const vault::RetrievedKey& key);
// {"key_type":"personal","unlock_recovery_key":"...","version":N,
//  "reply_certificate_der_base64":"..."}, the same way.
std::string RotationCommandBody(const vault::RotationCommand& command);

}  // namespace escrow::api
