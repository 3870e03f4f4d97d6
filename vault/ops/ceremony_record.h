#pragma once

// What every ceremony records: who ran it and where, and its audit record. A ceremony's
// changes to the database (meta rows) are applied in the same transaction as its record, so
// none is ever written unaudited.

#include <string>
#include <string_view>

#include "base/result.h"
#include "hsm/key_service.h"
#include "vault/commit_pipeline.h"
#include "vault/config.h"

namespace escrow::ops {

// The person running the ceremony: the account name of the real user id (getpwuid_r), or
// "uid N" if it has none. Never $USER or getlogin(): the caller sets the environment, and
// getlogin() reads utmp, so either would let the audit record name someone else.
std::string OperatorName();
std::string HostName();

// Appends one ceremony audit record (role "operator", actor OperatorName()) after applying
// `change` in the same transaction. `detail` is a JSON object text. The Status of
// CommitPipeline::Commit, with the context "auditing <action>".
Status RecordCeremony(vault::CommitPipeline& audit, std::string_view action, std::string detail,
                      vault::CommitPipeline::Change change = {}, std::string_view outcome = "ok",
                      vault::CommitPipeline::Finish finish = {});

// The SO PIN file of a ceremony: `given` (--so-pin-file) if set, else the dev state's
// hsm/so.pin beside the config, but only if the config says dev = true: a production vault
// never picks up an SO PIN that happens to lie there. kInvalidArgument naming --so-pin-file,
// after `why` (what needs the SO), otherwise.
Result<std::string> SoPinFileFor(const vault::VaultConfig& config, const std::string& given,
                                 std::string_view why);

// "master", "audit", "fingerprint", "state".
std::string RoleName(hsm::KeyRole role);

}  // namespace escrow::ops
