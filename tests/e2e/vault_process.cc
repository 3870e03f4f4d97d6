#include "tests/e2e/vault_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "auth/base64url.h"

#ifndef ESCROW_VAULTD_PATH
#error "ESCROW_VAULTD_PATH must be defined by the build"
#endif

namespace escrow::e2e {
namespace {

// One line of answers.jsonl, as tests/api/openapi_answers.py reads it.
void RecordAnswer(const std::string& file, const Call& call, const HttpResult& r) {
  static std::mutex mutex;  // requests may come from several threads
  boost::json::object headers;
  for (const auto& [name, value] : r.headers) headers[name] = value;
  boost::json::object line;
  line["method"] = call.method;
  line["path"] = call.path;
  line["status"] = r.status;
  line["headers"] = std::move(headers);
  line["body"] = r.body;
  const std::lock_guard lock(mutex);
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out << boost::json::serialize(line) << '\n';
}

}  // namespace

// ESCROW_E2E_VAULTD / ESCROW_E2E_VAULTCTL override the built binaries (e.g. a sanitizer build).
std::string VaultdPath() {
  const char* env = std::getenv("ESCROW_E2E_VAULTD");
  return env != nullptr && *env != '\0' ? env : ESCROW_VAULTD_PATH;
}
std::string VaultctlPath() {
  const char* env = std::getenv("ESCROW_E2E_VAULTCTL");
  return env != nullptr && *env != '\0' ? env : ESCROW_VAULTCTL_PATH;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

int Sh(const std::string& command, std::string* out) { return testing::RunCommand(command, out); }

pid_t SpawnLogged(std::vector<std::string> args, const std::string& log_path) {
  const pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  f.close();
  chmod(path.c_str(), 0600);
}

VaultProcess::VaultProcess() {
  tmp_ = dir_.str();
  state_ = tmp_ + "/state";
  log_path_ = tmp_ + "/vaultd.log";
  if (const char* env = std::getenv("ESCROW_E2E_OPENAPI");
      env != nullptr && std::string_view(env) == "1") {
    answers_path_ = tmp_ + "/answers.jsonl";
  }
  std::string out;
  const int rc =
      Sh(Quote(VaultctlPath()) + " init --dev --state-dir " + Quote(state_) + " 2>&1", &out);
  if (rc != 0) throw std::runtime_error("vaultctl init --dev failed: " + out);
}

VaultProcess::VaultProcess(const OnModule& hsm) : VaultProcess() {
  // The production ceremony on the module, in a directory of its own (it refuses to overwrite
  // the dev state's config, database and transcript).
  const std::string dir = tmp_ + "/module-vault";
  std::string out;
  int rc =
      Sh(Quote(VaultctlPath()) + " init --config " + Quote(dir + "/vault.conf") + " --module " +
             Quote(hsm.module) + " --token " + Quote(hsm.token_uri) + " --init-args " +
             Quote(hsm.init_args) + " --pin-file " + Quote(hsm.pin_file) + " 2>&1",
         &out);
  if (rc != 0) throw std::runtime_error("vaultctl init --module " + hsm.module + " failed: " + out);
  init_transcript_ = out;
  // The dev config with that vault's [hsm] and [database] sections (RenderConfig's layout:
  // [hsm], then [database], then [policy]).
  const std::string conf_path = state_ + "/vault.conf";
  std::ifstream in(conf_path);
  std::stringstream text;
  text << in.rdbuf();
  std::string conf = text.str();
  const std::size_t from = conf.find("\n[hsm]\n");
  const std::size_t to = conf.find("\n[policy]\n");
  if (from == std::string::npos || to == std::string::npos || to < from) {
    throw std::runtime_error("unexpected layout of " + conf_path);
  }
  const auto toml = [](const std::string& s) {
    std::string q = "'";  // TOML literal string: no escapes inside
    if (s.find('\'') != std::string::npos) {
      q = "\"";
      for (const char c : s) {
        if (c == '"' || c == '\\') q.push_back('\\');
        q.push_back(c);
      }
      return q + "\"";
    }
    return q + s + "'";
  };
  const std::string sections =
      "\n[hsm]\nmodule = " + toml(hsm.module) + "\ntoken = " + toml(hsm.token_uri) +
      "\npin_file = " + toml(hsm.pin_file) + "\ninit_args = " + toml(hsm.init_args) +
      "\n\n[database]\npath = " + toml(dir + "/vault.db") + "\n";
  conf.replace(from, to - from, sections);
  WriteFile(conf_path, conf);
}

VaultProcess::VaultProcess(SameStateAs same) {
  tmp_ = dir_.str();
  state_ = same.other.state_;
  log_path_ = tmp_ + "/vaultd.log";
  answers_path_ = same.other.answers_path_.empty() ? "" : tmp_ + "/answers.jsonl";
}

VaultProcess::~VaultProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  // Not while a failed REQUIRE unwinds: that test has already failed.
  if (std::uncaught_exceptions() == 0) CheckAnswers();
}

void VaultProcess::CheckAnswers() const {
  if (answers_path_.empty() || access(answers_path_.c_str(), F_OK) != 0) return;
  std::string out;
  const int rc = Sh(Quote(ESCROW_PYTHON3) + " " + Quote(ESCROW_OPENAPI_ANSWERS_PY) + " " +
                        Quote(ESCROW_OPENAPI_YAML) + " " + Quote(answers_path_) + " 2>&1",
                    &out);
  INFO("answers against api/openapi.yaml:\n" << out);
  CHECK(rc == 0);
}

bool VaultProcess::Start(const std::vector<std::string>& extra_args) {
  const std::size_t log_start = Log().size();
  std::vector<std::string> args = {VaultdPath(), "--config", state_ + "/vault.conf"};
  if (std::find(extra_args.begin(), extra_args.end(), "--listen") == extra_args.end()) {
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = SpawnLogged(std::move(args), log_path_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      start_exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return false;
    }
    const std::string log = Log().substr(log_start);
    const std::string marker = R"({"event":"ready","listen":"127.0.0.1:)";
    if (std::size_t at = log.find(marker); at != std::string::npos) {
      port_ = std::stoi(log.substr(at + marker.size()));
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int VaultProcess::Stop(int sig, std::chrono::seconds wait) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -2;
}

std::string VaultProcess::Log() const { return testing::ReadFileBytes(log_path_); }

std::string VaultProcess::Url(const std::string& path) const {
  return "https://localhost:" + std::to_string(port_) + path;
}

std::string VaultProcess::Token(const std::string& sub, const std::string& extra) const {
  std::string out;
  const int rc = Sh(Quote(VaultctlPath()) + " dev-token --state-dir " + Quote(state_) + " --sub " +
                        Quote(sub) + " " + extra,
                    &out);
  if (rc != 0) throw std::runtime_error("vaultctl dev-token failed");
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (std::size_t nl = out.rfind('\n'); nl != std::string::npos) out = out.substr(nl + 1);
  return out;
}

HttpResult VaultProcess::Request(const Call& call) const {
  static std::atomic<int> counter{0};  // requests may come from several threads
  const std::string base = tmp_ + "/req" + std::to_string(++counter);
  std::string cmd = "curl -sS --max-time 30 -o " + Quote(base + ".body") + " -D " +
                    Quote(base + ".hdr") + " -w '%{http_code}' --cacert " + Quote(CaFile()) +
                    " -X " + Quote(call.method);
  std::string cert = call.cert_path, key = call.key_path;
  if (cert.empty() && !call.who.empty()) {
    cert = ClientCert(call.who);
    key = ClientKey(call.who);
  }
  if (!cert.empty()) cmd += " --cert " + Quote(cert) + " --key " + Quote(key);
  if (!call.token.empty()) cmd += " -H " + Quote("Authorization: Bearer " + call.token);
  if (call.body) {
    WriteFile(base + ".in", *call.body);
    cmd += " --data-binary @" + Quote(base + ".in");
    cmd += " -H " + Quote("Content-Type: " + call.content_type);
  }
  for (const std::string& h : call.extra_headers) cmd += " -H " + Quote(h);
  cmd += " " + Quote(Url(call.path)) + " 2>/dev/null";
  HttpResult r;
  std::string code;
  r.curl_exit = Sh(cmd, &code);
  r.status = code.empty() ? 0 : std::stoi(code);
  r.body = testing::ReadFileBytes(base + ".body");
  std::istringstream hdrs(testing::ReadFileBytes(base + ".hdr"));
  for (std::string line; std::getline(hdrs, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[name] = value;
  }
  if (!answers_path_.empty() && r.status != 0) RecordAnswer(answers_path_, call, r);
  return r;
}

HttpResult VaultProcess::Mdm(const std::string& method, const std::string& path,
                             std::optional<std::string> body) const {
  Call c;
  c.method = method;
  c.path = path;
  c.who = "mdm";
  c.body = std::move(body);
  return Request(c);
}

HttpResult VaultProcess::As(const std::string& token, const std::string& method,
                            const std::string& path, std::optional<std::string> body) const {
  Call c;
  c.method = method;
  c.path = path;
  c.who = "portal";
  c.token = token;
  c.body = std::move(body);
  return Request(c);
}

void VaultProcess::Enrol(const std::string& id, const std::string& owner,
                         const std::string& ownership, const std::string& platform) const {
  const std::string body = R"({"serial":"S-)" + id + R"(","name":"Device )" + id +
                           R"(","platform":")" + platform + R"(","ownership":")" + ownership +
                           R"(","owner":")" + owner + R"(","encryption_enabled":true})";
  HttpResult r = Mdm("PUT", "/v1/devices/" + id, body);
  if (r.status != 201 && r.status != 200) throw std::runtime_error("enrol failed: " + r.body);
  r = Mdm("POST", "/v1/devices/" + id + "/checkin", "{}");
  if (r.status != 200) throw std::runtime_error("checkin failed: " + r.body);
}

std::string SignEs256(const std::string& header, const std::string& payload,
                      const std::string& key_pem_path) {
  const std::string input = auth::Base64UrlEncode(header) + "." + auth::Base64UrlEncode(payload);
  FILE* f = std::fopen(key_pem_path.c_str(), "r");
  if (f == nullptr) throw std::runtime_error("cannot open " + key_pem_path);
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  (void)std::fclose(f);  // read only: nothing to lose at close
  if (key == nullptr) throw std::runtime_error("not a private key: " + key_pem_path);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t der_len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &der_len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::vector<unsigned char> der(der_len);
  EVP_DigestSign(ctx, der.data(), &der_len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  std::vector<std::uint8_t> raw(64);
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + 32, 32);
  ECDSA_SIG_free(sig);
  return input + "." + auth::Base64UrlEncode(raw);
}

std::string SignHs256(const std::string& header, const std::string& payload,
                      const std::string& secret) {
  const std::string input = auth::Base64UrlEncode(header) + "." + auth::Base64UrlEncode(payload);
  std::vector<std::uint8_t> mac(32);
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &len);
  return input + "." + auth::Base64UrlEncode(mac);
}

std::string Unsigned(const std::string& header, const std::string& payload) {
  return auth::Base64UrlEncode(header) + "." + auth::Base64UrlEncode(payload) + ".";
}

}  // namespace escrow::e2e
