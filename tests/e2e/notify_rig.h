#pragma once

// vault-notify end to end: the real vault-notify binary between the real vaultd and the real
// webhook receiver of tests/support/webhook_receiver.py (HMAC-checked batches recorded to a
// file), each a child process of the test.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "tests/e2e/vault_process.h"

namespace escrow::e2e {

// One child process, its stdout and stderr appended to a log file. SIGKILLed if still running
// when the owner goes.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;  // owns a process
  Child& operator=(const Child&) = delete;
  ~Child();

  bool Spawn(std::vector<std::string> args, const std::string& log_path);
  void Signal(int sig) const;
  // The exit status (-1 if killed by a signal), or -2 if it is still running after `wait`.
  int Wait(std::chrono::milliseconds wait);
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

// A receiver's record of one accepted batch.
struct Batch {
  std::vector<std::uint64_t> ids;
  boost::json::array events;
};

class NotifyRig {
 public:
  explicit NotifyRig(const VaultProcess& v);

  // Starts the receiver (extra flags such as "--fail", "3") and waits for its port.
  bool StartReceiver(const std::vector<std::string>& flags = {});
  // POST /control to the receiver: {"fail":N,"fail_for":S,"mode":"..."}.
  void ControlReceiver(const std::string& json) const;
  // notify.conf as vaultctl init --dev wrote it, pointed at this vaultd and receiver, with
  // short test timings (poll 1 s, backoff 100 ms..1 s), then `overrides` (key -> TOML value).
  // vault_url and webhook_url stay as written until vaultd or the receiver runs.
  void WriteConfig(const std::map<std::string, std::string>& overrides = {});
  // vault-notify --config ... [--once].
  bool StartRelay();
  int RunOnce(std::chrono::seconds wait = std::chrono::seconds(30));
  Child& relay() { return relay_; }
  std::string RelayLog() const;

  std::vector<Batch> Batches() const;
  // Every id the receiver accepted, in arrival order, duplicates included.
  std::vector<std::uint64_t> Arrivals() const;
  // Lines of the record that are not accepted batches ({"ok":false,...}).
  int Refusals(const std::string& why_prefix = "") const;
  // Waits up to 10 s for a refusal line starting with `why_prefix`.
  bool WaitForRefusal(const std::string& why_prefix) const;
  // Waits until every id in `want` has arrived.
  bool WaitForIds(const std::set<std::uint64_t>& want, std::chrono::seconds wait) const;

  // GET /v1/events (admin), every page: the events as vaultd keeps them.
  boost::json::array VaultEvents() const;
  static std::set<std::uint64_t> Ids(const boost::json::array& events);
  // vault_events_undelivered_oldest_seconds from /v1/metrics, or -1 if absent.
  double LagSeconds() const;

  // StartReceiver(receiver_flags), WriteConfig with batch_size, StoreKeys("mac", keys).
  void Prepare(const std::vector<std::string>& receiver_flags, int batch_size, int keys);

  // Enrols `n` devices "<prefix>0".. and stores a key for each as mdm: n recovery_key.stored.
  void StoreKeys(const std::string& prefix, int n) const;

  int receiver_port() const { return receiver_port_; }
  std::string conf_path() const { return dir_ + "/notify-test.conf"; }

 private:
  const VaultProcess& v_;
  std::string dir_;
  std::string record_;
  int receiver_port_ = 0;
  Child receiver_;
  Child relay_;
};

}  // namespace escrow::e2e
