#include "auth/verifier_source.h"

#include <sys/stat.h>

namespace escrow::auth {

Result<std::unique_ptr<VerifierSource>> VerifierSource::Create(Loader loader,
                                                               std::vector<std::string> watched) {
  std::unique_ptr<VerifierSource> source(new VerifierSource(std::move(loader), std::move(watched)));
  std::lock_guard lock(source->reload_mu_);
  ESCROW_RETURN_IF_ERROR(source->ReloadLocked(source->Stamps()));
  return source;
}

VerifierSource::VerifierSource(Loader loader, std::vector<std::string> watched)
    : loader_(std::move(loader)), watched_(std::move(watched)) {}

std::shared_ptr<const JwtVerifier> VerifierSource::Current() const {
  return current_.load(std::memory_order_acquire);
}

Status VerifierSource::Reload() {
  std::lock_guard lock(reload_mu_);
  return ReloadLocked(Stamps());
}

std::optional<Status> VerifierSource::ReloadIfChanged() {
  std::lock_guard lock(reload_mu_);
  std::vector<FileStamp> now = Stamps();
  if (now == stamps_) return std::nullopt;
  return ReloadLocked(std::move(now));
}

std::vector<VerifierSource::FileStamp> VerifierSource::Stamps() const {
  std::vector<FileStamp> out;
  out.reserve(watched_.size());
  for (const std::string& path : watched_) {
    struct stat st {};
    FileStamp s;
    if (::stat(path.c_str(), &st) == 0) {
      s.dev = st.st_dev;
      s.ino = st.st_ino;
      s.size = st.st_size;
      s.mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
      s.ctime_ns = st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec;
    }
    out.push_back(s);
  }
  return out;
}

Status VerifierSource::ReloadLocked(std::vector<FileStamp> stamps) {
  // Stamped before loading: a file changed during the load is seen again next time.
  stamps_ = std::move(stamps);
  Result<JwtVerifier> loaded = loader_();
  if (!loaded.ok()) return loaded.status();
  current_.store(std::make_shared<const JwtVerifier>(std::move(*loaded)),
                 std::memory_order_release);
  return Status::Ok();
}

}  // namespace escrow::auth
