#include "tools/notify_config.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "base/host_port.h"

namespace escrow::tools {
namespace {

namespace fs = std::filesystem;

Status Bad(const std::string& what) { return Status::InvalidArgument("notify config: " + what); }

// The keys of notify.conf, each read once by Take(); what is left over is unknown, so a typo
// ("poll_second") is refused instead of silently leaving a default in force.
class Keys {
 public:
  Keys(const toml::table& t, fs::path base) : t_(t), base_(std::move(base)) {}

  Status String(const char* key, std::string& out, bool required, bool path = false) {
    const toml::node* n = Take(key);
    if (n == nullptr) return required ? Bad("missing " + std::string(key)) : Status::Ok();
    if (!n->is_string() || n->value<std::string>()->empty()) {
      return Bad(std::string(key) + " must be a non-empty string");
    }
    out = *n->value<std::string>();
    if (path && fs::path(out).is_relative()) out = (base_ / out).string();
    return Status::Ok();
  }
  Status Int(const char* key, std::int64_t& out, std::int64_t min, std::int64_t max) {
    const toml::node* n = Take(key);
    if (n == nullptr) return Status::Ok();
    if (!n->is_integer()) return Bad(std::string(key) + " must be an integer");
    const std::int64_t v = *n->value<std::int64_t>();
    if (v < min || v > max) {
      return Bad(std::string(key) + " must be between " + std::to_string(min) + " and " +
                 std::to_string(max) + ", not " + std::to_string(v));
    }
    out = v;
    return Status::Ok();
  }
  Status Millis(const char* key, std::chrono::milliseconds& out, std::int64_t min,
                std::int64_t max) {
    std::int64_t v = out.count();
    ESCROW_RETURN_IF_ERROR(Int(key, v, min, max));
    out = std::chrono::milliseconds(v);
    return Status::Ok();
  }
  // kInvalidArgument naming the first key no Take() asked for.
  Status NoneLeft() const {
    for (const auto& [k, v] : t_) {
      (void)v;
      if (!taken_.contains(std::string(k.str()))) {
        return Bad("unknown key '" + std::string(k.str()) + "'");
      }
    }
    return Status::Ok();
  }

 private:
  const toml::node* Take(const char* key) {
    taken_.insert(key);
    return t_.get(key);
  }
  const toml::table& t_;
  fs::path base_;
  std::set<std::string> taken_;
};

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

std::string Url::Origin() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

Result<Url> ParseUrl(std::string_view text, std::string_view what) {
  const std::string name(what);
  Url url;
  std::string_view rest = text;
  if (rest.starts_with("https://")) {
    url.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return Bad(name + " must start with https:// or http://");
  }
  if (rest.find('#') != std::string_view::npos) return Bad(name + " must not have a fragment");
  const std::size_t path_at = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, path_at);
  url.target = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
  // Not insert(0, "/"): GCC 12 at -O3 warns a false -Wrestrict there (-Werror in Release).
  if (url.target.front() == '?') url.target = "/" + url.target;
  if (authority.find('@') != std::string_view::npos) {
    return Bad(name + " must not carry a user name or password");
  }
  const std::size_t bracket = authority.rfind(']');
  const std::size_t colon = authority.rfind(':');
  const bool has_port =
      colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
  if (has_port) {
    Result<HostPort> hp = ParseHostPort(authority, name);
    if (!hp.ok()) return Bad(hp.status().message());
    if (hp->port == 0 || !AllDigits(authority.substr(colon + 1))) {
      return Bad(name + " has a bad port: " + std::string(text));
    }
    url.host = hp->host;
    url.port = hp->port;
  } else {
    url.host = std::string(authority);
    if (url.host.starts_with('[') && url.host.ends_with(']')) {
      url.host = url.host.substr(1, url.host.size() - 2);
    }
    url.port = url.tls ? 443 : 80;
  }
  if (url.host.empty() || url.host.find_first_of("[]/ ") != std::string::npos) {
    return Bad(name + " has no valid host: " + std::string(text));
  }
  return url;
}

Result<NotifyConfig> ParseNotifyConfig(std::string_view text, const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream err;
    err << e.description() << " at line " << e.source().begin.line;
    return Bad(err.str());
  }
  NotifyConfig c;
  Keys keys(root, base_dir);
  std::string vault_url;
  std::string webhook_url;
  ESCROW_RETURN_IF_ERROR(keys.String("vault_url", vault_url, true));
  ESCROW_RETURN_IF_ERROR(keys.String("ca", c.ca, true, true));
  ESCROW_RETURN_IF_ERROR(keys.String("cert", c.cert, true, true));
  ESCROW_RETURN_IF_ERROR(keys.String("key", c.key, true, true));
  ESCROW_RETURN_IF_ERROR(keys.String("webhook_url", webhook_url, true));
  ESCROW_RETURN_IF_ERROR(keys.String("webhook_ca", c.webhook_ca, false, true));
  ESCROW_RETURN_IF_ERROR(keys.String("secret_file", c.secret_file, true, true));
  ESCROW_RETURN_IF_ERROR(keys.String("state_dir", c.state_dir, true, true));
  std::int64_t batch = c.batch_size;
  ESCROW_RETURN_IF_ERROR(keys.Int("batch_size", batch, 1, 1000));
  c.batch_size = static_cast<std::uint32_t>(batch);
  std::int64_t poll = c.poll.count();
  ESCROW_RETURN_IF_ERROR(keys.Int("poll_seconds", poll, 1, 3600));
  c.poll = std::chrono::seconds(poll);
  constexpr std::int64_t kHourMs = 3'600'000;
  ESCROW_RETURN_IF_ERROR(keys.Millis("backoff_initial_ms", c.backoff_initial, 10, kHourMs));
  ESCROW_RETURN_IF_ERROR(
      keys.Millis("backoff_max_ms", c.backoff_max, c.backoff_initial.count(), kHourMs));
  ESCROW_RETURN_IF_ERROR(keys.Millis("timeout_ms", c.timeout, 100, 600'000));
  ESCROW_RETURN_IF_ERROR(keys.NoneLeft());

  ESCROW_ASSIGN_OR_RETURN(c.vault, ParseUrl(vault_url, "vault_url"));
  if (!c.vault.tls) return Bad("vault_url must be https (vaultd speaks only TLS)");
  ESCROW_ASSIGN_OR_RETURN(c.webhook, ParseUrl(webhook_url, "webhook_url"));
  // Events name owners, devices and reasons: in clear text only on this machine.
  if (!c.webhook.tls && !IsLoopbackHost(c.webhook.host)) {
    return Bad("webhook_url must be https unless its host is a loopback address: " +
               c.webhook.Origin());
  }
  if (!c.webhook.tls && !c.webhook_ca.empty()) {
    return Bad("webhook_ca is only for an https webhook_url");
  }
  return c;
}

Result<NotifyConfig> LoadNotifyConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Bad("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return ParseNotifyConfig(text.str(), fs::path(path).parent_path().string());
}

}  // namespace escrow::tools
