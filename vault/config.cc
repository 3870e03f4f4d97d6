#include "vault/config.h"

#include <unistd.h>

#include <array>
#include <filesystem>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "hsm/pkcs11_uri.h"
#include "storage/pg_url.h"

namespace escrow::vault {
namespace {

namespace fs = std::filesystem;

Status Bad(const std::string& what) {
  return Status::InvalidArgument("config: " + what, "invalid_request");
}

// Refuses keys the code does not know, so a typo never silently switches a limit off.
Status OnlyKeys(const toml::table& t, const std::string& where, std::set<std::string> known) {
  for (const auto& [k, v] : t) {
    (void)v;
    if (!known.contains(std::string(k.str()))) {
      return Bad("unknown key '" + (where.empty() ? "" : where + ".") + std::string(k.str()) +
                 "'");
    }
  }
  return Status::Ok();
}

class Reader {
 public:
  Reader(const toml::table& t, std::string where, fs::path base)
      : t_(t), where_(std::move(where)), base_(std::move(base)) {}

  Status String(const char* key, std::string& out, bool path = false, bool required = false) {
    const toml::node* n = t_.get(key);
    if (n == nullptr) return required ? Bad("missing " + Name(key)) : Status::Ok();
    auto v = n->value<std::string>();
    if (!v || !n->is_string()) return Bad(Name(key) + " must be a string");
    out = *v;
    if (path && !out.empty() && fs::path(out).is_relative()) out = (base_ / out).string();
    return Status::Ok();
  }
  Status Bool(const char* key, bool& out) {
    const toml::node* n = t_.get(key);
    if (n == nullptr) return Status::Ok();
    if (!n->is_boolean()) return Bad(Name(key) + " must be true or false");
    out = *n->value<bool>();
    return Status::Ok();
  }
  Status Int(const char* key, std::int64_t& out, std::int64_t min, std::int64_t max) {
    const toml::node* n = t_.get(key);
    if (n == nullptr) return Status::Ok();
    if (!n->is_integer()) return Bad(Name(key) + " must be an integer");
    const std::int64_t v = *n->value<std::int64_t>();
    if (v < min || v > max) {
      return Bad(Name(key) + " must be between " + std::to_string(min) + " and " +
                 std::to_string(max));
    }
    out = v;
    return Status::Ok();
  }
  template <class Duration>
  Status Millis(const char* key, Duration& out, std::int64_t min, std::int64_t max) {
    std::int64_t v = std::chrono::duration_cast<std::chrono::milliseconds>(out).count();
    ESCROW_RETURN_IF_ERROR(Int(key, v, min, max));
    out = std::chrono::duration_cast<Duration>(std::chrono::milliseconds(v));
    return Status::Ok();
  }
  Status Seconds(const char* key, std::chrono::seconds& out, std::int64_t min, std::int64_t max) {
    std::int64_t v = out.count();
    ESCROW_RETURN_IF_ERROR(Int(key, v, min, max));
    out = std::chrono::seconds(v);
    return Status::Ok();
  }
  Status IntField(const char* key, int& out, int min, int max) {
    std::int64_t v = out;
    ESCROW_RETURN_IF_ERROR(Int(key, v, min, max));
    out = static_cast<int>(v);
    return Status::Ok();
  }
  Status StringList(const char* key, std::vector<std::string>& out, bool path) {
    const toml::node* n = t_.get(key);
    if (n == nullptr) return Status::Ok();
    const toml::array* a = n->as_array();
    if (a == nullptr) return Bad(Name(key) + " must be an array of strings");
    out.clear();
    for (const toml::node& e : *a) {
      auto v = e.value<std::string>();
      if (!v || !e.is_string()) return Bad(Name(key) + " must be an array of strings");
      std::string s = *v;
      if (path && fs::path(s).is_relative()) s = (base_ / s).string();
      out.push_back(std::move(s));
    }
    return Status::Ok();
  }
  Status Limit(const char* key, RateLimit& out) {
    const toml::node* n = t_.get(key);
    if (n == nullptr) return Status::Ok();
    const toml::table* t = n->as_table();
    if (t == nullptr) return Bad(Name(key) + " must be a table {count, window_seconds}");
    Reader r(*t, Name(key), base_);
    ESCROW_RETURN_IF_ERROR(OnlyKeys(*t, Name(key), {"count", "window_seconds"}));
    ESCROW_RETURN_IF_ERROR(r.Int("count", out.count, 0, 1'000'000'000));
    return r.Seconds("window_seconds", out.window, 1, std::int64_t{86400} * 366);
  }

 private:
  std::string Name(const char* key) const { return where_.empty() ? key : where_ + "." + key; }
  const toml::table& t_;
  std::string where_;
  fs::path base_;
};

const toml::table* Section(const toml::table& root, const char* name, Status& status) {
  const toml::node* n = root.get(name);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) status = Bad(std::string("[") + name + "] must be a table");
  return n->as_table();
}

Status Parse(const toml::table& root, const fs::path& base, VaultConfig& c) {
  ESCROW_RETURN_IF_ERROR(OnlyKeys(root, "", {"dev", "user", "server", "tls", "clients", "idp",
                                             "hsm", "database", "policy", "limits", "audit",
                                             "events"}));
  Reader top(root, "", base);
  ESCROW_RETURN_IF_ERROR(top.Bool("dev", c.dev));
  ESCROW_RETURN_IF_ERROR(top.String("user", c.user));
  Status st;
  if (const toml::table* t = Section(root, "server", st)) {
    ESCROW_RETURN_IF_ERROR(OnlyKeys(*t, "server",
                                    {"listen", "io_threads", "worker_threads", "max_connections",
                                     "max_unmapped_connections_per_address",
                                     "handshake_timeout_ms", "read_timeout_ms", "idle_timeout_ms",
                                     "drain_timeout_ms", "node"}));
    Reader r(*t, "server", base);
    ESCROW_RETURN_IF_ERROR(r.String("listen", c.listen));
    ESCROW_RETURN_IF_ERROR(r.String("node", c.node));
    if (Status s = hsm::ValidateNodeName(c.node); !s.ok()) return Bad("[server] node: " + s.message());
    ESCROW_RETURN_IF_ERROR(r.IntField("io_threads", c.io_threads, 0, 256));
    ESCROW_RETURN_IF_ERROR(r.IntField("worker_threads", c.worker_threads, 0, 256));
    ESCROW_RETURN_IF_ERROR(r.IntField("max_connections", c.max_connections, 1, 1'000'000));
    ESCROW_RETURN_IF_ERROR(r.IntField("max_unmapped_connections_per_address",
                                      c.max_unmapped_connections_per_address, 0, 1'000'000));
    ESCROW_RETURN_IF_ERROR(r.Millis("handshake_timeout_ms", c.handshake_timeout, 100, 600000));
    ESCROW_RETURN_IF_ERROR(r.Millis("read_timeout_ms", c.read_timeout, 100, 600000));
    ESCROW_RETURN_IF_ERROR(r.Millis("idle_timeout_ms", c.idle_timeout, 100, 3600000));
    ESCROW_RETURN_IF_ERROR(r.Millis("drain_timeout_ms", c.drain_timeout, 0, 600000));
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::table* t = Section(root, "tls", st)) {
    ESCROW_RETURN_IF_ERROR(OnlyKeys(*t, "tls", {"cert", "key", "client_ca"}));
    Reader r(*t, "tls", base);
    ESCROW_RETURN_IF_ERROR(r.String("cert", c.tls_cert, true, true));
    ESCROW_RETURN_IF_ERROR(r.String("key", c.tls_key, true, true));
    ESCROW_RETURN_IF_ERROR(r.String("client_ca", c.client_ca, true, true));
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::node* n = root.get("clients")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) return Bad("clients must be an array of tables ([[clients]])");
    for (const toml::node& e : *a) {
      const toml::table* t = e.as_table();
      if (t == nullptr) return Bad("clients must be an array of tables ([[clients]])");
      ESCROW_RETURN_IF_ERROR(OnlyKeys(*t, "clients", {"name", "fingerprint", "role"}));
      ClientConfig cc;
      Reader r(*t, "clients", base);
      ESCROW_RETURN_IF_ERROR(r.String("name", cc.name, false, true));
      ESCROW_RETURN_IF_ERROR(r.String("fingerprint", cc.fingerprint, false, true));
      ESCROW_RETURN_IF_ERROR(r.String("role", cc.role, false, true));
      if (cc.role != "frontend" && cc.role != "mdm" && cc.role != "notifier") {
        return Bad("clients.role must be 'frontend', 'mdm' or 'notifier'");
      }
      if (cc.fingerprint.size() != 64 ||
          cc.fingerprint.find_first_not_of("0123456789abcdef") != std::string::npos) {
        return Bad("clients.fingerprint must be 64 lowercase hex digits (SHA-256)");
      }
      c.clients.push_back(std::move(cc));
    }
  }
  if (const toml::table* t = Section(root, "idp", st)) {
    ESCROW_RETURN_IF_ERROR(
        OnlyKeys(*t, "idp", {"issuer", "issuers", "audience", "owner_claim", "keys", "jwks"}));
    Reader r(*t, "idp", base);
    std::string issuer;
    ESCROW_RETURN_IF_ERROR(r.String("issuer", issuer));
    ESCROW_RETURN_IF_ERROR(r.StringList("issuers", c.issuers, false));
    if (!issuer.empty()) c.issuers.push_back(issuer);
    ESCROW_RETURN_IF_ERROR(r.String("audience", c.audience));
    ESCROW_RETURN_IF_ERROR(r.String("owner_claim", c.owner_claim));
    ESCROW_RETURN_IF_ERROR(r.StringList("keys", c.idp_keys, true));
    ESCROW_RETURN_IF_ERROR(r.String("jwks", c.idp_jwks, true));
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::table* t = Section(root, "hsm", st)) {
    ESCROW_RETURN_IF_ERROR(OnlyKeys(
        *t, "hsm", {"module", "token_label", "token", "pin_file", "softhsm_conf", "init_args"}));
    Reader r(*t, "hsm", base);
    ESCROW_RETURN_IF_ERROR(r.String("module", c.hsm_module, true));
    ESCROW_RETURN_IF_ERROR(r.String("token_label", c.hsm_token_label));
    ESCROW_RETURN_IF_ERROR(r.String("token", c.hsm_token_uri));
    ESCROW_RETURN_IF_ERROR(r.String("pin_file", c.hsm_pin_file, true, true));
    ESCROW_RETURN_IF_ERROR(r.String("softhsm_conf", c.softhsm_conf, true));
    ESCROW_RETURN_IF_ERROR(r.String("init_args", c.hsm_init_args));
    if (c.hsm_token_label.empty() && c.hsm_token_uri.empty()) {
      return Bad("missing hsm.token_label or hsm.token (a pkcs11: URI)");
    }
    if (!c.hsm_token_label.empty() && !c.hsm_token_uri.empty()) {
      return Bad("hsm.token_label and hsm.token both name the token; give one");
    }
    if (Result<hsm::TokenSelector> token = hsm::SelectToken(c.hsm_token_label, c.hsm_token_uri);
        !token.ok()) {
      return Bad((c.hsm_token_uri.empty() ? "hsm.token_label: " : "hsm.token: ") +
                 token.status().message());
    }
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::table* t = Section(root, "database", st)) {
    ESCROW_RETURN_IF_ERROR(OnlyKeys(*t, "database", {"path", "url", "password_file"}));
    Reader r(*t, "database", base);
    ESCROW_RETURN_IF_ERROR(r.String("path", c.db_path, true));
    ESCROW_RETURN_IF_ERROR(r.String("url", c.db_url));
    ESCROW_RETURN_IF_ERROR(r.String("password_file", c.db_password_file, true));
    if (c.db_path.empty() == c.db_url.empty()) {
      return Bad("[database] takes either path (SQLite) or url (PostgreSQL)");
    }
    if (!c.db_password_file.empty() && c.db_url.empty()) {
      return Bad("database.password_file goes with database.url");
    }
    // Refused here, at load, rather than at the first connection (storage/pg_url.h).
    if (!c.db_url.empty()) ESCROW_RETURN_IF_ERROR(storage::ParsePostgresUrl(c.db_url).status());
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::table* t = Section(root, "policy", st)) {
    ESCROW_RETURN_IF_ERROR(OnlyKeys(*t, "policy",
                                    {"checkin_window_seconds", "key_display_seconds",
                                     "rotate_after_retrieval", "daily_quota",
                                     "mdm_rotation_command", "rotation_deadline_seconds",
                                     "sweep_interval_seconds", "keep_versions",
                                     "approvals"}));
    Reader r(*t, "policy", base);
    ESCROW_RETURN_IF_ERROR(r.Seconds("checkin_window_seconds", c.checkin_window, 60,
                                     86400LL * 3650));
    ESCROW_RETURN_IF_ERROR(r.Seconds("key_display_seconds", c.key_display, 10, 86400));
    ESCROW_RETURN_IF_ERROR(r.Bool("rotate_after_retrieval", c.rotate_after_retrieval));
    ESCROW_RETURN_IF_ERROR(r.IntField("daily_quota", c.daily_quota, 0, 1'000'000));
    ESCROW_RETURN_IF_ERROR(r.Bool("mdm_rotation_command", c.mdm_rotation_command));
    ESCROW_RETURN_IF_ERROR(
        r.Seconds("rotation_deadline_seconds", c.rotation_deadline, 1, 86400LL * 365));
    ESCROW_RETURN_IF_ERROR(r.Seconds("sweep_interval_seconds", c.sweep_interval, 1, 86400));
    ESCROW_RETURN_IF_ERROR(r.IntField("keep_versions", c.keep_versions, 0, 10'000));
    if (const toml::node* n = t->get("approvals")) {
      const toml::table* a = n->as_table();
      if (a == nullptr) return Bad("policy.approvals must be a table {roles, ttl_seconds}");
      ESCROW_RETURN_IF_ERROR(OnlyKeys(*a, "policy.approvals", {"roles", "ttl_seconds"}));
      Reader ar(*a, "policy.approvals", base);
      ESCROW_RETURN_IF_ERROR(ar.StringList("roles", c.approval_roles, false));
      for (const std::string& role : c.approval_roles) {
        // Only the roles that retrieve others' keys: an approval for a role that can't
        // retrieve would only suggest a control that isn't there.
        if (role != "helpdesk" && role != "admin") {
          return Bad("policy.approvals.roles: '" + role +
                     "' is not a role that retrieves keys (helpdesk, admin)");
        }
      }
      ESCROW_RETURN_IF_ERROR(ar.Seconds("ttl_seconds", c.approval_ttl, 60, 604800));
    }
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::table* t = Section(root, "limits", st)) {
    ESCROW_RETURN_IF_ERROR(
        OnlyKeys(*t, "limits",
                 {"retrieve_per_user", "requests_per_client", "requests_per_user", "failed_auth",
                  "verify_mismatches", "cms_failures", "mdm_rotation_commands_per_day",
                  "max_tracked_keys"}));
    Reader r(*t, "limits", base);
    ESCROW_RETURN_IF_ERROR(r.Limit("retrieve_per_user", c.retrieve_per_user));
    ESCROW_RETURN_IF_ERROR(r.Limit("requests_per_client", c.requests_per_client));
    ESCROW_RETURN_IF_ERROR(r.Limit("requests_per_user", c.requests_per_user));
    ESCROW_RETURN_IF_ERROR(r.Limit("failed_auth", c.failed_auth));
    ESCROW_RETURN_IF_ERROR(r.Limit("verify_mismatches", c.verify_mismatches));
    ESCROW_RETURN_IF_ERROR(r.Limit("cms_failures", c.cms_failures));
    ESCROW_RETURN_IF_ERROR(r.IntField("mdm_rotation_commands_per_day",
                                      c.mdm_rotation_commands_per_day, 1, 1'000'000));
    ESCROW_RETURN_IF_ERROR(r.IntField("max_tracked_keys", c.max_tracked_keys, 16, 10'000'000));
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::table* t = Section(root, "audit", st)) {
    ESCROW_RETURN_IF_ERROR(OnlyKeys(*t, "audit", {"batch_max"}));
    Reader r(*t, "audit", base);
    ESCROW_RETURN_IF_ERROR(r.IntField("batch_max", c.audit_batch_max, 1, 10000));
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::table* t = Section(root, "events", st)) {
    ESCROW_RETURN_IF_ERROR(OnlyKeys(*t, "events", {"keep_days"}));
    Reader r(*t, "events", base);
    ESCROW_RETURN_IF_ERROR(r.IntField("keep_days", c.event_keep_days, 1, 3650));
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (c.tls_cert.empty()) return Bad("missing [tls]");
  if (c.hsm_token_label.empty() && c.hsm_token_uri.empty()) return Bad("missing [hsm]");
  if (c.db_path.empty() && c.db_url.empty()) return Bad("missing [database]");
  if (c.issuers.empty() || c.audience.empty()) return Bad("missing idp.issuer or idp.audience");
  if (c.idp_keys.empty() && c.idp_jwks.empty()) return Bad("missing idp.keys or idp.jwks");
  if (c.owner_claim.empty()) return Bad("idp.owner_claim must not be empty");
  return Status::Ok();
}

std::string Quote(const std::string& s) {
  std::ostringstream out;
  out << toml::value<std::string>(s);
  return out.str();
}

}  // namespace

Result<VaultConfig> LoadConfig(const std::string& path) {
  VaultConfig c;
  c.path = fs::absolute(path).string();
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "config: " << path << ": " << e.description() << " at line "
        << e.source().begin.line;
    return Status::InvalidArgument(msg.str(), "invalid_request");
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("config: cannot read ") + path,
                                   "invalid_request");
  }
  ESCROW_RETURN_IF_ERROR(Parse(root, fs::absolute(path).parent_path(), c));
  return c;
}

std::string RenderConfig(const VaultConfig& c) {
  std::ostringstream o;
  auto limit = [&](const char* name, const RateLimit& l) {
    o << name << " = { count = " << l.count << ", window_seconds = " << l.window.count()
      << " }\n";
  };
  o << "# vault.conf: see README.md \"Configuration\" for every key.\n";
  o << "dev = " << (c.dev ? "true" : "false") << "\n";
  o << "user = " << Quote(c.user) << "  # service user when started as root\n\n";
  o << "[server]\nlisten = " << Quote(c.listen) << "\nio_threads = " << c.io_threads
    << "\nworker_threads = " << c.worker_threads << "\nmax_connections = " << c.max_connections
    << "\nmax_unmapped_connections_per_address = " << c.max_unmapped_connections_per_address
    << "\nhandshake_timeout_ms = " << c.handshake_timeout.count()
    << "\nread_timeout_ms = " << c.read_timeout.count()
    << "\nidle_timeout_ms = " << c.idle_timeout.count()
    << "\ndrain_timeout_ms = " << c.drain_timeout.count() << "\n";
  if (!c.node.empty()) o << "node = " << Quote(c.node) << "\n";
  o << "\n";
  o << "[tls]\ncert = " << Quote(c.tls_cert) << "\nkey = " << Quote(c.tls_key)
    << "\nclient_ca = " << Quote(c.client_ca) << "\n\n";
  for (const ClientConfig& cc : c.clients) {
    o << "[[clients]]\nname = " << Quote(cc.name) << "\nfingerprint = " << Quote(cc.fingerprint)
      << "\nrole = " << Quote(cc.role) << "\n\n";
  }
  o << "[idp]\nissuers = [";
  for (std::size_t i = 0; i < c.issuers.size(); ++i) o << (i ? ", " : "") << Quote(c.issuers[i]);
  o << "]\naudience = " << Quote(c.audience) << "\nowner_claim = " << Quote(c.owner_claim)
    << "\nkeys = [";
  for (std::size_t i = 0; i < c.idp_keys.size(); ++i) o << (i ? ", " : "") << Quote(c.idp_keys[i]);
  o << "]\n";
  if (!c.idp_jwks.empty()) o << "jwks = " << Quote(c.idp_jwks) << "\n";
  o << "\n[hsm]\nmodule = " << Quote(c.hsm_module) << "\n";
  if (c.hsm_token_uri.empty()) {
    o << "token_label = " << Quote(c.hsm_token_label) << "\n";
  } else {
    o << "token = " << Quote(c.hsm_token_uri) << "\n";
  }
  o << "pin_file = " << Quote(c.hsm_pin_file) << "\n";
  if (!c.hsm_init_args.empty()) o << "init_args = " << Quote(c.hsm_init_args) << "\n";
  if (!c.softhsm_conf.empty()) o << "softhsm_conf = " << Quote(c.softhsm_conf) << "\n";
  if (c.db_url.empty()) {
    o << "\n[database]\npath = " << Quote(c.db_path) << "\n\n";
  } else {
    o << "\n[database]\nurl = " << Quote(c.db_url) << "\n";
    if (!c.db_password_file.empty()) o << "password_file = " << Quote(c.db_password_file) << "\n";
    o << "\n";
  }
  o << "[policy]\ncheckin_window_seconds = " << c.checkin_window.count()
    << "\nkey_display_seconds = " << c.key_display.count()
    << "\nrotate_after_retrieval = " << (c.rotate_after_retrieval ? "true" : "false")
    << "\ndaily_quota = " << c.daily_quota
    << "\nmdm_rotation_command = " << (c.mdm_rotation_command ? "true" : "false")
    << "\nrotation_deadline_seconds = " << c.rotation_deadline.count()
    << "\nsweep_interval_seconds = " << c.sweep_interval.count()
    << "\nkeep_versions = " << c.keep_versions
    << "\napprovals = { roles = [";
  for (std::size_t i = 0; i < c.approval_roles.size(); ++i) {
    o << (i ? ", " : "") << Quote(c.approval_roles[i]);
  }
  o << "], ttl_seconds = " << c.approval_ttl.count() << " }\n\n";
  o << "[limits]  # count = 0 switches a limit off\n";
  limit("retrieve_per_user", c.retrieve_per_user);
  limit("requests_per_client", c.requests_per_client);
  limit("requests_per_user", c.requests_per_user);
  limit("failed_auth", c.failed_auth);
  limit("verify_mismatches", c.verify_mismatches);
  limit("cms_failures", c.cms_failures);
  o << "mdm_rotation_commands_per_day = " << c.mdm_rotation_commands_per_day << "\n";
  o << "max_tracked_keys = " << c.max_tracked_keys << "\n";
  o << "\n[audit]\nbatch_max = " << c.audit_batch_max << "\n";
  o << "\n[events]\nkeep_days = " << c.event_keep_days << "\n";
  return o.str();
}

Result<std::string> NodeNameFor(const VaultConfig& config) {
  if (!config.node.empty() || config.db_url.empty()) return config.node;
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) {
    return Status::Unavailable("cannot read the host name for the node name: set [server] node");
  }
  const std::string name(host.data());
  if (name.empty() || !hsm::ValidateNodeName(name).ok()) {
    return Status::InvalidArgument("the host name " + Quote(name) +
                                   " is not a valid node name: set [server] node");
  }
  return name;
}

Result<hsm::HsmConfig> HsmConfigFor(const VaultConfig& config) {
  ESCROW_ASSIGN_OR_RETURN(std::string node, NodeNameFor(config));
  hsm::HsmConfig hsm{config.hsm_module, config.hsm_token_label, config.hsm_pin_file,
                     std::move(node)};
  hsm.token_uri = config.hsm_token_uri;
  hsm.init_args = config.hsm_init_args;
  return hsm;
}

std::string TokenName(const VaultConfig& config) {
  return config.hsm_token_uri.empty() ? config.hsm_token_label : config.hsm_token_uri;
}

storage::StoreOptions StoreOptionsFor(const VaultConfig& config) {
  storage::StoreOptions options;
  options.path = config.db_path;
  options.url = config.db_url;
  options.password_file = config.db_password_file;
  return options;
}

}  // namespace escrow::vault
