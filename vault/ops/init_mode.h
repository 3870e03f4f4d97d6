#pragma once

// Private to vault/ops/init*.cc: what the one init path (init.cc) asks of its two option sets
// (init_production.cc, init_dev.cc). The path owns the order and the rules; a mode only
// answers where things go and what the token and the config are.

#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"
#include "hsm/key_service.h"
#include "vault/config.h"
#include "vault/ops/init_guard.h"
#include "vault/ops/init_transcript.h"

namespace escrow::ops {

// Where an init puts things (absolute, normalised).
struct InitPaths {
  std::filesystem::path config;
  std::filesystem::path db;
  std::filesystem::path transcript;
};

class InitMode {
 public:
  InitMode() = default;
  InitMode(const InitMode&) = delete;  // holds the state of one init
  InitMode& operator=(const InitMode&) = delete;
  InitMode(InitMode&&) = delete;
  InitMode& operator=(InitMode&&) = delete;
  virtual ~InitMode() = default;

  virtual bool dev() const = 0;
  virtual const std::string& module() const = 0;
  virtual const std::string& token_label() const = 0;
  virtual bool backup_capable() const = 0;
  virtual InitPaths paths() const = 0;

  // Checks the options, before anything is created. kInvalidArgument.
  virtual Status CheckOptions() = 0;
  // What this init will create, each with its refusal (RefuseClaimed).
  virtual std::vector<InitClaim> Claims() const = 0;
  // Makes the token ready (found, or initialised); registers what it creates with `guard`.
  // Returns whether it initialised the token, and the HSM config to open it with.
  virtual Result<bool> PrepareToken(InitGuard& guard) = 0;
  virtual hsm::HsmConfig Hsm() const = 0;
  // Whether the token outlives a failed init (then the generated keys are destroyed).
  virtual bool TokenOutlivesFailure() const = 0;
  // Files the mode adds after the keys and before the database (dev: PKI and IdP key).
  virtual Status CreateFiles(InitGuard& guard) = 0;
  // The config to write.
  virtual vault::VaultConfig Config() const = 0;
  // The mode's own lines of the transcript.
  virtual void Describe(InitTranscript& transcript) const = 0;
};

}  // namespace escrow::ops
