#include "vault/hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <functional>
#include <string>

#include <catch2/catch.hpp>

#include "tests/hardening/hardening_util.h"

namespace escrow::vault {
namespace {

using hardening_test::RunInChild;

TEST_CASE("HardenProcess disables core dumps, ptrace by the same user and sets umask 077",
          "[hardening]") {
  // In a child: the flags stick to the process that sets them.
  const int status = RunInChild([] {
    Result<HardeningReport> report = HardenProcess();
    if (!report.ok()) return 10;
    rlimit core{};
    if (getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0) return 11;
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return 12;
    const mode_t old = umask(0);
    if (old != 077) return 13;
    if (!IsDumpProtected()) return 14;
    // A raised core limit cannot come back: the hard limit is 0 too (unless root raises it).
    rlimit more{RLIM_INFINITY, RLIM_INFINITY};
    if (geteuid() != 0 && setrlimit(RLIMIT_CORE, &more) == 0) return 15;
    return 0;
  });
  CHECK(status == 0);
}

TEST_CASE("HardenProcess locks all memory only with an unlimited RLIMIT_MEMLOCK, else warns",
          "[hardening]") {
  SECTION("a finite limit: one warning naming RLIMIT_MEMLOCK, nothing locked") {
    const int status = RunInChild([] {
      rlimit limit{8U << 20, 8U << 20};
      if (setrlimit(RLIMIT_MEMLOCK, &limit) != 0) return 20;
      Result<HardeningReport> report = HardenProcess();
      if (!report.ok() || report->memory_locked) return 21;
      const bool warned = report->memory_warning.find("RLIMIT_MEMLOCK") != std::string::npos;
      if (!SeccompAvailable()) return warned ? 22 : 0;  // sanitizers never mlockall
      return warned ? 0 : 23;
    });
    CHECK(status == 0);
  }
  SECTION("unlimited: mlockall is in force (VmLck covers the whole process)") {
    if (!SeccompAvailable()) {
      WARN("SKIPPED: sanitizer builds never mlockall");
      return;
    }
    const int status = RunInChild([] {
      rlimit limit{RLIM_INFINITY, RLIM_INFINITY};
      if (setrlimit(RLIMIT_MEMLOCK, &limit) != 0) return 77;  // not root: cannot raise it
      Result<HardeningReport> report = HardenProcess();
      if (!report.ok()) return 30;
      if (!report->memory_locked || !report->memory_warning.empty()) return 31;
      return 0;
    });
    if (status == 77) {
      WARN("SKIPPED: cannot raise RLIMIT_MEMLOCK to unlimited (needs root with CAP_SYS_RESOURCE)");
      return;
    }
    CHECK(status == 0);
  }
}

TEST_CASE("DropPrivileges answers kNotRoot, kNoUser and refuses unknown users", "[hardening]") {
  if (geteuid() != 0) {
    Result<PrivilegeDrop> r = DropPrivileges("nobody");
    REQUIRE(r.ok());
    CHECK(*r == PrivilegeDrop::kNotRoot);
    WARN("SKIPPED: the root cases of DropPrivileges need root");
    return;
  }
  Result<PrivilegeDrop> none = DropPrivileges("");
  REQUIRE(none.ok());
  CHECK(*none == PrivilegeDrop::kNoUser);
  Result<PrivilegeDrop> unknown = DropPrivileges("no-such-user-escrow-xyz");
  CHECK(unknown.status().code() == Code::kInvalidArgument);
  Result<PrivilegeDrop> root = DropPrivileges("root");
  CHECK(root.status().code() == Code::kInvalidArgument);
  CHECK(geteuid() == 0);  // nothing was changed by the refusals
}

TEST_CASE("DropPrivileges ends as the user, without groups, and root cannot be regained",
          "[hardening]") {
  const std::optional<hardening_test::TestUser> user = hardening_test::UnprivilegedUser();
  if (!user) return;  // WARNed
  const int status = RunInChild([&user] {
    Result<PrivilegeDrop> r = DropPrivileges(user->name);
    if (!r.ok() || *r != PrivilegeDrop::kDropped) return 40;
    if (getuid() != user->uid || geteuid() != user->uid) return 41;
    if (getgid() != user->gid || getegid() != user->gid) return 42;
    if (setuid(0) == 0 || setgid(0) == 0) return 43;
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return 44;
    gid_t groups[4];
    const int n = getgroups(4, groups);
    if (n > 1 || (n == 1 && groups[0] != user->gid)) return 45;
    return 0;
  });
  CHECK(status == 0);
}

TEST_CASE("The seccomp allowlist kills a process that makes a forbidden system call",
          "[hardening][seccomp]") {
  if (!SeccompAvailable()) {
    WARN("SKIPPED: sanitizer builds install no seccomp filter (ESCROW_SANITIZED)");
    return;
  }
  SECTION("what the server does is allowed, and the filter is in force") {
    std::string out;
    CHECK(hardening_test::RunProbe("allowed", &out) == 0);
    CHECK(out == "seccomp=filter\n");
  }
  for (const char* action :
       {"ptrace", "execve", "socket-packet", "socket-inet", "socket-unix-stream", "fork",
        "setuid", "mprotect-exec"}) {
    DYNAMIC_SECTION("" << action << " dies with SIGSYS") {
      CHECK(hardening_test::RunProbe(action) == -SIGSYS);
    }
  }
}

}  // namespace
}  // namespace escrow::vault
