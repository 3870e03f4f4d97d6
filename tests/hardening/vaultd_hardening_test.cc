// The real vaultd (started by the e2e harness over `vaultctl init --dev`): seccomp in force while
// it serves, privileges dropped to the configured user, and no process of that same user able
// to ptrace it, read its memory or environment, or dump its core (DESIGN.md invariant 7).

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"
#include "tests/hardening/hardening_util.h"
#include "vault/hardening.h"

namespace escrow::e2e {
namespace {

using hardening_test::RunInChild;
using hardening_test::TestUser;

// The pid of the vaultd serving `v`'s state (the harness keeps it private).
pid_t VaultdPid(const VaultProcess& v) {
  const std::string needle = v.state() + "/vault.conf";
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  pid_t found = -1;
  while (dirent* e = readdir(proc)) {
    const std::string name = e->d_name;
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = testing::ReadFileBytes("/proc/" + name + "/cmdline");
    if (cmdline.find(needle) != std::string::npos && cmdline.find("vaultd") != std::string::npos) {
      found = static_cast<pid_t>(std::stol(name));
      break;
    }
  }
  closedir(proc);
  return found;
}

// One "Name:\tvalue" line of /proc/PID/status, value only.
std::string StatusField(pid_t pid, const std::string& field) {
  std::istringstream in(testing::ReadFileBytes("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string value = line.substr(field.size() + 1);
      while (!value.empty() && (value.front() == '\t' || value.front() == ' ')) value.erase(0, 1);
      while (!value.empty() && (value.back() == '\t' || value.back() == ' ')) value.pop_back();
      return value;
    }
  }
  return {};
}

// Gives the whole test tree to `user` and sets `user = "..."` in vault.conf, so that vaultd,
// started as root, drops to it and can still open the token and database files.
void ConfigureServiceUser(const VaultProcess& v, const TestUser& user) {
  const std::string conf = v.state() + "/vault.conf";
  std::istringstream in(testing::ReadFileBytes(conf));
  std::string text;
  bool replaced = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("user =", 0) == 0) {
      line = "user = \"" + user.name + "\"";
      replaced = true;
    }
    text += line + "\n";
  }
  REQUIRE(replaced);
  WriteFile(conf, text);
  REQUIRE(Sh("chown -R " + user.name + ": " + Quote(v.tmp())) == 0);
}

// Stores a key for a fresh device and retrieves it: the HSM and database paths under seccomp.
void StoreAndRetrieve(const VaultProcess& v, const std::string& key) {
  v.Enrol("mac-h", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  HttpResult r = v.As(alice, "PUT", "/v1/devices/mac-h/recovery-key", KeyBody(key, key));
  REQUIRE(r.status == 200);
  r = v.As(alice, "POST", "/v1/devices/mac-h/recovery-key/retrieve", "{}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key") == key.c_str());
}

TEST_CASE("vaultd serves every request with its seccomp filter in force",
          "[hardening][seccomp][e2e]") {
  if (!vault::SeccompAvailable()) {
    WARN("SKIPPED: sanitizer builds install no seccomp filter (ESCROW_SANITIZED)");
    return;
  }
  VaultProcess v;
  REQUIRE(v.Start());
  const pid_t pid = VaultdPid(v);
  REQUIRE(pid > 0);
  CHECK(StatusField(pid, "Seccomp") == "2");  // SECCOMP_MODE_FILTER
  CHECK(StatusField(pid, "NoNewPrivs") == "1");
  // Memory: either all of it is locked, or one warning line says why not.
  rlimit memlock{};
  REQUIRE(getrlimit(RLIMIT_MEMLOCK, &memlock) == 0);
  const std::string log = v.Log();
  std::size_t warnings = 0;
  for (std::size_t at = log.find("RLIMIT_MEMLOCK is limited"); at != std::string::npos;
       at = log.find("RLIMIT_MEMLOCK is limited", at + 1)) {
    ++warnings;
  }
  CHECK(warnings == (memlock.rlim_cur == RLIM_INFINITY ? 0U : 1U));
  StoreAndRetrieve(v, "ABCD-EFGH-IJKL-MNOP-QRST-UVWX");
  CHECK(v.Mdm("GET", "/v1/metrics").status == 200);
  CHECK(v.Stop() == 0);  // the drain and shutdown paths are inside the allowlist too
  CHECK_THAT(v.Log(), !Catch::Contains("SIGSYS"));
}

TEST_CASE("vaultd started as root without a service user warns and runs on",
          "[hardening][privileges][e2e]") {
  if (geteuid() != 0) {
    WARN("SKIPPED: needs root (vaultd only drops privileges when started as root)");
    return;
  }
  VaultProcess v;
  REQUIRE(v.Start());
  CHECK_THAT(v.Log(), Catch::Contains("running as root: set 'user' in the config"));
  CHECK(StatusField(VaultdPid(v), "Uid").rfind("0\t", 0) == 0);
}

TEST_CASE("vaultd started as root with user set ends up as that user with no capabilities",
          "[hardening][privileges][e2e]") {
  const std::optional<TestUser> user = hardening_test::UnprivilegedUser();
  if (!user) return;  // WARNed
  VaultProcess v;
  ConfigureServiceUser(v, *user);
  REQUIRE(v.Start());
  const pid_t pid = VaultdPid(v);
  REQUIRE(pid > 0);
  const std::string uid = std::to_string(user->uid), gid = std::to_string(user->gid);
  CHECK(StatusField(pid, "Uid") == uid + "\t" + uid + "\t" + uid + "\t" + uid);
  CHECK(StatusField(pid, "Gid") == gid + "\t" + gid + "\t" + gid + "\t" + gid);
  CHECK((StatusField(pid, "Groups").empty() || StatusField(pid, "Groups") == gid));
  CHECK(StatusField(pid, "CapEff") == "0000000000000000");
  CHECK(StatusField(pid, "CapPrm") == "0000000000000000");
  CHECK_THAT(v.Log(), !Catch::Contains("running as root"));
  // It still reaches the HSM token files and the database as the user.
  StoreAndRetrieve(v, "ABCD-EFGH-IJKL-MNOP-QRST-UVWX");
  CHECK(v.Stop() == 0);
}

// Result bits of the same-uid attack, reported by the attacking child as its exit status.
constexpr int kControlFailed = 1;  // could not even ptrace its own child: test is void
constexpr int kPtraceWorked = 2;
constexpr int kMemReadable = 4;
constexpr int kEnvironReadable = 8;
constexpr int kVmReadWorked = 16;
constexpr int kGcoreWorked = 32;
constexpr int kNotSameUid = 64;

int AttackAsUser(const TestUser& user, pid_t target, const std::string& dir) {
  if (setgroups(1, &user.gid) != 0 || setgid(user.gid) != 0 || setuid(user.uid) != 0) return 100;
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  if (StatusField(target, "Uid").rfind(std::to_string(user.uid) + "\t", 0) != 0) {
    return kNotSameUid;
  }
  int result = 0;
  // Control: a dumpable process of the same user (our own child) can be attached and read, so
  // the failures below come from vaultd's hardening, not from the machine.
  const pid_t victim = fork();
  if (victim == 0) {
    pause();
    _exit(0);
  }
  if (ptrace(PTRACE_ATTACH, victim, nullptr, nullptr) != 0) {
    result |= kControlFailed;
  } else {
    waitpid(victim, nullptr, 0);
    ptrace(PTRACE_DETACH, victim, nullptr, nullptr);
  }
  kill(victim, SIGKILL);
  waitpid(victim, nullptr, 0);

  errno = 0;
  if (ptrace(PTRACE_ATTACH, target, nullptr, nullptr) == 0) {
    result |= kPtraceWorked;
    ptrace(PTRACE_DETACH, target, nullptr, nullptr);
  } else if (errno != EPERM) {
    result |= kPtraceWorked;  // any other error would not prove the hardening
  }
  for (const auto& [file, bit] : {std::pair{"mem", kMemReadable},
                                  std::pair{"environ", kEnvironReadable}}) {
    const std::string path = "/proc/" + std::to_string(target) + "/" + file;
    const int fd = open(path.c_str(), O_RDONLY);
    if (fd >= 0 || errno != EACCES) result |= bit;
    if (fd >= 0) close(fd);
  }
  char byte = 0;
  iovec local{&byte, 1};
  iovec remote{reinterpret_cast<void*>(0x400000), 1};  // NOLINT: any address; access is denied first
  if (process_vm_readv(target, &local, 1, &remote, 1, 0) >= 0 || errno != EPERM) {
    result |= kVmReadWorked;
  }
  const std::string core = dir + "/core";
  const std::string cmd = "command -v gcore >/dev/null && gcore -o " + Quote(core) + " " +
                          std::to_string(target) + " >/dev/null 2>&1";
  const int gcore_rc = std::system(cmd.c_str());  // NOLINT(cert-env33-c): test-only
  struct stat st {};
  if (gcore_rc == 0 || stat((core + "." + std::to_string(target)).c_str(), &st) == 0) {
    result |= kGcoreWorked;
  }
  return result;
}

TEST_CASE("A process of vaultd's own user cannot ptrace it, read its memory or dump its core",
          "[hardening][ptrace][e2e]") {
  const std::optional<TestUser> user = hardening_test::UnprivilegedUser();
  if (!user) return;  // WARNed
  if (Sh("command -v gcore >/dev/null") != 0) {
    WARN("gcore (gdb) is missing: the core-dump attempt is not made (scripts/install-deps.sh "
         "installs gdb)");
  }
  VaultProcess v;
  ConfigureServiceUser(v, *user);
  REQUIRE(v.Start());
  const pid_t pid = VaultdPid(v);
  REQUIRE(pid > 0);
  // Non-dumpable: the kernel hands /proc/PID/mem and environ to root.
  struct stat st {};
  REQUIRE(stat(("/proc/" + std::to_string(pid) + "/mem").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);

  const int result = RunInChild([&] { return AttackAsUser(*user, pid, v.tmp()); });
  CHECK((result & kNotSameUid) == 0);
  CHECK((result & kControlFailed) == 0);
  CHECK((result & kPtraceWorked) == 0);
  CHECK((result & kMemReadable) == 0);
  CHECK((result & kEnvironReadable) == 0);
  CHECK((result & kVmReadWorked) == 0);
  CHECK((result & kGcoreWorked) == 0);
  CHECK(result == 0);
  // vaultd was not disturbed.
  CHECK(v.Mdm("GET", "/v1/health").status == 200);
}

// A random macOS-style key, so that no other test's key can be found by accident.
std::string RandomMacKey() {
  static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::random_device rd;
  std::string key;
  for (int group = 0; group < 6; ++group) {
    if (group > 0) key.push_back('-');
    for (int i = 0; i < 4; ++i) key.push_back(kAlphabet[rd() % 32]);
  }
  return key;
}

// Every readable mapping of `pid` (as root: CAP_SYS_PTRACE overrides non-dumpable); returns
// the mappings in which `needle` occurs.
std::vector<std::string> FindInMemory(pid_t pid, const std::string& needle) {
  std::vector<std::string> hits;
  std::istringstream maps(testing::ReadFileBytes("/proc/" + std::to_string(pid) + "/maps"));
  const int mem = open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY);
  if (mem < 0) return {"cannot open /proc/PID/mem"};
  for (std::string line; std::getline(maps, line);) {
    // "START-END PERMS ..." in hex; from_chars, unlike sscanf, reports an overflow.
    unsigned long start = 0, end = 0;
    const char* const last = line.data() + line.size();
    const auto [dash, start_ec] = std::from_chars(line.data(), last, start, 16);
    if (start_ec != std::errc() || dash == last || *dash != '-') continue;
    const auto [space, end_ec] = std::from_chars(dash + 1, last, end, 16);
    if (end_ec != std::errc() || last - space < 2 || *space != ' ') continue;
    if (space[1] != 'r' || line.find("[vvar]") != std::string::npos) continue;
    // Sanitizer shadow memory: terabytes of reserved zero pages, never a secret.
    if (end - start > (1UL << 30)) continue;
    // In chunks that overlap by the needle's length, so that no occurrence is split.
    constexpr std::size_t kChunk = std::size_t{1} << 20;
    std::string bytes(kChunk + needle.size(), '\0');
    for (unsigned long at = start; at < end; at += kChunk) {
      const std::size_t want = std::min<std::size_t>(bytes.size(), end - at);
      const ssize_t n = pread(mem, bytes.data(), want, static_cast<off_t>(at));
      if (n <= 0) break;
      if (std::string_view(bytes.data(), static_cast<std::size_t>(n)).find(needle) !=
          std::string_view::npos) {
        hits.push_back(line);
        break;
      }
    }
  }
  close(mem);
  return hits;
}

TEST_CASE("No copy of a plaintext key stays in vaultd's memory after it was stored and retrieved",
          "[hardening][wipe][e2e]") {
  if (geteuid() != 0) {
    WARN("SKIPPED: reading vaultd's memory needs root (it is not dumpable)");
    return;
  }
  VaultProcess v;
  REQUIRE(v.Start());
  const pid_t pid = VaultdPid(v);
  REQUIRE(pid > 0);
  const std::string key = RandomMacKey();
  StoreAndRetrieve(v, key);
  // A second retrieval over a fresh connection, then a request that reuses nothing.
  const std::string alice = v.Token("alice@example.com");
  REQUIRE(v.As(alice, "POST", "/v1/devices/mac-h/recovery-key/retrieve", "{}").status == 200);
  REQUIRE(v.Mdm("GET", "/v1/health").status == 200);
  // The tail too: glibc's allocator overwrites the first 16 bytes of a freed block with its
  // list pointers, so a freed, unwiped copy keeps only its end.
  for (const std::string& needle : {key, key.substr(16)}) {
    const std::vector<std::string> hits = FindInMemory(pid, needle);
    std::string where;
    for (const std::string& h : hits) where += "\n  " + h;
    INFO("plaintext " << needle << " found in vaultd's memory, mappings:" << where);
    CHECK(hits.empty());
  }
}

}  // namespace
}  // namespace escrow::e2e
