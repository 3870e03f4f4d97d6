#include "vault/hardening.h"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <seccomp.h>

#include "base/secret_bytes.h"

namespace escrow::vault {
namespace {

std::string Errno(std::string_view what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

#ifndef ESCROW_SANITIZED
constexpr bool kSanitized = false;
#else
constexpr bool kSanitized = true;
#endif

// System calls the running vaultd makes, found by tracing the e2e suite and the hardening tests
// (every endpoint, errors, drain, shutdown) with `strace -f` from the seccomp() call on
// (docs/threat-model.md tells how to redo it), plus the few marked "not seen" that a rarer
// path of the same libraries takes. Calls with argument rules are added in InstallSeccomp().
constexpr const char* kAllowed[] = {
    // Descriptors: logs (write; writev for glibc's fatal messages), sockets, files.
    "read", "write", "writev", "pread64", "pwrite64", "lseek", "close",
    // SoftHSMv2 reopens, locks (fcntl; flock not seen), reads and closes its token files on
    // every operation, and re-lists the token directory (getdents64, not seen) when another
    // process changed the token. SQLite: locks, fdatasync, ftruncate and unlink of -wal/-shm
    // at close, access() for a hot journal (not seen).
    "openat", "fcntl", "flock", "fstat", "newfstatat", "statx", "access", "faccessat",
    "faccessat2", "getdents64", "fsync", "fdatasync", "ftruncate", "unlink", "unlinkat",
    // Not seen, but on rarer SQLite paths: a new pool connection resolves its path (readlink
    // through symlinks), and as root gives a recreated -wal/-shm the database's owner (fchown,
    // after asking geteuid: seen when the writer reopens after a full disk).
    "readlink", "readlinkat", "getcwd", "fchown", "geteuid",
    // Memory (mmap and mprotect: without PROT_EXEC, below); mremap for realloc of large blocks.
    "munmap", "madvise", "brk", "mremap",
    // Threads (clone: below) and synchronisation; getpid for SQLite's and SoftHSMv2's fork checks.
    "futex", "set_robust_list", "rseq", "sched_yield", "sched_getaffinity", "gettid", "getpid",
    "exit", "exit_group",
    // Signals: Asio's signal_set (SIGTERM drain), abort().
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "restart_syscall",
    // Time (the vDSO's syscall fallbacks) and randomness (OpenSSL's DRBG reseeds).
    "clock_gettime", "clock_getres", "gettimeofday", "nanosleep", "clock_nanosleep", "getrandom",
    // Asio on the already-bound listener: accept, TLS records, the epoll reactor, timers.
    "accept", "accept4", "recvmsg", "sendmsg", "sendto", "shutdown", "setsockopt", "epoll_wait",
    "epoll_pwait", "epoll_ctl", "timerfd_settime",
    // SoftHSMv2 logs errors with syslog(3): connect to /dev/log (its socket: below), sendto.
    "connect",
};

struct SeccompDeleter {
  void operator()(void* ctx) const { seccomp_release(static_cast<scmp_filter_ctx>(ctx)); }
};
using SeccompPtr = std::unique_ptr<void, SeccompDeleter>;

Status AddRule(scmp_filter_ctx ctx, std::uint32_t action, const char* name,
               std::vector<scmp_arg_cmp> args = {}) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return Status::Internal(std::string("seccomp: unknown call ") + name);
  const int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()),
                                        args.empty() ? nullptr : args.data());
  if (rc != 0) return Status::Internal(Errno(std::string("seccomp_rule_add ") + name, -rc));
  return Status::Ok();
}

}  // namespace

Result<HardeningReport> HardenProcess() {
  HardeningReport report;
  const rlimit no_core{0, 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0) {
    return Status::Internal(Errno("setrlimit(RLIMIT_CORE, 0)", errno));
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Status::Internal(Errno("prctl(PR_SET_DUMPABLE, 0)", errno));
  }
  umask(077);
  if (!SecretBytes::InitSecureHeap()) {
    report.warnings.push_back(
        "the secure heap could not be locked in memory (raise RLIMIT_MEMLOCK)");
  }
  rlimit memlock{};
  if (kSanitized) {
    // Sanitizer builds reserve terabytes of shadow memory; locking it all cannot work.
  } else if (getrlimit(RLIMIT_MEMLOCK, &memlock) != 0) {
    report.memory_warning = Errno("getrlimit(RLIMIT_MEMLOCK)", errno);
  } else if (memlock.rlim_cur != RLIM_INFINITY) {
    report.memory_warning =
        "RLIMIT_MEMLOCK is limited: memory is not locked (mlockall) and may be swapped; only "
        "the secure heap is locked (set LimitMEMLOCK=infinity to lock everything)";
  } else if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    report.memory_warning = Errno("mlockall(MCL_CURRENT | MCL_FUTURE)", errno);
  } else {
    report.memory_locked = true;
  }
  if (!IsDumpProtected()) return Status::Internal("the process is still dumpable");
  return report;
}

bool IsDumpProtected() {
  rlimit core{};
  if (getrlimit(RLIMIT_CORE, &core) != 0) return false;
  return core.rlim_cur == 0 && core.rlim_max == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0;
}

Result<PrivilegeDrop> DropPrivileges(std::string_view user) {
  if (geteuid() != 0 && getuid() != 0) return PrivilegeDrop::kNotRoot;
  if (user.empty()) return PrivilegeDrop::kNoUser;
  const std::string name(user);
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  const int rc = getpwnam_r(name.c_str(), &entry, buf.data(), buf.size(), &found);
  if (rc != 0) return Status::Internal(Errno("getpwnam_r " + name, rc));
  if (found == nullptr) return Status::InvalidArgument("unknown user " + name);
  const uid_t uid = found->pw_uid;
  const gid_t gid = found->pw_gid;
  if (uid == 0 || gid == 0) {
    return Status::InvalidArgument("user " + name + " is root: configure an unprivileged user");
  }
  // Groups first: only root may change them.
  if (setgroups(1, &gid) != 0) return Status::Internal(Errno("setgroups", errno));
  if (setresgid(gid, gid, gid) != 0) return Status::Internal(Errno("setresgid", errno));
  if (setresuid(uid, uid, uid) != 0) return Status::Internal(Errno("setresuid", errno));

  // Verify: no way back to root, and no id left behind.
  if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0) {
    return Status::Internal("could regain root after dropping privileges");
  }
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0 ||
      ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
    return Status::Internal("ids after dropping privileges are not " + name + "'s");
  }
  gid_t groups[2] = {0, 0};
  const int ngroups = getgroups(2, groups);
  if (ngroups < 0 || ngroups > 1 || (ngroups == 1 && groups[0] != gid)) {
    return Status::Internal("supplementary groups remain after dropping privileges");
  }
  // A credential change resets the dumpable flag to fs.suid_dumpable: set it again.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Status::Internal(Errno("prctl(PR_SET_DUMPABLE, 0)", errno));
  }
  return PrivilegeDrop::kDropped;
}

bool SeccompAvailable() { return !kSanitized; }

// libpq's connection (PostgreSQL [database] url): new stream sockets to the server, the
// resolver's datagram sockets for a host name, and the calls that drive them.
Status AllowDatabaseClient(scmp_filter_ctx c) {
  for (const char* name : {"poll", "ppoll", "getsockopt", "getsockname", "getpeername",
                           "recvfrom", "sendmmsg", "bind", "uname"}) {
    ESCROW_RETURN_IF_ERROR(AddRule(c, SCMP_ACT_ALLOW, name));
  }
  // The type without its flags (the argument is an int: the upper half is not compared).
  constexpr scmp_datum_t kTypeMask =
      0xFFFFFFFFu & ~static_cast<unsigned>(SOCK_CLOEXEC | SOCK_NONBLOCK);
  for (const scmp_datum_t family : {scmp_datum_t{AF_UNIX}, scmp_datum_t{AF_INET},
                                    scmp_datum_t{AF_INET6}}) {
    for (const scmp_datum_t type : {scmp_datum_t{SOCK_STREAM}, scmp_datum_t{SOCK_DGRAM}}) {
      if (family == AF_UNIX && type == SOCK_DGRAM) continue;  // syslog's rule covers it
      ESCROW_RETURN_IF_ERROR(AddRule(c, SCMP_ACT_ALLOW, "socket",
                                     {SCMP_A0(SCMP_CMP_EQ, family),
                                      SCMP_A1(SCMP_CMP_MASKED_EQ, kTypeMask, type)}));
    }
  }
  return Status::Ok();
}

Status InstallSeccomp(bool database_client) {
  if (kSanitized) return Status::Ok();
  SeccompPtr ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!ctx) return Status::Internal("seccomp_init failed");
  scmp_filter_ctx c = ctx.get();
  // The filter covers every thread, including the ones already started.
  if (int rc = seccomp_attr_set(c, SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    return Status::Internal(Errno("seccomp TSYNC", -rc));
  }
  for (const char* name : kAllowed) ESCROW_RETURN_IF_ERROR(AddRule(c, SCMP_ACT_ALLOW, name));

  // New threads only, never a new process: clone must carry CLONE_THREAD. clone3 passes its
  // flags in memory a filter cannot read, so it answers ENOSYS and glibc falls back to clone.
  ESCROW_RETURN_IF_ERROR(AddRule(c, SCMP_ACT_ALLOW, "clone",
                                 {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)}));
  ESCROW_RETURN_IF_ERROR(AddRule(c, SCMP_ACT_ERRNO(ENOSYS), "clone3"));
  // No new executable memory (nothing is loaded after start-up): injected code stays data.
  for (const char* name : {"mmap", "mprotect"}) {
    ESCROW_RETURN_IF_ERROR(
        AddRule(c, SCMP_ACT_ALLOW, name, {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}));
  }
  // Signals to this process only (abort() raises SIGABRT with tgkill).
  ESCROW_RETURN_IF_ERROR(AddRule(c, SCMP_ACT_ALLOW, "tgkill",
                                 {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid()))}));
  // Asio makes accepted sockets non-blocking with ioctl(FIONBIO); stdio's isatty() asks TCGETS.
  for (const scmp_datum_t request : {scmp_datum_t{FIONBIO}, scmp_datum_t{TCGETS}}) {
    ESCROW_RETURN_IF_ERROR(AddRule(c, SCMP_ACT_ALLOW, "ioctl", {SCMP_A1(SCMP_CMP_EQ, request)}));
  }
  // syslog(3)'s datagram socket to /dev/log, exactly; no other socket can be made (no network
  // connection, no raw or netlink socket).
  ESCROW_RETURN_IF_ERROR(AddRule(c, SCMP_ACT_ALLOW, "socket",
                                 {SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
                                  SCMP_A1(SCMP_CMP_EQ, SOCK_DGRAM | SOCK_CLOEXEC),
                                  SCMP_A2(SCMP_CMP_EQ, 0)}));
  if (database_client) ESCROW_RETURN_IF_ERROR(AllowDatabaseClient(c));

  if (int rc = seccomp_load(c); rc != 0) return Status::Internal(Errno("seccomp_load", -rc));
  return Status::Ok();
}

}  // namespace escrow::vault
