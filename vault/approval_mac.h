#pragma once

// The MAC of an approval (API.md, "Dual control"): an approved access request releases a key,
// so a database writer must not be able to make one. The approval is MACed in the HSM with the
// state key (escrow-state-v<N>; its job is MACing the vault's authenticated records) over
//   "escrow-approval" | u8 1 | u32be len | id | u32be len | device_id | u32be len | requester |
//   u32be version | u64be expires_ms | u32be len | approver | u64be decided_ms |
//   u32be approval_key_version
// ("escrow-approval" and the state record's "escrow-state" differ in their eighth byte, so
// no input of one is an input of the other).

#include "base/bytes.h"
#include "base/result.h"
#include "storage/access_requests.h"

namespace escrow::hsm {
class KeyService;
}

namespace escrow::vault {

// The MAC input of `row` as approved by row.approver at row.decided_ms (nullopt: 0, "").
Bytes ApprovalMacInput(const storage::AccessRequestRow& row);

// Sets row.approval_key_version to `state_key_version` and row.approval_mac to the MAC made in
// the HSM. REQUIRES: row.approver and row.decided_ms set.
Status SealApproval(hsm::KeyService& keys, std::uint32_t state_key_version,
                    storage::AccessRequestRow& row);

// OK if `row` carries an approval MAC that verifies in the HSM; kDataLoss "integrity_error"
// if it has none or it does not verify (the message says which, for the audit); the HSM's
// kUnavailable as it is.
Status CheckApproval(hsm::KeyService& keys, const storage::AccessRequestRow& row);

}  // namespace escrow::vault
