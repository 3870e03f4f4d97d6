#include "tests/support/softhsm_token.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "base/secret_bytes.h"
#include "hsm/token_init.h"
#include "tests/support/nss_softoken.h"

namespace escrow::testing {
namespace {

// The process-wide configuration: see the class comment for why there is only one.
struct SharedConf {
  TempDir dir;
  std::filesystem::path conf;
  std::filesystem::path tokens;

  SharedConf() : conf(dir.path() / "softhsm2.conf"), tokens(dir.path() / "tokens") {
    std::filesystem::create_directories(tokens);
    std::ofstream out(conf);
    out << "directories.tokendir = " << tokens.string() << "\n"
        << "objectstore.backend = file\n"
        << "log.level = ERROR\n"
        << "slots.removable = false\n";
    out.close();
    if (!out) throw std::runtime_error("cannot write " + conf.string());
    setenv("SOFTHSM2_CONF", conf.c_str(), 1);  // NOLINT(concurrency-mt-unsafe): before threads
  }
};

SharedConf& Shared() {
  static SharedConf shared;
  return shared;
}

std::set<std::filesystem::path> TokenDirs() {
  std::set<std::filesystem::path> dirs;
  for (const auto& entry : std::filesystem::directory_iterator(Shared().tokens)) {
    if (entry.is_directory()) dirs.insert(entry.path());
  }
  return dirs;
}

void WriteSecretFile(const std::filesystem::path& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path.string());
  const ssize_t n = ::write(fd, content.data(), content.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(content.size())) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

}  // namespace

bool SoftHsmToken::UsesNss() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read-only; tests set it before they start
  const char* env = std::getenv("ESCROW_TEST_PKCS11");
  return env != nullptr && std::string_view(env) == "nss";
}

SoftHsmToken::~SoftHsmToken() = default;

std::string SoftHsmToken::module_path() const {
  return nss_ != nullptr ? nss_->module_path() : std::string(kModulePath);
}

std::string SoftHsmToken::init_args() const {
  return nss_ != nullptr ? nss_->init_args() : std::string();
}

SoftHsmToken::SoftHsmToken() {
  if (UsesNss()) {
    nss_ = std::make_unique<NssSoftoken>();
    label_ = std::string(NssSoftoken::kTokenLabel);
    pin_ = nss_->pin();
    pin_file_ = nss_->pin_file();
    token_dir_ = nss_->db_dir();
    return;
  }
  static std::mutex mu;
  static std::atomic<int> counter{0};
  std::lock_guard<std::mutex> lock(mu);
  const std::string n = std::to_string(++counter);
  label_ = "escrow-test-" + std::to_string(::getpid()) + "-" + n;
  pin_ = "user-pin-" + n;
  const std::string so_pin = "so-pin-" + n;

  const std::set<std::filesystem::path> before = TokenDirs();
  Status s = hsm::InitializeToken(module_path(), label_, SecretBytes::CopyOf(so_pin),
                                  SecretBytes::CopyOf(pin_));
  if (!s.ok()) throw std::runtime_error("InitializeToken: " + s.ToString());
  for (const auto& dir : TokenDirs()) {
    if (before.count(dir) == 0) token_dir_ = dir;
  }
  if (token_dir_.empty()) throw std::runtime_error("no new token directory for " + label_);

  pin_file_ = dir_.path() / "user.pin";
  WriteSecretFile(pin_file_, pin_ + "\n");
}

std::filesystem::path SoftHsmToken::tokens_root() { return Shared().tokens; }
std::filesystem::path SoftHsmToken::conf_path() { return Shared().conf; }

hsm::HsmConfig SoftHsmToken::config() const {
  if (nss_ != nullptr) return nss_->config();
  return hsm::HsmConfig{module_path(), label_, pin_file(), {}};
}

std::string SoftHsmToken::WriteFile(std::string_view name, std::string_view content) const {
  const std::filesystem::path path = dir_.path() / name;
  WriteSecretFile(path, content);
  return path.string();
}

std::string SoftHsmToken::ShellEnv() { return "SOFTHSM2_CONF='" + conf_path().string() + "' "; }

void WaitPastKeyRecheck() {
  std::this_thread::sleep_for(hsm::kKeyRecheckInterval + std::chrono::milliseconds(200));
}

}  // namespace escrow::testing
