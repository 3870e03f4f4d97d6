#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace escrow::storage {

// The closed sets that rows hold, with their one mapping to and from the text stored in the
// database. vault/types.h re-exports them: there is one enum per concept.
// A row whose text maps to none of them cannot be ours: readers answer kDataLoss.

// The codes are part of the associated data (DESIGN.md): never renumber.
enum class Platform : std::uint8_t { kMacos = 1, kWindows = 2, kLinux = 3 };
enum class Ownership : std::uint8_t { kCorporate = 1, kPersonal = 2 };
// A key version's life: the device's current key, replaced by a newer one, or gone.
enum class VersionState : std::uint8_t { kActive = 1, kSuperseded = 2, kDestroyed = 3 };
// Who stored a key version: a signed-in user or a client (the mdm). Kept beside the bare name,
// so that a user whose owner claim is a client's name is never taken for that client.
enum class PrincipalKind : std::uint8_t { kUser = 1, kClient = 2 };
// How a key version reached the vault (API.md's `source`): typed by a user, stored by the mdm
// through PUT .../recovery-key, or opened from a CMS envelope.
enum class KeySource : std::uint8_t { kTyped = 1, kMdm = 2, kCms = 3 };

// "macos", "windows", "linux"; "unknown" for a value that is none of them.
std::string_view PlatformName(Platform p);
std::optional<Platform> ParsePlatform(std::string_view s);
// "corporate", "personal"; "unknown" otherwise.
std::string_view OwnershipName(Ownership o);
std::optional<Ownership> ParseOwnership(std::string_view s);
// "active", "superseded", "destroyed"; "unknown" otherwise.
std::string_view VersionStateName(VersionState s);
std::optional<VersionState> ParseVersionState(std::string_view s);
// "user", "client"; "unknown" otherwise.
std::string_view PrincipalKindName(PrincipalKind k);
std::optional<PrincipalKind> ParsePrincipalKind(std::string_view s);
// "typed", "mdm", "cms"; "unknown" otherwise.
std::string_view KeySourceName(KeySource k);
std::optional<KeySource> ParseKeySource(std::string_view s);

}  // namespace escrow::storage
