// The checkpoint's crash safety with real faults: a writer process (checkpoint_writer.cc) is
// killed with SIGKILL at random moments, over and over, and the token must still hold a
// checkpoint that decodes: the last one acknowledged, or the one being written, never none and
// never an older one. (A power cut is the token-directory sync's business, not shown here.)

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/hsm/key_service_fixture.h"
#include "tests/hsm/pkcs11_tool.h"
#include "tests/support/softhsm_token.h"

extern char** environ;  // NOLINT: POSIX, for posix_spawn

namespace escrow::hsm {
namespace {

using escrow::testing::SoftHsmToken;

std::uint64_t U64Be(const Bytes& value) {
  REQUIRE(value.size() == 8);
  std::uint64_t v = 0;
  for (const std::uint8_t b : value) v = (v << 8U) | b;
  return v;
}

// Runs the writer from `first` until it is ready (logged in), then for `run`, then SIGKILLs it;
// returns the numbers it acknowledged.
std::vector<std::uint64_t> RunAndKill(const SoftHsmToken& token, std::uint64_t first,
                                      std::chrono::microseconds run) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  REQUIRE(posix_spawn_file_actions_init(&actions) == 0);
  REQUIRE(posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO) == 0);
  const std::string first_text = std::to_string(first);
  const std::string module = token.module_path();
  const std::string pin_file = token.pin_file();
  std::vector<char*> argv = {const_cast<char*>(CHECKPOINT_WRITER_PATH),  // NOLINT
                             const_cast<char*>(module.c_str()),          // NOLINT
                             const_cast<char*>(token.label().c_str()),   // NOLINT
                             const_cast<char*>(pin_file.c_str()),        // NOLINT
                             const_cast<char*>(first_text.c_str()),      // NOLINT
                             nullptr};
  pid_t pid = 0;
  const int spawned =
      posix_spawn(&pid, CHECKPOINT_WRITER_PATH, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  REQUIRE(spawned == 0);
  std::string out;
  char buf[4096];
  while (out.find('\n') == std::string::npos) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  std::this_thread::sleep_for(run);
  ::kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  INFO("writer exit status " << status);
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));  // it was still writing
  std::vector<std::uint64_t> acked;
  std::istringstream lines(out);
  std::string ready;
  std::getline(lines, ready);
  REQUIRE(ready == "ready");
  for (std::string line; std::getline(lines, line);) acked.push_back(std::stoull(line));
  return acked;
}

TEST_CASE(
    "A checkpoint writer killed at random moments never leaves the token without the "
    "newest acknowledged checkpoint",
    "[hsm][checkpoint][faults]") {
  ESCROW_SKIP_ON_NSS(
      "no private data objects: the checkpoint is not kept (checkpoint_nss_test.cc)");
  SoftHsmToken token;
  std::uint64_t current = 0;  // the value the token holds (0: none yet)
  std::mt19937 rng(std::random_device{}());
  // A write takes 20-50 ms on the build VM (mostly the fsyncs): kills land before the first write,
  // between writes and inside them (creating the new object, syncing, destroying the old one).
  std::uniform_int_distribution<int> run_us(0, 120'000);
  constexpr int kRounds = 30;
  int with_acks = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::uint64_t first = current + 1;
    const std::vector<std::uint64_t> acked =
        RunAndKill(token, first, std::chrono::microseconds(run_us(rng)));
    std::unique_ptr<KeyService> keys = OpenKeys(token);
    Result<std::optional<Bytes>> read = keys->ReadCheckpoint();
    INFO("round " << round << ", acknowledged " << acked.size() << " from " << first);
    INFO(read.status().ToString());
    REQUIRE(read.ok());
    if (acked.empty()) {
      // Killed before its first write returned: the old checkpoint, or the first new one.
      if (current == 0 && !read->has_value()) continue;
      REQUIRE(read->has_value());
      const std::uint64_t v = U64Be(**read);
      CHECK((v == current || v == first));
      current = v;
      continue;
    }
    ++with_acks;
    REQUIRE(read->has_value());
    const std::uint64_t v = U64Be(**read);
    // Durable on return: never older than the last acknowledged; at most the one in flight.
    CHECK(v >= acked.back());
    CHECK(v <= acked.back() + 1);
    current = v;
  }
  CHECK(with_acks > 0);
  // One complete write afterwards cleans up whatever the kills left.
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Bytes last;
  AppendU64Be(last, current + 1);
  REQUIRE(keys->WriteCheckpoint(last).ok());
  Result<std::optional<Bytes>> read = keys->ReadCheckpoint();
  REQUIRE(read.ok());
  CHECK(*read == last);
  CHECK(ListedCheckpoints(token) == 1);
}

}  // namespace
}  // namespace escrow::hsm
