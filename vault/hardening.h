#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/status.h"

namespace escrow::vault {

// Process hardening for the programs that hold plaintext key material (vaultd, vaultctl):
// DESIGN.md invariant 7, "no non-root process, not even one of the vault's own user, can dump
// or ptrace the server". Free functions, no state: each main calls them in order and logs the
// warnings they return (vault/ has no logger). Call them from the main thread.

// What HardenProcess() did. Warnings describe protection that could not be applied but does
// not stop the program (the caller logs each on one line).
struct HardeningReport {
  bool memory_locked = false;  // mlockall(MCL_CURRENT | MCL_FUTURE) is in force
  // Why memory is not locked, if it is not (a server logs it; a short-lived tool may not).
  std::string memory_warning;
  std::vector<std::string> warnings;
};

// Call first thing in main():
//  - RLIMIT_CORE 0 and PR_SET_DUMPABLE 0: no core file, and no process of the same uid may
//    ptrace us or read /proc/PID/mem or /proc/PID/environ (they become root-owned);
//  - umask 077: nothing we create is readable by group or others;
//  - SecretBytes' secure heap (mlock'ed, MADV_DONTDUMP) is set up now, before any secret;
//  - mlockall(MCL_CURRENT | MCL_FUTURE) only if RLIMIT_MEMLOCK is unlimited (with a finite
//    limit MCL_FUTURE would make later allocations fail); otherwise a warning. Sanitizer
//    builds (ESCROW_SANITIZED) never mlockall: the shadow memory is terabytes of reservations.
//    The reason it did not lock goes to `memory_warning`.
// Returns kInternal if core dumps could not be disabled or the process stays dumpable.
Result<HardeningReport> HardenProcess();

// True if the process is non-dumpable and its core size limit is 0 (what HardenProcess set).
bool IsDumpProtected();

// What DropPrivileges() did.
enum class PrivilegeDrop {
  kNotRoot,   // not started as root: nothing to drop
  kNoUser,    // root, but no user configured: still root (the caller warns)
  kDropped,   // now running as the user, without supplementary groups or capabilities
};

// Started as root with a non-empty `user`: setgroups to the user's primary group only, setgid,
// setuid, then verifies that root cannot be regained (setuid(0)/setgid(0) fail, every real,
// effective and saved id is the user's) and marks the process non-dumpable again (a credential
// change resets the flag). Returns kInvalidArgument for an unknown user or one that is root
// itself, kInternal if a step fails or root could be regained.
// REQUIRES: everything that needs root (listener bound, key files read) is done.
Result<PrivilegeDrop> DropPrivileges(std::string_view user);

// Whether InstallSeccomp() installs a filter in this build (false in sanitizer builds, whose
// runtime makes system calls the server never does).
bool SeccompAvailable();

// Installs vaultd's seccomp allowlist on every thread of the process (TSYNC), with
// PR_SET_NO_NEW_PRIVS. Any system call outside the list kills the whole process with SIGSYS
// (SCMP_ACT_KILL_PROCESS). The list is what the running server was seen to need after start-up
// (vault/hardening.cc): Asio's event loop on the already-bound listener, SoftHSMv2's token files
// and SQLite's database files, memory without PROT_EXEC, futexes, signals to itself, time,
// getrandom; new threads only (clone with CLONE_THREAD; clone3 answers ENOSYS so glibc falls
// back to clone); one socket kind, syslog's AF_UNIX datagram socket. Everything that starts
// programs, forks, opens network sockets, debugs or changes credentials is missing: execve,
// fork, socket(AF_INET), ptrace, setuid, mount, bpf, ...
// Returns kInternal if the filter cannot be built or loaded; in sanitizer builds it does
// nothing and returns Ok (see SeccompAvailable()).
// With `database_client` (a PostgreSQL [database] url), libpq's client may also make stream
// sockets (AF_UNIX, AF_INET, AF_INET6) and the resolver's datagram ones, and poll them: each
// node reconnects by itself after the server restarts or fails over. A connect's address
// cannot be filtered; the URL is the operator's (docs/threat-model.md).
// REQUIRES: start-up is done (HSM logged in, database open, listener bound).
Status InstallSeccomp(bool database_client = false);

}  // namespace escrow::vault
