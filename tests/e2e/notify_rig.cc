#include "tests/e2e/notify_rig.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

#ifndef ESCROW_VAULT_NOTIFY_PATH
#error "ESCROW_VAULT_NOTIFY_PATH must be defined by the build"
#endif

namespace escrow::e2e {
namespace {

using std::chrono::milliseconds;

std::string MacKey(int i) {
  std::string tail;
  for (int k = 0; k < 4; ++k, i /= 26) tail.insert(tail.begin(), static_cast<char>('A' + i % 26));
  return "QRST-UVWX-ABCD-EFGH-JKLM-" + tail;
}

}  // namespace

Child::~Child() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

bool Child::Spawn(std::vector<std::string> args, const std::string& log_path) {
  pid_ = SpawnLogged(std::move(args), log_path);
  return pid_ > 0;
}

void Child::Signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

int Child::Wait(milliseconds wait) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  int status = 0;
  do {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return -2;
}

NotifyRig::NotifyRig(const VaultProcess& v)
    : v_(v), dir_(v.tmp()), record_(v.tmp() + "/webhook.jsonl") {}

bool NotifyRig::StartReceiver(const std::vector<std::string>& flags) {
  const std::string port_file = dir_ + "/receiver.port";
  std::filesystem::remove(port_file);
  std::vector<std::string> args = {"python3",       ESCROW_WEBHOOK_RECEIVER,
                                   "--secret-file", v_.state() + "/notify.secret",
                                   "--record",      record_,
                                   "--port-file",   port_file};
  if (receiver_port_ != 0) args.insert(args.end(), {"--port", std::to_string(receiver_port_)});
  args.insert(args.end(), flags.begin(), flags.end());
  if (!receiver_.Spawn(args, dir_ + "/receiver.log")) return false;
  for (int i = 0; i < 500; ++i) {
    if (std::filesystem::exists(port_file)) {
      receiver_port_ = std::stoi(testing::ReadFileBytes(port_file));
      return true;
    }
    if (receiver_.Wait(milliseconds(20)) != -2) return false;
  }
  return false;
}

void NotifyRig::ControlReceiver(const std::string& json) const {
  REQUIRE(Sh("curl -sS -o /dev/null --max-time 10 -d " + Quote(json) +
             " http://127.0.0.1:" + std::to_string(receiver_port_) + "/control") == 0);
}

void NotifyRig::WriteConfig(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> values = {{"poll_seconds", "1"},
                                               {"backoff_initial_ms", "100"},
                                               {"backoff_max_ms", "1000"},
                                               {"timeout_ms", "5000"}};
  // Those vaultctl wrote stand until a vaultd or a receiver runs.
  if (v_.port() != 0)
    values["vault_url"] = "\"https://127.0.0.1:" + std::to_string(v_.port()) + "\"";
  if (receiver_port_ != 0) {
    values["webhook_url"] = "\"http://127.0.0.1:" + std::to_string(receiver_port_) + "/events\"";
  }
  for (const auto& [k, val] : overrides) values[k] = val;
  std::ifstream in(v_.state() + "/notify.conf");
  REQUIRE(in);
  std::ostringstream out;
  for (std::string line; std::getline(in, line);) {
    const std::string key = line.substr(0, line.find(" = "));
    if (auto it = values.find(key); it != values.end()) {
      line = key + " = " + it->second;
      values.erase(it);
    }
    out << line << "\n";
  }
  for (const auto& [k, val] : values) out << k << " = " << val << "\n";
  WriteFile(conf_path(), out.str());
}

bool NotifyRig::StartRelay() {
  return relay_.Spawn({ESCROW_VAULT_NOTIFY_PATH, "--config", conf_path()}, dir_ + "/notify.log");
}

int NotifyRig::RunOnce(std::chrono::seconds wait) {
  Child once;
  REQUIRE(once.Spawn({ESCROW_VAULT_NOTIFY_PATH, "--config", conf_path(), "--once"},
                     dir_ + "/notify.log"));
  return once.Wait(wait);
}

std::string NotifyRig::RelayLog() const { return testing::ReadFileBytes(dir_ + "/notify.log"); }

std::vector<Batch> NotifyRig::Batches() const {
  std::vector<Batch> batches;
  std::istringstream in(testing::ReadFileBytes(record_));
  for (std::string line; std::getline(in, line);) {
    const boost::json::value v = Json(line);
    if (!v.is_object() || !v.at("ok").as_bool()) continue;
    Batch b;
    for (const boost::json::value& id : v.at("ids").as_array())
      b.ids.push_back(id.to_number<std::uint64_t>());
    b.events = v.at("events").as_array();
    batches.push_back(std::move(b));
  }
  return batches;
}

std::vector<std::uint64_t> NotifyRig::Arrivals() const {
  std::vector<std::uint64_t> ids;
  for (const Batch& b : Batches()) ids.insert(ids.end(), b.ids.begin(), b.ids.end());
  return ids;
}

int NotifyRig::Refusals(const std::string& why_prefix) const {
  int n = 0;
  std::istringstream in(testing::ReadFileBytes(record_));
  for (std::string line; std::getline(in, line);) {
    const boost::json::value v = Json(line);
    if (v.is_object() && !v.at("ok").as_bool() &&
        std::string(v.at("why").as_string()).rfind(why_prefix, 0) == 0) {
      ++n;
    }
  }
  return n;
}

bool NotifyRig::WaitForRefusal(const std::string& why_prefix) const {
  for (int i = 0; i < 200; ++i) {
    if (Refusals(why_prefix) > 0) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

bool NotifyRig::WaitForIds(const std::set<std::uint64_t>& want, std::chrono::seconds wait) const {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  do {
    const std::vector<std::uint64_t> got = Arrivals();
    const std::set<std::uint64_t> have(got.begin(), got.end());
    if (std::includes(have.begin(), have.end(), want.begin(), want.end())) return true;
    std::this_thread::sleep_for(milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

boost::json::array NotifyRig::VaultEvents() const {
  const std::string admin = v_.Token("sec@example.com", "--roles admin");
  boost::json::array all;
  std::uint64_t after = 0;
  for (;;) {
    const HttpResult r =
        v_.As(admin, "GET", "/v1/events?after=" + std::to_string(after) + "&limit=1000");
    INFO(r.body);
    REQUIRE(r.status == 200);
    const boost::json::value page = Json(r.body);
    for (const boost::json::value& e : page.at("events").as_array()) all.push_back(e);
    if (page.at("next_after").is_null()) return all;
    after = page.at("next_after").to_number<std::uint64_t>();
  }
}

std::set<std::uint64_t> NotifyRig::Ids(const boost::json::array& events) {
  std::set<std::uint64_t> ids;
  for (const boost::json::value& e : events) ids.insert(e.at("id").to_number<std::uint64_t>());
  return ids;
}

double NotifyRig::LagSeconds() const {
  const HttpResult r = v_.Mdm("GET", "/v1/metrics");
  REQUIRE(r.status == 200);
  std::istringstream in(r.body);
  const std::string name = "vault_events_undelivered_oldest_seconds";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) == 0 && line.size() > name.size() &&
        (line[name.size()] == ' ' || line[name.size()] == '{')) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return -1;
}

void NotifyRig::Prepare(const std::vector<std::string>& receiver_flags, int batch_size, int keys) {
  REQUIRE(StartReceiver(receiver_flags));
  WriteConfig({{"batch_size", std::to_string(batch_size)}});
  StoreKeys("mac", keys);
}

void NotifyRig::StoreKeys(const std::string& prefix, int n) const {
  for (int i = 0; i < n; ++i) {
    const std::string id = prefix + std::to_string(i);
    v_.Enrol(id, "alice@example.com", "corporate");
    const HttpResult r = v_.Mdm("PUT", "/v1/devices/" + id + "/recovery-key",
                                R"({"recovery_key":")" + MacKey(i) + R"("})");
    INFO(r.body);
    REQUIRE(r.status / 100 == 2);
  }
}

}  // namespace escrow::e2e
