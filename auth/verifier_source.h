#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/jwt_verifier.h"
#include "base/result.h"

namespace escrow::auth {

// The identity provider's keys of the moment. An IdP rotates its signing keys; vaultd must
// take the new set without a restart (SIGHUP, or the key files changing on disk) and must
// never lose the working set to a half-written or broken file: a load that fails keeps the
// old set, and the caller logs why.
//
// A new set is a new JwtVerifier with its own empty token cache, so a token accepted under
// a key that was removed is not accepted from the cache afterwards.
//
// Current() is safe from any thread and cheap (an atomic shared_ptr load); Reload and
// ReloadIfChanged are serialised among themselves.
class VerifierSource {
 public:
  using Loader = std::function<Result<JwtVerifier>()>;

  // Loads once with `loader`; its error if that first load fails. `watched` are the files
  // the loader reads (PEM keys, the JWKS file): ReloadIfChanged looks at them.
  static Result<std::unique_ptr<VerifierSource>> Create(Loader loader,
                                                        std::vector<std::string> watched);

  VerifierSource(const VerifierSource&) = delete;  // the set is swapped in place
  VerifierSource& operator=(const VerifierSource&) = delete;
  VerifierSource(VerifierSource&&) = delete;
  VerifierSource& operator=(VerifierSource&&) = delete;
  ~VerifierSource() = default;

  std::shared_ptr<const JwtVerifier> Current() const;

  // Loads again: OK and the new set in use, or the load's error and the old set kept.
  Status Reload();
  // Reloads if a watched file was replaced, changed size or modification time, appeared or
  // disappeared since the last load attempt; nullopt if nothing changed. A file that changed
  // and fails to load is tried again only after it changes again.
  std::optional<Status> ReloadIfChanged();

 private:
  // What identifies a file's content for this purpose (all zero: missing).
  struct FileStamp {
    unsigned long long dev = 0, ino = 0;
    long long size = 0, mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };

  VerifierSource(Loader loader, std::vector<std::string> watched);
  std::vector<FileStamp> Stamps() const;
  Status ReloadLocked(std::vector<FileStamp> stamps);

  Loader loader_;
  std::vector<std::string> watched_;
  std::mutex reload_mu_;
  std::vector<FileStamp> stamps_;  // guarded by reload_mu_: as of the last load attempt
  std::atomic<std::shared_ptr<const JwtVerifier>> current_;
};

}  // namespace escrow::auth
