#include "vault/approval_mac.h"

#include "base/check.h"
#include "hsm/key_service.h"

namespace escrow::vault {
namespace {

void AppendText(Bytes& out, std::string_view text) {
  AppendU32Be(out, static_cast<std::uint32_t>(text.size()));
  Append(out, text);
}

Status Broken(std::string what) {
  return Status::DataLoss("access request approval: " + std::move(what), "integrity_error");
}

}  // namespace

Bytes ApprovalMacInput(const storage::AccessRequestRow& row) {
  constexpr std::string_view kDomain = "escrow-approval";
  Bytes out;
  Append(out, kDomain);
  AppendU8(out, 1);
  AppendText(out, row.id);
  AppendText(out, row.device_id);
  AppendText(out, row.requester);
  AppendU32Be(out, row.version);
  AppendU64Be(out, static_cast<std::uint64_t>(row.expires_ms));
  AppendText(out, row.approver.value_or(std::string()));
  AppendU64Be(out, static_cast<std::uint64_t>(row.decided_ms.value_or(0)));
  AppendU32Be(out, row.approval_key_version);
  return out;
}

Status SealApproval(hsm::KeyService& keys, std::uint32_t state_key_version,
                    storage::AccessRequestRow& row) {
  ESCROW_CHECK(row.approver.has_value() && row.decided_ms.has_value());
  row.approval_key_version = state_key_version;
  ESCROW_ASSIGN_OR_RETURN(const hsm::Mac mac,
                          keys.Sign(hsm::KeyRole::kState, state_key_version, ApprovalMacInput(row)));
  row.approval_mac.assign(mac.begin(), mac.end());
  return Status::Ok();
}

Status CheckApproval(hsm::KeyService& keys, const storage::AccessRequestRow& row) {
  if (row.approval_mac.empty() || row.approval_key_version == 0) return Broken("no MAC");
  Status mac = keys.Verify(hsm::KeyRole::kState, row.approval_key_version,
                           ApprovalMacInput(row), row.approval_mac);
  if (mac.code() == Code::kDataLoss || mac.code() == Code::kNotFound ||
      mac.code() == Code::kInvalidArgument) {
    return Broken("MAC does not verify");
  }
  return mac;
}

}  // namespace escrow::vault
