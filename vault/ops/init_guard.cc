#include "vault/ops/init_guard.h"

#include <system_error>

namespace escrow::ops {

namespace fs = std::filesystem;

Status RefuseClaimed(const std::vector<InitClaim>& claims) {
  std::error_code ec;
  for (const InitClaim& claim : claims) {
    if (fs::exists(fs::symlink_status(claim.path, ec))) {
      return Status::AlreadyExists(claim.refusal);
    }
  }
  return Status::Ok();
}

Status RefuseExistingKeys(hsm::KeyService& keys, const std::string& token_label) {
  ESCROW_ASSIGN_OR_RETURN(std::vector<hsm::KeyInfo> present, keys.ListKeys());
  if (!present.empty()) {
    return Status::AlreadyExists("the token " + token_label + " already holds " +
                                 present.front().label +
                                 "; init refuses to adopt or replace existing vault keys");
  }
  return Status::Ok();
}

void InitGuard::Keys(std::unique_ptr<hsm::KeyService>* keys, bool destroy_generated) {
  keys_ = keys;
  destroy_generated_ = destroy_generated;
}

InitGuard::~InitGuard() {
  if (committed_) return;
  if (keys_ != nullptr && *keys_ != nullptr) {
    if (destroy_generated_) {
      for (const hsm::KeyInfo& key : generated_) (void)(*keys_)->DestroyKey(key.role, key.version);
    }
    keys_->reset();
  }
  std::error_code ec;
  for (const fs::path& path : files_) fs::remove(path, ec);
  for (const fs::path& path : trees_) fs::remove_all(path, ec);
  if (!made_dir_.empty()) fs::remove(made_dir_, ec);  // only if empty
}

}  // namespace escrow::ops
