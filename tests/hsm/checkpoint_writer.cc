// escrow_checkpoint_writer MODULE TOKEN_LABEL PIN_FILE FIRST [COUNT [NODE]]
//
// Opens a KeyService, prints "ready", then writes the audit checkpoints FIRST, FIRST+1, ...
// (each value the number as u64be) through KeyService::WriteCheckpoint and prints each number
// on stdout once its write has returned OK: tests/hsm/checkpoint_kill_test.cc kills it with
// SIGKILL at random moments after "ready" and checks what the token kept. (Not before: a kill
// inside SoftHSMv2's C_Login can empty the token's token.object, which rewrites in place on
// every login; that is SoftHSMv2's, not the checkpoint's, and the test does not hunt for it.) With
// COUNT it stops after COUNT writes and prints the mean time of one write
// ("mean_us N") on stderr. With NODE it keeps that node's checkpoint (HsmConfig::node):
// tests/hsm/checkpoint_nodes_test.cc runs two at once on one token. Exits 1 on any failure.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "hsm/key_service.h"

int main(int argc, char** argv) {
  if (argc < 5 || argc > 7) {
    (void)std::fputs(
        "usage: escrow_checkpoint_writer MODULE TOKEN_LABEL PIN_FILE FIRST [COUNT [NODE]]\n",
        stderr);
    return 2;
  }
  const std::string module = argv[1];    // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic)
  const std::string label = argv[2];     // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic)
  const std::string pin_file = argv[3];  // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic)
  const std::uint64_t first = std::strtoull(argv[4], nullptr, 10);                  // NOLINT
  const std::uint64_t count = argc >= 6 ? std::strtoull(argv[5], nullptr, 10) : 0;  // NOLINT
  const std::string node = argc == 7 ? argv[6] : "";  // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic)

  escrow::Result<std::unique_ptr<escrow::hsm::KeyService>> keys =
      escrow::hsm::KeyService::Open({module, label, pin_file, node});
  if (!keys.ok()) {
    (void)std::fprintf(stderr, "open: %s\n", keys.status().ToString().c_str());
    return 1;
  }
  (void)std::puts("ready");
  (void)std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t n = first; count == 0 || n < first + count; ++n) {
    escrow::Bytes value;
    escrow::AppendU64Be(value, n);
    if (const escrow::Status s = (*keys)->WriteCheckpoint(value); !s.ok()) {
      (void)std::fprintf(stderr, "write %llu: %s\n", static_cast<unsigned long long>(n),
                         s.ToString().c_str());
      return 1;
    }
    (void)std::printf("%llu\n", static_cast<unsigned long long>(n));
    (void)std::fflush(stdout);
  }
  if (count > 0) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    (void)std::fprintf(stderr, "mean_us %lld\n",
                       static_cast<long long>(us.count() / static_cast<long long>(count)));
  }
  return 0;
}
