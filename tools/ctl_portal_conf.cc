#include "tools/ctl_portal_conf.h"

#include "base/host_port.h"
#include "base/result.h"
#include "vault/ops/files.h"

namespace escrow::tools {

Status WriteDevPortalConf(const std::filesystem::path& state_dir,
                          const std::string& vault_listen) {
  ESCROW_ASSIGN_OR_RETURN(HostPort vault, ParseHostPort(vault_listen, "--listen"));
  const std::string host = vault.host.find(':') != std::string::npos ? "[" + vault.host + "]"
                                                                      : vault.host;
  const std::uint16_t port =
      vault.port == 0 || vault.port == 65535 ? std::uint16_t{8444}
                                             : static_cast<std::uint16_t>(vault.port + 1);
  const std::string text =
      "# portald's config for the development state (vaultctl init --dev). Relative paths are\n"
      "# taken from this folder; unknown keys are refused.\n"
      "dev = true   # the dev sign-in below; portald then serves on loopback only\n"
      "listen = \"" + host + ":" + std::to_string(port) + "\"\n"
      "\n[tls]\ncert = \"tls/server.crt\"\nkey = \"tls/server.key\"\n"
      "\n[vault]      # called over mTLS as the frontend client\n"
      "url = \"https://" + host + ":" + std::to_string(vault.port) + "\"\n"
      "ca = \"tls/ca.crt\"\n"
      "client_cert = \"tls/clients/portal.crt\"\nclient_key = \"tls/clients/portal.key\"\n"
      "\n[dev_signin] # tokens signed by the development identity provider\n"
      "signing_key = \"idp/dev-signing.key\"\n"
      "issuer = \"https://idp.dev.local\"\naudience = \"escrow-vault\"\n"
      "token_seconds = 3600\n"
      "users = [\n"
      "  { name = \"alice\", roles = [] },\n"
      "  { name = \"bob\", roles = [] },\n"
      "  { name = \"hd1\", roles = [\"helpdesk\"] },\n"
      "  { name = \"approver1\", roles = [\"approver\"] },\n"
      "  { name = \"admin1\", roles = [\"admin\"] },\n"
      "  { name = \"auditor1\", roles = [\"auditor\"] },\n"
      "]\n";
  return ops::WriteNewFile(state_dir / "portal.conf", text, 0600);
}

}  // namespace escrow::tools
