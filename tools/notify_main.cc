// vault-notify: relays vaultd's events to a webhook (API.md, "Events for owners and security
// teams"; docs/operations.md, "Relaying events"). A client of the API like any other: its own
// client certificate (role notifier), no access to the vault's files. Exit status: 0 after a
// stop (SIGTERM/SIGINT) or, with --once, once everything available was delivered; 1 if
// --once could not deliver; 2 if it cannot start (config, secret, state, certificates).

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <exception>
#include <string>

#include "base/secret_bytes.h"
#include "tools/notify_config.h"
#include "tools/notify_cursor.h"
#include "tools/notify_http.h"
#include "tools/notify_relay.h"
#include "tools/notify_signature.h"
#include <CLI/CLI.hpp>

namespace escrow::tools {
namespace {

std::atomic<bool> g_stop{false};  // lock-free, so the signal handler may set it
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnStopSignal(int /*sig*/) { g_stop.store(true); }

// The secret must not end up in a core file, and nothing we create is for others.
void Harden() {
  const rlimit no_core{0, 0};
  (void)setrlimit(RLIMIT_CORE, &no_core);
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  (void)umask(077);
  (void)SecretBytes::InitSecureHeap();  // an unlocked heap still wipes; nothing to warn about
}

void InstallSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  (void)sigaction(SIGTERM, &sa, nullptr);
  (void)sigaction(SIGINT, &sa, nullptr);
  (void)signal(SIGPIPE, SIG_IGN);  // a closed peer is an error code, not a death
}

int Fail(int code, std::string_view msg, const Status& status) {
  NotifyLog("error", msg, {{"error", status.message()}});
  return code;
}

int Run(const std::string& config_path, bool once) {
  Result<NotifyConfig> config = LoadNotifyConfig(config_path);
  if (!config.ok()) return Fail(2, "bad config", config.status());
  Result<SecretBytes> secret = LoadWebhookSecret(config->secret_file);
  if (!secret.ok()) return Fail(2, "bad secret_file", secret.status());
  Result<Cursor> cursor = Cursor::Open(config->state_dir);
  if (!cursor.ok()) return Fail(2, "cannot open the state", cursor.status());
  Result<std::unique_ptr<HttpClient>> vault = HttpClient::Create(
      config->vault, {config->ca, config->cert, config->key}, config->timeout, g_stop);
  if (!vault.ok()) return Fail(2, "cannot set up the vault client", vault.status());
  Result<std::unique_ptr<HttpClient>> webhook =
      HttpClient::Create(config->webhook, {config->webhook_ca, {}, {}}, config->timeout, g_stop);
  if (!webhook.ok()) return Fail(2, "cannot set up the webhook client", webhook.status());
  Relay relay(*config, std::move(*secret), std::move(*cursor), std::move(*vault),
              std::move(*webhook), g_stop);
  if (Status s = relay.Run(once); !s.ok()) return Fail(1, "relay failed", s);
  return 0;
}

}  // namespace
}  // namespace escrow::tools

int main(int argc, char** argv) {
  escrow::tools::Harden();
  escrow::tools::InstallSignals();
  try {
    CLI::App app{"vault-notify: relays vaultd's events to a signed webhook"};
    std::string config;
    bool once = false;
    app.add_option("--config", config, "notify.conf")->required();
    app.add_flag("--once", once, "deliver what is there now, then exit (for cron)");
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app.exit(e) == 0 ? 0 : 2;
    }
    return escrow::tools::Run(config, once);
  } catch (const std::exception& e) {
    // NotifyLog itself may throw (allocation); stderr is the last resort.
    (void)std::fputs("vault-notify: unexpected failure: ", stderr);
    (void)std::fputs(e.what(), stderr);
    (void)std::fputc('\n', stderr);
    return 1;
  }
}
