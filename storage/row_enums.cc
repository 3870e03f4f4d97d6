#include "storage/row_enums.h"

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

}  // namespace escrow::storage
