#include "storage/pg_url.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include "base/unique_fd.h"

namespace escrow::storage {
namespace {

constexpr std::string_view kDefaultSocketDir = "/var/run/postgresql";
constexpr std::string_view kDefaultPort = "5432";

constexpr std::array<std::string_view, 17> kAllowedParams{
    "host",           "port",           "sslmode",          "sslrootcert",
    "sslcert",        "sslkey",         "sslcrl",           "sslcrldir",
    "sslsni",         "connect_timeout", "application_name", "target_session_attrs",
    "keepalives",     "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout"};

Status Bad(std::string_view why) {
  return Status::InvalidArgument("database url: " + std::string(why));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    const int hi = HexValue(in[i + 1]);
    const int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return std::nullopt;
    out += c;
    i += 2;
  }
  return out;
}

bool ValidPort(std::string_view port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return ec == std::errc() && end == port.data() + port.size() && value >= 1 && value <= 65535;
}

// One host of the host list, split into host and port ("" if none); IPv6 in brackets.
Status SplitHostPort(std::string_view spec, std::string& host, std::string& port) {
  std::string_view h = spec;
  std::string_view p;
  if (spec.starts_with('[')) {
    const std::size_t close = spec.find(']');
    if (close == std::string_view::npos) return Bad("unclosed [ in host");
    h = spec.substr(1, close - 1);
    std::string_view rest = spec.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Bad("junk after ]");
      p = rest.substr(1);
    }
  } else if (const std::size_t colon = spec.rfind(':'); colon != std::string_view::npos) {
    h = spec.substr(0, colon);
    p = spec.substr(colon + 1);
  }
  std::optional<std::string> decoded = PercentDecode(h);
  if (!decoded) return Bad("bad percent-encoding in host");
  host = std::move(*decoded);
  if (!p.empty() && !ValidPort(p)) return Bad("port must be 1 to 65535");
  port = std::string(p);
  return Status::Ok();
}

bool Allowed(std::string_view key) {
  for (std::string_view allowed : kAllowedParams) {
    if (key == allowed) return true;
  }
  return false;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out += ',';
    out += part;
  }
  return out;
}

}  // namespace

Result<PostgresTarget> ParsePostgresUrl(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("postgresql://")) {
    rest = url.substr(13);
  } else if (url.starts_with("postgres://")) {
    rest = url.substr(11);
  } else {
    return Bad("must start with postgresql://");
  }
  std::string_view query;
  if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string user;
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (userinfo.find(':') != std::string_view::npos) {
      return Bad("must not hold a password (use password_file)");
    }
    std::optional<std::string> decoded = PercentDecode(userinfo);
    if (!decoded) return Bad("bad percent-encoding in user");
    user = std::move(*decoded);
  }
  std::optional<std::string> dbname = PercentDecode(path);
  if (!dbname || dbname->empty()) return Bad("names no database");

  std::vector<std::string> hosts;
  std::vector<std::string> ports;
  if (!rest.empty()) {
    std::size_t start = 0;
    while (start <= rest.size()) {
      const std::size_t comma = rest.find(',', start);
      const std::string_view spec =
          rest.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                              : comma - start);
      std::string host;
      std::string port;
      ESCROW_RETURN_IF_ERROR(SplitHostPort(spec, host, port));
      hosts.push_back(host.empty() ? std::string(kDefaultSocketDir) : host);
      ports.push_back(port.empty() ? std::string(kDefaultPort) : port);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }

  PostgresTarget target;
  std::string sslmode;
  std::string query_port;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return Bad("parameter without a value");
    std::optional<std::string> key = PercentDecode(pair.substr(0, eq));
    std::optional<std::string> value = PercentDecode(pair.substr(eq + 1));
    if (!key || !value) return Bad("bad percent-encoding in a parameter");
    if (*key == "password") return Bad("must not hold a password (use password_file)");
    if (!Allowed(*key)) return Bad("parameter " + *key + " is not allowed");
    if (*key == "host") {
      hosts = {*value};
    } else if (*key == "port") {
      if (!ValidPort(*value)) return Bad("port must be 1 to 65535");
      query_port = *value;
    } else {
      if (*key == "sslmode") sslmode = *value;
      target.params.emplace_back(*key, *value);
    }
  }
  if (hosts.empty()) hosts.emplace_back(kDefaultSocketDir);
  if (!query_port.empty()) ports.assign(hosts.size(), query_port);
  if (ports.size() != hosts.size()) ports.resize(hosts.size(), std::string(kDefaultPort));

  for (const std::string& host : hosts) {
    if (!host.starts_with('/')) target.unix_socket = false;
  }
  if (!target.unix_socket && sslmode != "verify-full") {
    return Bad("a TCP connection needs sslmode=verify-full");
  }
  target.params.emplace_back("host", Join(hosts));
  target.params.emplace_back("port", Join(ports));
  target.params.emplace_back("dbname", *dbname);
  if (!user.empty()) target.params.emplace_back("user", user);
  if (sslmode.empty()) target.params.emplace_back("sslmode", "disable");  // a socket
  // GSS encryption would be chosen before TLS and bypass verify-full's certificate check;
  // ~/.pgpass is never read (the password comes from password_file).
  target.params.emplace_back("gssencmode", "disable");
  target.params.emplace_back("passfile", "/dev/null/none");  // ENOTDIR: never a file
  target.description = (user.empty() ? "" : user + "@") + Join(hosts) + ":" + Join(ports) +
                       "/" + *dbname;
  return target;
}

Result<std::string> ReadPasswordFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    return Status::Unavailable("password file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Status::Unavailable("password file " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::FailedPrecondition("password file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return Status::FailedPrecondition("password file " + path +
                                      " must not be readable or writable by group or others "
                                      "(chmod 600)");
  }
  std::string content;
  std::array<char, 512> buf{};
  while (true) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Unavailable("password file " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    content.append(buf.data(), static_cast<std::size_t>(n));
    if (content.size() > 4096) return Status::InvalidArgument("password file is too long");
  }
  if (content.ends_with('\n')) content.pop_back();
  if (content.ends_with('\r')) content.pop_back();
  if (content.empty()) return Status::InvalidArgument("password file " + path + " is empty");
  if (content.find('\0') != std::string::npos || content.find('\n') != std::string::npos) {
    return Status::InvalidArgument("password file " + path + " holds more than one line");
  }
  return content;
}

}  // namespace escrow::storage
