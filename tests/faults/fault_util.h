#pragma once

// Helpers for the fault tests: edit the dev state's vault.conf, poke its database with the
// sqlite3 CLI, wait for a condition, and mint the callers the tests need.

#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/vault_process.h"

namespace escrow::faults {

using e2e::Call;
using e2e::ErrCode;
using e2e::HttpResult;
using e2e::Json;
using e2e::Quote;
using e2e::Sh;
using e2e::VaultProcess;

// Sets `key = value` (TOML text, e.g. "1000" or "{ count = 0, window_seconds = 60 }" or
// "'/x/y'") in [section] of FILE, replacing the key if the section has it, else adding it.
void SetConf(const std::string& file, const std::string& section, const std::string& key,
             const std::string& value);
// The string value of `key` in [section] of FILE ("" if absent).
std::string GetConf(const std::string& file, const std::string& section, const std::string& key);

// Runs `sql` on the database with the sqlite3 CLI (5 s busy timeout); returns its stdout
// trimmed, or throws with its output if it fails.
std::string Sqlite(const std::string& db, const std::string& sql);
// PRAGMA integrity_check's answer ("ok" when the file is sound).
std::string IntegrityCheck(const std::string& db);

// Polls `done` every 100 ms until it is true or `limit` passes; returns the last answer.
bool WaitFor(const std::function<bool()>& done,
             std::chrono::milliseconds limit = std::chrono::seconds(20));

// A distinct, valid macOS recovery key for n (normalised form).
std::string MacKey(int n);
// {"recovery_key": key} (mdm, no confirmation) and the user's two-key form.
std::string MdmKeyBody(const std::string& key);

// GET /v1/audit/verify as an auditor: true if the chain verifies.
bool AuditVerifies(const VaultProcess& v, std::string* body = nullptr);

// True if the test process may mount file systems (root); else the test WARNs and skips.
bool CanMount();

// The number of stored key versions of a device, from the database itself (every API answer,
// reads too, needs an audit record, so the API cannot be asked while audits fail).
std::string DbVersions(const std::string& db, const std::string& device_id);

// The dev state's database path and token store.
inline std::string DbPath(const VaultProcess& v) { return v.state() + "/vault.db"; }
inline std::string TokensDir(const VaultProcess& v) { return v.state() + "/hsm/tokens"; }

}  // namespace escrow::faults
