// vaultctl dev-token --state-dir DIR --sub USER [--roles R1,R2] [--ttl S] [--nbf S]
//                    [--iss X] [--aud X]: a JWT of the development IdP (ops::MintDevToken).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "tools/ctl_commands.h"
#include "vault/config.h"
#include "vault/ops/dev_token.h"

namespace escrow::tools {

void AddDevTokenCommand(CLI::App& app, CtlRunner& run) {
  struct Args {
    std::string state_dir, sub, roles, iss, aud;
    std::int64_t ttl = 3600;
    std::optional<std::int64_t> nbf;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("dev-token", "Print a JWT of the development IdP");
  cmd->add_option("--state-dir", args->state_dir, "Development state directory")->required();
  cmd->add_option("--sub", args->sub, "Subject (the user)")->required();
  cmd->add_option("--roles", args->roles, "Comma-separated roles, e.g. helpdesk,admin");
  cmd->add_option("--ttl", args->ttl, "Seconds until exp (may be negative)")->capture_default_str();
  cmd->add_option("--nbf", args->nbf, "nbf in seconds from now (may be negative)");
  cmd->add_option("--iss", args->iss, "Issuer (default: the config's first issuer)");
  cmd->add_option("--aud", args->aud, "Audience (default: the config's audience)");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      const std::filesystem::path dir(args->state_dir);
      ops::DevTokenClaims claims;
      claims.sub = args->sub;
      claims.roles = ops::SplitRoles(args->roles);
      claims.iss = args->iss;
      claims.aud = args->aud;
      if (claims.iss.empty() || claims.aud.empty()) {
        Result<vault::VaultConfig> config = vault::LoadConfig((dir / "vault.conf").string());
        if (!config.ok()) return CtlFail(config.status(), "dev-token");
        if (!config->dev) return CtlUsage("dev-token works only on a dev state (dev = true)");
        if (claims.iss.empty() && !config->issuers.empty()) claims.iss = config->issuers.front();
        if (claims.aud.empty()) claims.aud = config->audience;
      }
      const std::int64_t now = ToUnixSeconds(Clock::System().Now());
      claims.iat = now;
      claims.exp = now + args->ttl;
      if (args->nbf) claims.nbf = now + *args->nbf;
      Result<std::string> token = ops::MintDevToken(claims, dir / "idp" / "dev-signing.key");
      if (!token.ok()) return CtlFail(token.status(), "dev-token");
      return CtlPrint(*token + "\n");
    };
  });
}

}  // namespace escrow::tools
