#pragma once

// The one guard of the init ceremony, production and dev alike: before anything is created it
// refuses what a second init would overwrite; after a failure it undoes what was created.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "hsm/key_service.h"

namespace escrow::ops {

// Something init will create, and the exact refusal if it already exists.
struct InitClaim {
  std::filesystem::path path;
  std::string refusal;  // the kAlreadyExists message
};

// kAlreadyExists with the claim's refusal for the first claimed path that exists (a dangling
// symlink counts: it would be followed).
Status RefuseClaimed(const std::vector<InitClaim>& claims);

// kAlreadyExists if the token already holds vault keys: init never adopts or replaces them.
Status RefuseExistingKeys(hsm::KeyService& keys, const std::string& token_label);

// Undoes a failed init unless committed: destroys the keys it generated (when the token
// outlives the failure), closes the key service, removes the files and trees it created and
// the directory it made, in that order. Not thread-safe; one per init.
class InitGuard {
 public:
  InitGuard() = default;
  InitGuard(const InitGuard&) = delete;  // two owners would clean up twice
  InitGuard& operator=(const InitGuard&) = delete;
  InitGuard(InitGuard&&) = delete;
  InitGuard& operator=(InitGuard&&) = delete;
  ~InitGuard();

  // The key service, closed before the files go (a token store may be among them).
  // `destroy_generated`: the token stays after a failure, so the keys must go.
  void Keys(std::unique_ptr<hsm::KeyService>* keys, bool destroy_generated);
  void Generated(const hsm::KeyInfo& key) { generated_.push_back(key); }
  void File(const std::filesystem::path& path) { files_.push_back(path); }
  void Tree(const std::filesystem::path& path) { trees_.push_back(path); }
  // A directory init made itself: removed last, and only if empty.
  void MadeDir(const std::filesystem::path& dir) { made_dir_ = dir; }
  void Commit() { committed_ = true; }

 private:
  std::unique_ptr<hsm::KeyService>* keys_ = nullptr;
  bool destroy_generated_ = false;
  std::vector<hsm::KeyInfo> generated_;
  std::vector<std::filesystem::path> files_;
  std::vector<std::filesystem::path> trees_;
  std::filesystem::path made_dir_;
  bool committed_ = false;
};

}  // namespace escrow::ops
