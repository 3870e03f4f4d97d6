#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace escrow::e2e {

// One HTTP exchange made with curl.
struct HttpResult {
  int status = 0;  // 0: no HTTP answer (curl failed: see curl_exit)
  int curl_exit = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct Call {
  std::string method = "GET";
  std::string path;
  std::string who;    // "portal", "mdm", "notifier", or "" (no client certificate)
  std::string token;  // bearer token, if any
  std::optional<std::string> body;
  std::string content_type = "application/json";
  std::vector<std::string> extra_headers;
  std::string cert_path, key_path;  // an explicit client certificate instead of `who`
};

// A fresh dev state made by the real `vaultctl init --dev` in a temp dir, and the real vaultd
// serving it on 127.0.0.1 with a port of its own choosing (read from the ready line).
// With ESCROW_E2E_OPENAPI=1 in the environment (ctest sets it), every answer Request() gets is
// kept in tmp()/answers.jsonl and, when the VaultProcess goes, checked against api/openapi.yaml
// by tests/api/openapi_answers.py: a Catch2 CHECK of the running test.
class VaultProcess {
 public:
  VaultProcess();
  // Another node: a second vaultd on `other`'s state (its config, token and certificates),
  // with a log and a port of its own. `other` must outlive it.
  struct SameStateAs {
    const VaultProcess& other;
  };
  explicit VaultProcess(SameStateAs same);
  // A vault on another PKCS#11 module whose token exists already with its user PIN (NSS's
  // softoken: tests/support/nss_softoken.h): the dev state's TLS, IdP and clients, with [hsm]
  // and [database] of a production `vaultctl init --config ... --module M --token URI
  // --init-args A --pin-file P` made beside it (its transcript: init_transcript()).
  struct OnModule {
    std::string module;
    std::string token_uri;
    std::string init_args;
    std::string pin_file;
  };
  explicit VaultProcess(const OnModule& hsm);
  VaultProcess(const VaultProcess&) = delete;  // owns a child process
  VaultProcess& operator=(const VaultProcess&) = delete;
  ~VaultProcess();  // SIGKILLs a vaultd still running

  // Starts vaultd (on --listen 127.0.0.1:0 unless `extra_args` name one) and waits for its
  // ready line. Returns false if it exited or never got ready.
  bool Start(const std::vector<std::string>& extra_args = {});
  // Sends `sig` and waits; returns the exit status (-1 if killed by a signal).
  int Stop(int sig = 15, std::chrono::seconds wait = std::chrono::seconds(30));
  bool running() const { return pid_ > 0; }
  // The exit status of a vaultd that exited during Start() (-1 if killed by a signal).
  int start_exit_status() const { return start_exit_status_; }

  std::string Token(const std::string& sub, const std::string& extra = "") const;
  // Records the answer (ESCROW_E2E_OPENAPI=1) before returning it.
  HttpResult Request(const Call& call) const;
  // Shortcuts: mdm, a user with a token, or no certificate at all.
  HttpResult Mdm(const std::string& method, const std::string& path,
                 std::optional<std::string> body = std::nullopt) const;
  HttpResult As(const std::string& token, const std::string& method, const std::string& path,
                std::optional<std::string> body = std::nullopt) const;
  // Enrols a macOS device (mdm) and checks it in.
  void Enrol(const std::string& id, const std::string& owner, const std::string& ownership,
             const std::string& platform = "macos") const;

  std::string Log() const;
  const std::string& state() const { return state_; }
  const std::string& tmp() const { return tmp_; }
  // The stdout of the production init (OnModule only; "" otherwise).
  const std::string& init_transcript() const { return init_transcript_; }
  int port() const { return port_; }
  int pid() const { return pid_; }
  std::string Url(const std::string& path) const;
  // Checks the answers recorded so far against api/openapi.yaml (CHECKs of the running test);
  // the destructor calls it. Nothing to check without ESCROW_E2E_OPENAPI=1.
  void CheckAnswers() const;
  std::string CaFile() const { return state_ + "/tls/ca.crt"; }
  std::string ClientCert(const std::string& who) const {
    return state_ + "/tls/clients/" + who + ".crt";
  }
  std::string ClientKey(const std::string& who) const {
    return state_ + "/tls/clients/" + who + ".key";
  }

 private:
  testing::TempDir dir_;
  std::string tmp_;
  std::string state_;
  std::string log_path_;
  std::string answers_path_;  // "" unless ESCROW_E2E_OPENAPI=1
  pid_t pid_ = -1;
  int port_ = 0;
  int start_exit_status_ = 0;
  std::string init_transcript_;
};

// Paths of the binaries under test (from the build).
std::string VaultdPath();
std::string VaultctlPath();
// Shell-quotes one argument.
std::string Quote(const std::string& s);
// Runs a shell command, returning its exit status and its stdout.
int Sh(const std::string& command, std::string* out = nullptr);
// Starts `args` (looked up in PATH unless a path) with stdout and stderr appended to `log_path`;
// returns the child's pid (-1 if fork failed).
pid_t SpawnLogged(std::vector<std::string> args, const std::string& log_path);
// Writes a file (mode 0600).
void WriteFile(const std::string& path, const std::string& content);

// JWTs made by hand: header and payload JSON text, signed ES256 with a PEM private key file
// (the dev IdP's own key or another), or with no or an HMAC signature.
std::string SignEs256(const std::string& header, const std::string& payload,
                      const std::string& key_pem_path);
std::string SignHs256(const std::string& header, const std::string& payload,
                      const std::string& secret);
std::string Unsigned(const std::string& header, const std::string& payload);

}  // namespace escrow::e2e
