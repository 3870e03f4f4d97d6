// Test-only helper: installs vaultd's seccomp allowlist (vault::InstallSeccomp), then makes the
// system call named by argv[1]. A forbidden call must kill it with SIGSYS; "allowed" does what
// the running server does (threads, memory, files, randomness) and exits 0.
//   exit 0: the action ran to its end; 2: bad usage; 3: the filter could not be installed.

#include <fcntl.h>
#include <linux/if_ether.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <string_view>
#include <thread>

#include "vault/hardening.h"

namespace {

int Allowed() {
  std::thread worker([] {
    unsigned char buf[32];
    if (getrandom(buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof buf)) std::_Exit(4);
  });
  worker.join();
  // syslog(3)'s socket, as SoftHSMv2 makes it to log an error.
  const int log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (log_fd < 0) return 7;
  close(log_fd);
  void* p = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || munmap(p, 1 << 20) != 0) return 5;
  const int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 6;
  char status[4096] = {};
  const ssize_t n = read(fd, status, sizeof status - 1);
  close(fd);
  if (n <= 0) return 6;
  // Mode 2 is SECCOMP_MODE_FILTER.
  std::printf("%s\n", std::strstr(status, "Seccomp:\t2") != nullptr ? "seccomp=filter" : "none");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string_view action = argv[1];
  if (escrow::Status s = escrow::vault::InstallSeccomp(); !s.ok()) {
    (void)std::fprintf(stderr, "seccomp_probe: %s\n", s.message().c_str());
    return 3;
  }
  (void)std::fflush(stdout);  // best effort: the probe may be killed next
  if (action == "allowed") return Allowed();
  if (action == "ptrace") {
    ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
  } else if (action == "execve") {
    char* const args[] = {const_cast<char*>("/bin/true"), nullptr};
    execv("/bin/true", args);
  } else if (action == "socket-packet") {
    socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  } else if (action == "socket-inet") {
    socket(AF_INET, SOCK_STREAM, 0);
  } else if (action == "socket-unix-stream") {
    socket(AF_UNIX, SOCK_STREAM, 0);
  } else if (action == "mprotect-exec") {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p, 4096, PROT_READ | PROT_EXEC);
  } else if (action == "fork") {
    if (fork() == 0) _exit(0);
  } else if (action == "setuid") {
    if (setuid(0) != 0) return 0;
  } else {
    return 2;
  }
  return 0;  // still alive: the filter let the call through
}
