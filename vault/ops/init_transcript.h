#pragma once

// The init ceremony's transcript and its audit record's detail, for production and dev alike:
// one renderer, fed what each mode has to say.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hsm/key_service.h"
#include "vault/commit_pipeline.h"

namespace escrow::ops {

struct InitTranscript {
  bool dev = false;  // "(development state)" in the title; key labels in a column of 17
  std::string time;
  std::string operator_name;
  std::string host;
  std::string module;
  hsm::TokenInfo token;
  std::optional<std::string> token_origin;  // production: "(adopted)" or "(initialised ...)"
  bool backup_capable = false;
  // What the module cannot do (hsm::ModuleCapabilities::Missing): one "module cannot:" line
  // each, so that the witnesses know (none on SoftHSMv2).
  std::vector<std::string> module_cannot;
  std::optional<std::string> listen;  // dev
  std::vector<hsm::KeyInfo> keys;
  std::optional<std::uint32_t> active_master_key_version;  // production names it
  std::optional<std::string> escrow_certificate;  // "serial <hex>  sha256 <hex>"
  vault::AuditHead head;
  // Lines "name:  path" after the audit head (production: config, database, transcript).
  std::vector<std::pair<std::string, std::filesystem::path>> paths;
  // The "files:" list (dev: every file of the state).
  std::vector<std::pair<std::string, std::filesystem::path>> files;
  std::string closing;  // a last line (production: what to fill in before vaultd starts)
};

std::string RenderInitTranscript(const InitTranscript& t);

// The JSON detail of the "ceremony.init" audit record: what an auditor needs to match the
// token later (mode, module, token label and serial, whether init initialised the token,
// backup-capable, and each key's label, role, version, check value and extractability).
std::string InitCeremonyDetail(bool dev, const std::string& module, const hsm::TokenInfo& token,
                               bool token_initialised, bool backup_capable,
                               const std::vector<hsm::KeyInfo>& keys);

}  // namespace escrow::ops
