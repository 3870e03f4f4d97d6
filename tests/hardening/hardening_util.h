#pragma once

#include <pwd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#ifndef ESCROW_SECCOMP_PROBE_PATH
#error "ESCROW_SECCOMP_PROBE_PATH must be defined by the build"
#endif

namespace escrow::hardening_test {

// The unprivileged account the non-root tests run as; .ci/run creates it.
inline constexpr const char* kTestUser = "escrow-test";

struct TestUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The test user, or nullopt after a WARN saying why the test is skipped (not root, or the user
// does not exist). Catch2 v2 has no SKIP: a skipped test shows a WARN line, never a silent pass.
inline std::optional<TestUser> UnprivilegedUser() {
  if (geteuid() != 0) {
    WARN("SKIPPED: needs root to start vaultd and switch to the user " << kTestUser
                                                                       << " (CI runs as root)");
    return std::nullopt;
  }
  const passwd* pw = getpwnam(kTestUser);
  if (pw == nullptr) {
    WARN("SKIPPED: user " << kTestUser << " is missing; create it with `useradd --system "
                          << "--no-create-home " << kTestUser << "` (.ci/run does)");
    return std::nullopt;
  }
  return TestUser{kTestUser, pw->pw_uid, pw->pw_gid};
}

// Exit status of a waitpid status, or minus the signal that killed it.
inline int DecodeWait(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

// Runs `fn` in a forked child and returns its return value (or minus the killing signal).
inline int RunInChild(const std::function<int()>& fn) {
  const pid_t pid = fork();
  if (pid == 0) _exit(fn());
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1000;
  return DecodeWait(status);
}

// Runs tests/hardening/seccomp_probe ACTION; returns its exit status or minus its signal.
inline int RunProbe(const std::string& action, std::string* out = nullptr) {
  int fds[2];
  if (pipe(fds) != 0) return -1000;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(ESCROW_SECCOMP_PROBE_PATH, ESCROW_SECCOMP_PROBE_PATH, action.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char buf[512];
  ssize_t n = 0;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) {
    if (out != nullptr) out->append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1000;
  return DecodeWait(status);
}

}  // namespace escrow::hardening_test
