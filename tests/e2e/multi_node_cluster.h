// Several vaultd nodes on one PostgreSQL database, for the multi-node e2e tests: a dev vault
// made by `vaultctl init --dev`, copied into the fixture's PostgreSQL 15 by
// `vaultctl db migrate --to`, then served by two vaultd processes on the same config, SoftHSMv2
// token directory and certificates.
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"
#include "tests/support/postgres_server.h"

namespace escrow::e2e {

// Replaces [database] path with url (and password_file, if given) in `state`/vault.conf.
inline void UseUrl(const std::string& state, const std::string& url,
                   const std::string& password_file = "") {
  const std::string conf = state + "/vault.conf";
  std::ifstream in(conf);
  std::stringstream text;
  std::string line;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.rfind("path = ", 0) == 0) {
      line = "url = " + Quote(url);
      if (!password_file.empty()) line += "\npassword_file = " + Quote(password_file);
      found = true;
    }
    text << line << "\n";
  }
  in.close();
  REQUIRE(found);
  std::ofstream(conf, std::ios::trunc) << text.str();
}

inline std::string Vaultctl(const std::string& args, int* rc = nullptr) {
  std::string out;
  const int status = Sh(Quote(VaultctlPath()) + " " + args + " 2>&1", &out);
  if (rc != nullptr) *rc = status;
  return out;
}

// A FileVault-shaped key unique to (writer, i): "KEYW-XXXX-..." in letters only.
inline std::string KeyFor(int writer, int i) {
  std::string group;
  for (int n = i, d = 0; d < 4; ++d, n /= 26) group += static_cast<char>('A' + n % 26);
  return std::string("KEY") + static_cast<char>('A' + writer) + "-" + group +
         "-MNOP-QRST-UVWX-ABCD";
}

// The read-back checks retrieve every acknowledged key as one helpdesk user: no per-user caps.
inline std::vector<std::pair<std::string, std::string>> Uncapped() {
  return {{"daily_quota", "0"},
          {"retrieve_per_user", "{ count = 0, window_seconds = 60 }"},
          {"requests_per_user", "{ count = 0, window_seconds = 60 }"}};
}

struct Cluster {
  testing::PostgresServer& pg;
  VaultProcess a;
  std::unique_ptr<VaultProcess> b;
  std::string database;

  explicit Cluster(testing::PostgresServer& server,
                   const std::vector<std::pair<std::string, std::string>>& settings = {})
      : pg(server) {
    Result<std::string> name = pg.CreateEmptyDatabase();
    REQUIRE(name.ok());
    database = *name;
    for (const auto& [key, value] : settings) Configure(a, key, value);
    int rc = 0;
    const std::string out = Vaultctl("db migrate --config " + Quote(a.state() + "/vault.conf") +
                                         " --to " + Quote(pg.Url(database)),
                                     &rc);
    INFO(out);
    REQUIRE(rc == 0);
    REQUIRE_THAT(out, Catch::Contains("audit head"));
    UseUrl(a.state(), pg.Url(database));
    // Two nodes on one token: each keeps its own checkpoint (hsm/data_object.h).
    const bool a_started = a.Start({"--node", "a"});
    INFO(a.Log());
    REQUIRE(a_started);
    b = std::make_unique<VaultProcess>(VaultProcess::SameStateAs{a});
    const bool b_started = b->Start({"--node", "b"});
    INFO(b->Log());
    REQUIRE(b_started);
  }
  // The config both nodes (and vaultctl) use.
  std::string Config() const { return a.state() + "/vault.conf"; }
  // `vaultctl audit verify` on the shared config (any node may be stopped or running).
  std::string Verify(int* rc) const {
    return Vaultctl("audit verify --config " + Quote(Config()), rc);
  }
  // One query run by psql as the superuser: the rows, unaligned, '|' between columns.
  std::string Query(const std::string& sql) const {
    std::string out;
    const int rc =
        Sh("/usr/lib/postgresql/15/bin/psql -X -A -t -q -h " + Quote(pg.dir()) + " -U " +
               Quote(pg.user()) + " -d " + Quote(database) + " -c " + Quote(sql) + " 2>&1",
           &out);
    INFO(sql << ": " << out);
    REQUIRE(rc == 0);
    return out;
  }
};

inline HttpResult StoreKey(const VaultProcess& node, const std::string& token,
                           const std::string& id, const std::string& key) {
  return node.As(token, "PUT", "/v1/devices/" + id + "/recovery-key", KeyBody(key, key));
}

// Enrols (mdm) a corporate macOS device of alice's with a serial and name of its own, and
// checks it in; false if either call was not answered 2xx.
inline bool EnrolOwn(const VaultProcess& node, const std::string& id) {
  const std::string body = R"({"serial":"S-)" + id + R"(","name":"D )" + id +
                           R"(","platform":"macos","ownership":"corporate",)"
                           R"("owner":"alice@example.com","encryption_enabled":true})";
  if (node.Mdm("PUT", "/v1/devices/" + id, body).status / 100 != 2) return false;
  return node.Mdm("POST", "/v1/devices/" + id + "/checkin", "{}").status == 200;
}

inline HttpResult HelpdeskRetrieve(const VaultProcess& node, const std::string& token,
                                   const std::string& id) {
  return node.As(token, "POST", "/v1/devices/" + id + "/recovery-key/retrieve",
                 R"({"reason":"locked out, ticket 7"})");
}

}  // namespace escrow::e2e
