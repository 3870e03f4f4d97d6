#include "portal/portal_config.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace escrow::portal {
namespace {

namespace fs = std::filesystem;

Status Bad(const std::string& what) { return Status::InvalidArgument("portal config: " + what); }

// Reads one table's keys, refusing keys it was not asked about (a typo never goes unnoticed).
class TableReader {
 public:
  TableReader(const toml::table& t, std::string where, fs::path base)
      : t_(t), where_(std::move(where)), base_(std::move(base)) {}

  Status String(const char* key, std::string& out, bool path = false) {
    seen_.insert(key);
    const toml::node* n = t_.get(key);
    if (n == nullptr) return Status::Ok();
    if (!n->is_string()) return Bad(Name(key) + " must be a string");
    out = *n->value<std::string>();
    if (path && !out.empty() && fs::path(out).is_relative()) out = (base_ / out).string();
    return Status::Ok();
  }
  Status Bool(const char* key, bool& out) {
    seen_.insert(key);
    const toml::node* n = t_.get(key);
    if (n == nullptr) return Status::Ok();
    if (!n->is_boolean()) return Bad(Name(key) + " must be true or false");
    out = *n->value<bool>();
    return Status::Ok();
  }
  Status Int(const char* key, std::int64_t& out, std::int64_t min, std::int64_t max) {
    seen_.insert(key);
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
  Status Strings(const toml::node& n, const std::string& name, std::vector<std::string>& out) {
    const toml::array* a = n.as_array();
    if (a == nullptr) return Bad(name + " must be an array of strings");
    for (const toml::node& e : *a) {
      if (!e.is_string()) return Bad(name + " must be an array of strings");
      out.push_back(*e.value<std::string>());
    }
    return Status::Ok();
  }
  const toml::table* Table(const char* key, Status& status) {
    seen_.insert(key);
    const toml::node* n = t_.get(key);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) status = Bad("[" + Name(key) + "] must be a table");
    return n->as_table();
  }
  const toml::node* Node(const char* key) {
    seen_.insert(key);
    return t_.get(key);
  }
  // Call last: any key not read above is unknown.
  Status Finish() const {
    for (const auto& [k, v] : t_) {
      (void)v;
      if (!seen_.contains(std::string(k.str()))) {
        return Bad("unknown key '" + Name(std::string(k.str())) + "'");
      }
    }
    return Status::Ok();
  }
  std::string Name(const std::string& key) const {
    return where_.empty() ? key : where_ + "." + key;
  }
  const fs::path& base() const { return base_; }

 private:
  const toml::table& t_;
  std::string where_;
  fs::path base_;
  std::set<std::string> seen_;
};

Status ParseUsers(TableReader& dev, std::vector<DevUser>& users) {
  const toml::node* n = dev.Node("users");
  if (n == nullptr) return Status::Ok();
  const toml::array* a = n->as_array();
  if (a == nullptr) return Bad("dev_signin.users must be an array of {name, roles}");
  for (const toml::node& e : *a) {
    const toml::table* t = e.as_table();
    if (t == nullptr) return Bad("dev_signin.users must be an array of {name, roles}");
    TableReader r(*t, "dev_signin.users", dev.base());
    DevUser user;
    ESCROW_RETURN_IF_ERROR(r.String("name", user.name));
    if (user.name.empty()) return Bad("dev_signin.users: every user needs a name");
    if (const toml::node* roles = r.Node("roles")) {
      ESCROW_RETURN_IF_ERROR(r.Strings(*roles, "dev_signin.users.roles", user.roles));
    }
    ESCROW_RETURN_IF_ERROR(r.Finish());
    users.push_back(std::move(user));
  }
  return Status::Ok();
}

Status ParseDev(TableReader& r, DevSignIn& d) {
  ESCROW_RETURN_IF_ERROR(r.String("signing_key", d.signing_key, true));
  ESCROW_RETURN_IF_ERROR(r.String("issuer", d.issuer));
  ESCROW_RETURN_IF_ERROR(r.String("audience", d.audience));
  ESCROW_RETURN_IF_ERROR(r.Int("token_seconds", d.token_seconds, 10, 86400));
  ESCROW_RETURN_IF_ERROR(ParseUsers(r, d.users));
  ESCROW_RETURN_IF_ERROR(r.Finish());
  if (d.signing_key.empty()) return Bad("dev_signin.signing_key is required");
  return Status::Ok();
}

Status ParseOidc(TableReader& r, OidcConfig& o) {
  ESCROW_RETURN_IF_ERROR(r.String("issuer", o.issuer));
  ESCROW_RETURN_IF_ERROR(r.String("client_id", o.client_id));
  ESCROW_RETURN_IF_ERROR(r.String("client_secret_file", o.client_secret_file, true));
  ESCROW_RETURN_IF_ERROR(r.String("redirect_uri", o.redirect_uri));
  ESCROW_RETURN_IF_ERROR(r.String("vault_audience", o.vault_audience));
  ESCROW_RETURN_IF_ERROR(r.String("ca", o.ca, true));
  ESCROW_RETURN_IF_ERROR(r.String("authorization_endpoint", o.authorization_endpoint));
  ESCROW_RETURN_IF_ERROR(r.String("token_endpoint", o.token_endpoint));
  ESCROW_RETURN_IF_ERROR(r.String("jwks_uri", o.jwks_uri));
  ESCROW_RETURN_IF_ERROR(r.String("scope", o.scope));
  ESCROW_RETURN_IF_ERROR(r.Finish());
  if (o.issuer.empty() || o.client_id.empty() || o.redirect_uri.empty() ||
      o.vault_audience.empty()) {
    return Bad("[oidc] needs issuer, client_id, redirect_uri and vault_audience");
  }
  if (o.redirect_uri.rfind("https://", 0) != 0) return Bad("oidc.redirect_uri must be https");
  return Status::Ok();
}

Status Parse(const toml::table& root, const fs::path& base, PortalConfig& c) {
  TableReader r(root, "", base);
  ESCROW_RETURN_IF_ERROR(r.Bool("dev", c.dev));
  ESCROW_RETURN_IF_ERROR(r.String("listen", c.listen));
  ESCROW_RETURN_IF_ERROR(r.String("static_dir", c.static_dir, true));
  ESCROW_RETURN_IF_ERROR(r.Int("max_sessions", c.max_sessions, 1, 10'000'000));
  Status st;
  if (const toml::table* t = r.Table("tls", st)) {
    TableReader tr(*t, "tls", base);
    ESCROW_RETURN_IF_ERROR(tr.String("cert", c.tls_cert, true));
    ESCROW_RETURN_IF_ERROR(tr.String("key", c.tls_key, true));
    ESCROW_RETURN_IF_ERROR(tr.Finish());
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::table* t = r.Table("vault", st)) {
    TableReader vr(*t, "vault", base);
    ESCROW_RETURN_IF_ERROR(vr.String("url", c.vault_url));
    ESCROW_RETURN_IF_ERROR(vr.String("ca", c.vault_ca, true));
    ESCROW_RETURN_IF_ERROR(vr.String("client_cert", c.client_cert, true));
    ESCROW_RETURN_IF_ERROR(vr.String("client_key", c.client_key, true));
    std::int64_t ms = c.vault_timeout.count();
    ESCROW_RETURN_IF_ERROR(vr.Int("timeout_ms", ms, 100, 600'000));
    c.vault_timeout = std::chrono::milliseconds(ms);
    ESCROW_RETURN_IF_ERROR(vr.Finish());
  }
  ESCROW_RETURN_IF_ERROR(st);
  bool has_dev = false;
  bool has_oidc = false;
  if (const toml::table* t = r.Table("dev_signin", st)) {
    TableReader dr(*t, "dev_signin", base);
    ESCROW_RETURN_IF_ERROR(ParseDev(dr, c.dev_signin));
    has_dev = true;
  }
  ESCROW_RETURN_IF_ERROR(st);
  if (const toml::table* t = r.Table("oidc", st)) {
    TableReader orr(*t, "oidc", base);
    ESCROW_RETURN_IF_ERROR(ParseOidc(orr, c.oidc));
    has_oidc = true;
  }
  ESCROW_RETURN_IF_ERROR(st);
  ESCROW_RETURN_IF_ERROR(r.Finish());
  if (has_dev && !c.dev) return Bad("[dev_signin] needs dev = true");
  if (!has_dev && !has_oidc) return Bad("no sign-in: give [oidc] (or [dev_signin] with dev = true)");
  if (c.tls_cert.empty() || c.tls_key.empty()) return Bad("[tls] needs cert and key");
  if (c.vault_url.rfind("https://", 0) != 0) return Bad("vault.url must be https://HOST:PORT");
  if (c.vault_ca.empty() || c.client_cert.empty() || c.client_key.empty()) {
    return Bad("[vault] needs ca, client_cert and client_key");
  }
  return Status::Ok();
}

}  // namespace

Result<PortalConfig> ParsePortalConfig(const std::string& text, const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << e.description() << " at line " << e.source().begin.line;
    return Bad(msg.str());
  }
  PortalConfig config;
  ESCROW_RETURN_IF_ERROR(Parse(root, fs::path(base_dir), config));
  return config;
}

Result<PortalConfig> LoadPortalConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("portal config: cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return ParsePortalConfig(text.str(), fs::absolute(path).parent_path().string());
}

}  // namespace escrow::portal
