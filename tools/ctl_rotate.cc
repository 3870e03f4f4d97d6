// vaultctl master-key rotate --config FILE [--retire-old --yes]: ops::Rotate (the steps and
// why they are safe to interrupt are in vault/ops/rotate.h).

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "tools/ctl_commands.h"
#include "vault/ops/rotate.h"
#include "vault/ops/vault_access.h"

namespace escrow::tools {
namespace {

// Test hook for the crash tests: ESCROW_CTL_CRASH_AT=<point> makes the process SIGKILL itself
// at that point ("target", "keygen", "activate", "batch:<n>" after the n-th committed batch,
// "complete"), exactly as a kill -9 from outside would. Harmless in production: it can only
// stop the process at a point where stopping is already safe.
std::function<void(std::string_view)> CrashPoints() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, before any thread
  const char* at = std::getenv("ESCROW_CTL_CRASH_AT");
  if (at == nullptr || *at == '\0') return {};
  return [at = std::string(at)](std::string_view point) {
    if (point == at) (void)::raise(SIGKILL);  // a crash test: nothing after it runs
  };
}

// ESCROW_CTL_ROTATE_BATCH: records per transaction (tests use small batches).
std::size_t BatchSize() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, before any thread
  const char* env = std::getenv("ESCROW_CTL_ROTATE_BATCH");
  if (env == nullptr) return ops::kDefaultRotateBatch;
  const long n = std::strtol(env, nullptr, 10);
  return n > 0 && n <= 100000 ? static_cast<std::size_t>(n) : ops::kDefaultRotateBatch;
}

}  // namespace

void AddRotateCommand(CLI::App& master_key, CtlRunner& run) {
  struct Args {
    std::string config;
    bool retire_old = false;
    bool yes = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = master_key.add_subcommand("rotate", "Rotate the master key (online, resumable)");
  cmd->add_option("--config", args->config, "vault.conf")->required();
  cmd->add_flag("--retire-old", args->retire_old,
                "Destroy old master-key versions that no record uses (needs --yes)");
  cmd->add_flag("--yes", args->yes, "Confirm --retire-old");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      if (args->retire_old && !args->yes) {
        return CtlUsage(
            "master-key rotate --retire-old destroys old master keys: database backups taken "
            "before the rotation become unreadable. Add --yes to confirm");
      }
      if (args->yes && !args->retire_old) return CtlUsage("--yes goes with --retire-old");
      CtlPrepareSecrets();
      Result<vault::VaultConfig> config = LoadCtlConfig(args->config);
      if (!config.ok()) return CtlFail(config.status(), "master-key rotate");
      ops::RotateOptions options;
      options.retire_old = args->retire_old;
      options.batch = BatchSize();
      options.at_point = CrashPoints();
      options.notes = &std::cerr;
      options.notes_on_terminal = ::isatty(STDERR_FILENO) == 1;
      Result<ops::OpenedVault> vault = ops::OpenVault(*config, true);
      if (!vault.ok()) return CtlFail(vault.status(), "master-key rotate");
      Result<ops::RotateReport> report = ops::Rotate(options, vault->view());
      if (!report.ok()) return CtlFail(report.status(), "master-key rotate");
      return CtlPrint(report->text);
    };
  });
}

}  // namespace escrow::tools
