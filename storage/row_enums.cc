#include "storage/row_enums.h"

#include "storage/access_requests.h"

namespace escrow::storage {

std::string_view PlatformName(Platform p) {
  switch (p) {
    case Platform::kMacos:
      return "macos";
    case Platform::kWindows:
      return "windows";
    case Platform::kLinux:
      return "linux";
  }
  return "unknown";
}

std::optional<Platform> ParsePlatform(std::string_view s) {
  if (s == "macos") return Platform::kMacos;
  if (s == "windows") return Platform::kWindows;
  if (s == "linux") return Platform::kLinux;
  return std::nullopt;
}

std::string_view OwnershipName(Ownership o) {
  switch (o) {
    case Ownership::kCorporate:
      return "corporate";
    case Ownership::kPersonal:
      return "personal";
  }
  return "unknown";
}

std::optional<Ownership> ParseOwnership(std::string_view s) {
  if (s == "corporate") return Ownership::kCorporate;
  if (s == "personal") return Ownership::kPersonal;
  return std::nullopt;
}

std::string_view VersionStateName(VersionState s) {
  switch (s) {
    case VersionState::kActive:
      return "active";
    case VersionState::kSuperseded:
      return "superseded";
    case VersionState::kDestroyed:
      return "destroyed";
  }
  return "unknown";
}

std::optional<VersionState> ParseVersionState(std::string_view s) {
  if (s == "active") return VersionState::kActive;
  if (s == "superseded") return VersionState::kSuperseded;
  if (s == "destroyed") return VersionState::kDestroyed;
  return std::nullopt;
}

std::string_view PrincipalKindName(PrincipalKind k) {
  switch (k) {
    case PrincipalKind::kUser:
      return "user";
    case PrincipalKind::kClient:
      return "client";
  }
  return "unknown";
}

std::optional<PrincipalKind> ParsePrincipalKind(std::string_view s) {
  if (s == "user") return PrincipalKind::kUser;
  if (s == "client") return PrincipalKind::kClient;
  return std::nullopt;
}

std::string_view KeySourceName(KeySource k) {
  switch (k) {
    case KeySource::kTyped:
      return "typed";
    case KeySource::kMdm:
      return "mdm";
    case KeySource::kCms:
      return "cms";
  }
  return "unknown";
}

std::optional<KeySource> ParseKeySource(std::string_view s) {
  if (s == "typed") return KeySource::kTyped;
  if (s == "mdm") return KeySource::kMdm;
  if (s == "cms") return KeySource::kCms;
  return std::nullopt;
}

// Access request states (storage/access_requests.h): here with the other row enums, so that
// code without the SQLite store (the fuzz targets' request parsing) can name them.
std::string_view AccessRequestStateName(AccessRequestState state) {
  switch (state) {
    case AccessRequestState::kPending:
      return "pending";
    case AccessRequestState::kApproved:
      return "approved";
    case AccessRequestState::kDenied:
      return "denied";
    case AccessRequestState::kExpired:
      return "expired";
    case AccessRequestState::kUsed:
      return "used";
  }
  return "unknown";  // unreachable: every state is listed
}

std::optional<AccessRequestState> ParseAccessRequestState(std::string_view text) {
  if (text == "pending") return AccessRequestState::kPending;
  if (text == "approved") return AccessRequestState::kApproved;
  if (text == "denied") return AccessRequestState::kDenied;
  if (text == "expired") return AccessRequestState::kExpired;
  if (text == "used") return AccessRequestState::kUsed;
  return std::nullopt;
}

}  // namespace escrow::storage
