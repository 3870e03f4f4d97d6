#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "hsm/key_service.h"
#include "storage/store.h"

namespace escrow::vault {

// One configured client certificate: matched by CN and the SHA-256 of its public key.
struct ClientConfig {
  std::string name;         // the certificate's CN
  std::string fingerprint;  // lowercase hex SHA-256 of the DER SubjectPublicKeyInfo
  std::string role;         // frontend | mdm | notifier (vault-notify: reads events only)
};

// A limit of `count` events per `window`; count 0 switches it off.
struct RateLimit {
  std::int64_t count = 0;
  std::chrono::seconds window{60};
  bool enabled() const { return count > 0; }
};

// The whole vault.conf (TOML). Paths are made absolute relative to the config's folder.
struct VaultConfig {
  std::string path;  // where it was read from
  bool dev = false;
  std::string user;  // service user to drop to when started as root; empty: warn, run on

  // [server]
  std::string listen = "127.0.0.1:8443";
  // This node's name ([server] node; `vaultd --node` overrides it): names its audit checkpoint
  // on the token, so that several nodes can share one token. Empty: see NodeNameFor.
  std::string node;
  int io_threads = 0;      // 0: one per core
  int worker_threads = 0;  // HSM/DB workers; 0: 32 (they block; see api/server.cc)
  int max_connections = 1024;
  // Connections from one address that have not (yet) presented a mapped client certificate;
  // 0 switches the cap off. Mapped clients never count (behind a load balancer they share
  // one address).
  int max_unmapped_connections_per_address = 64;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds drain_timeout{20000};

  // [tls]
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
  std::vector<ClientConfig> clients;  // [[clients]]

  // [idp]
  std::vector<std::string> issuers;
  std::string audience;
  std::string owner_claim = "sub";
  std::vector<std::string> idp_keys;  // PEM public keys or certificates
  std::string idp_jwks;               // a JWKS file (optional)

  // [hsm]
  std::string hsm_module = "/usr/lib/softhsm/libsofthsm2.so";
  // The token: exactly one of token_label and token (a PKCS#11 URI, RFC 7512, e.g.
  // "pkcs11:token=escrow"; hsm/pkcs11_uri.h says which attributes it may carry).
  std::string hsm_token_label;
  std::string hsm_token_uri;
  std::string hsm_pin_file;
  // C_Initialize's pReserved (NSS's softoken: "configdir='sql:/DIR' certPrefix='' ...").
  std::string hsm_init_args;
  std::string softhsm_conf;  // sets SOFTHSM2_CONF before the module loads (optional)

  // [database]: path (SQLite) or url (PostgreSQL, API.md "PostgreSQL and several nodes").
  std::string db_path;
  std::string db_url;
  std::string db_password_file;  // 0600; only with db_url

  // [policy]
  std::chrono::seconds checkin_window{std::chrono::hours(24 * 7)};
  std::chrono::seconds key_display{std::chrono::minutes(5)};
  bool rotate_after_retrieval = true;
  int daily_quota = 25;  // helpdesk/admin retrievals per person per rolling 24 hours; 0 = off
  // POST .../rotation-command: the mdm may fetch the current key for RotateFileVaultKey.
  bool mdm_rotation_command = false;
  // A rotation pending longer than this is overdue; the sweep looks every sweep_interval.
  std::chrono::seconds rotation_deadline{std::chrono::hours(24)};
  std::chrono::seconds sweep_interval{std::chrono::seconds(60)};
  // Key versions kept per device, the active one counted; older superseded ones are destroyed
  // in the commit that stores a new one (API.md). 0: all kept.
  int keep_versions = 10;
  // approvals = { roles = [...], ttl_seconds = N } (API.md "Dual control"): a retrieval by a
  // holder of any of these roles, of a version not recorded under them, needs an approved
  // access request; one lives ttl_seconds. No roles (the default): no approvals needed.
  std::vector<std::string> approval_roles;
  std::chrono::seconds approval_ttl{3600};

  // [limits]
  RateLimit retrieve_per_user{10, std::chrono::seconds(60)};
  RateLimit requests_per_client{6000, std::chrono::seconds(60)};
  // Every request of one signed-in user, so that no user can grow the audit trail faster.
  RateLimit requests_per_user{600, std::chrono::seconds(60)};
  RateLimit failed_auth{10, std::chrono::seconds(60)};
  // Verify mismatches per device, whoever makes them (API.md: 5 an hour); then 429.
  RateLimit verify_mismatches{5, std::chrono::seconds(3600)};
  // Failed CMS envelope opens per client (API.md: 60 a minute); then 429 before any parsing.
  RateLimit cms_failures{60, std::chrono::seconds(60)};
  // Rotation commands in a rolling 24 hours, all mdm clients together (API.md: 200 a day);
  // then 429 and an alert record. Never off (1 at least).
  int mdm_rotation_commands_per_day = 200;
  // The most keys (users, clients, presented tokens) each limit tracks at once; past it the
  // key whose window started first is forgotten. Bounds the limiters' memory.
  int max_tracked_keys = 65536;

  // [audit]
  int audit_batch_max = 256;

  // [events]: events are kept this many days (1 to 3650), then deleted by the sweep.
  int event_keep_days = 30;
};

// Reads and validates a config file. kInvalidArgument with a one-line reason naming the key
// on anything malformed or missing; unknown keys are refused too (a typo must not silently
// switch a limit off).
Result<VaultConfig> LoadConfig(const std::string& path);

// The store the config names: SQLite at db_path, or PostgreSQL at db_url with
// db_password_file; never created (vaultctl init and db migrate create).
storage::StoreOptions StoreOptionsFor(const VaultConfig& config);

// This node's name: [server] node if set; else, with a PostgreSQL url (several nodes may share
// the token), the host name; else "" (the unnamed node, one vaultd on SQLite). kInvalidArgument
// if the host name is not a valid node name (then set [server] node).
Result<std::string> NodeNameFor(const VaultConfig& config);

// The HSM settings of the config, with NodeNameFor's node.
Result<hsm::HsmConfig> HsmConfigFor(const VaultConfig& config);
// How messages name the configured token: its label, or its URI.
std::string TokenName(const VaultConfig& config);

// The config as TOML text (used by vaultctl init).
std::string RenderConfig(const VaultConfig& config);

}  // namespace escrow::vault
