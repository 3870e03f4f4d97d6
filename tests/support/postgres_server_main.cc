// escrow_test_postgres start|start-tls|stop STATE: ctest's fixtures for one PostgreSQL server
// per test run (tests/support/postgres_server.h). `start` stops a server a previous,
// interrupted run left, starts a new one (`start-tls`: one that also takes TLS connections
// with a password, PostgresServer::Options::tls) and writes its socket directory, superuser
// and port to STATE; `stop` stops it and removes STATE.

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "tests/support/postgres_server.h"

namespace {

int Fail(const escrow::Status& s) {
  (void)std::fprintf(stderr, "escrow_test_postgres: %s\n", s.ToString().c_str());
  return 1;
}

void StopFromState(const std::string& state) {
  std::ifstream in(state);
  std::string dir;
  if (std::getline(in, dir) && !dir.empty()) (void)escrow::testing::PostgresServer::StopAt(dir);
  (void)std::remove(state.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    (void)std::fprintf(stderr, "usage: escrow_test_postgres start|start-tls|stop STATE\n");
    return 2;
  }
  const std::string_view command = argv[1];
  const std::string state = argv[2];
  StopFromState(state);
  if (command == "stop") return 0;
  if (command != "start" && command != "start-tls") return 2;
  escrow::Result<std::unique_ptr<escrow::testing::PostgresServer>> server =
      escrow::testing::PostgresServer::Start({.tls = command == "start-tls"});
  if (!server.ok()) return Fail(server.status());
  if (escrow::Status s = (*server)->WriteState(state); !s.ok()) return Fail(s);
  (*server)->Detach();  // left running for the test processes; `stop` ends it
  return 0;
}
