#pragma once

// The init ceremony, production and development alike: one path (vault/ops/init.cc) with two
// option sets. Both refuse a second init through the same guard, generate escrow-master-v1
// and escrow-audit-v1 in the token, create the database and write its key versions in the
// same transaction as the "ceremony.init" audit record, write the config (read back through
// the loader) and the transcript (one renderer), and on any failure undo what they created,
// so that the same command can simply be run again.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "hsm/key_service.h"
#include "vault/commit_pipeline.h"
#include "vault/ops/escrow_cert.h"

namespace escrow::ops {

inline constexpr std::string_view kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";

// `vaultctl init --config FILE ...`: a production vault on an existing token (or one this
// ceremony initialises with the SO PIN), TLS and IdP left for the operator to fill in.
struct ProductionInitOptions {
  std::string config;  // the config file to write; must not exist
  std::string module;
  std::string token_label;  // or token_uri (a PKCS#11 URI): exactly one
  std::string pin_file;
  std::string so_pin_file;  // to initialise a token that does not exist yet
  std::string db;           // default: vault.db beside the config
  bool backup_capable = false;
  // The SoftHSMv2 config this process's module reads (SOFTHSM2_CONF), recorded in the config
  // so that vaultd and later ceremonies find the token; empty for none.
  std::string softhsm_conf;
  std::string token_uri{};
  std::string init_args{};  // C_Initialize's pReserved, written to the config too
};

// `vaultctl init --dev --state-dir DIR`: the development state of API.md in `state_dir`
// (missing or empty): a token with random PINs, the dev PKI, the dev IdP key, the database,
// vault.conf (dev = true) and the transcript. The directory is 0700 and every secret 0600.
struct DevInitOptions {
  std::filesystem::path state_dir;
  std::string listen = "127.0.0.1:8443";
  bool backup_capable = false;
  std::string module_path = std::string(kSoftHsmModule);
  std::string token_label = "escrow-dev";
  // Empty: the state's own SoftHSMv2 store, hsm/softhsm2.conf and hsm/tokens/, which init
  // writes; the caller points SOFTHSM2_CONF at DevSoftHsmConf(state_dir) before any PKCS#11
  // module loads (SoftHSMv2 reads it then). Otherwise an existing SoftHSMv2 config that the
  // process already uses, recorded in vault.conf (tests, which share one store per process).
  std::string shared_softhsm_conf;
};

struct InitReport {
  std::string transcript;  // also written to ceremony/init.txt
  std::filesystem::path config;
  std::filesystem::path db;
  std::filesystem::path transcript_path;
  hsm::TokenInfo token;
  bool token_initialised = false;
  std::vector<hsm::KeyInfo> keys;
  vault::AuditHead head;
  EscrowCertReport escrow;  // the first escrow certificate (Apple MDM), current
};

// kAlreadyExists if anything it would create exists (the config, the database, the
// transcript; for dev an initialised or non-empty directory) or the token already holds vault
// keys; kInvalidArgument for bad options (dev: a --listen that is not loopback HOST:PORT);
// kFailedPrecondition for a missing token without an SO PIN; otherwise the Status of the step
// that failed. Not thread-safe: one init per process, before other PKCS#11 users.
Result<InitReport> Init(const ProductionInitOptions& options);
Result<InitReport> Init(const DevInitOptions& options);

// The SoftHSMv2 config a dev state of its own uses: <state_dir, absolute>/hsm/softhsm2.conf.
std::filesystem::path DevSoftHsmConf(const std::filesystem::path& state_dir);

}  // namespace escrow::ops
