#pragma once

// keys.backup: the vault's keys wrapped under the ceremony key, authenticated by an
// HMAC-SHA256 under a key derived from the ceremony key (HKDF-SHA256), so that a damaged or
// altered file, or a wrong share, is refused before anything is restored.
//
// The file is one line of JSON (the body) followed by "mac: <hex>"; the MAC covers the body's
// exact bytes. Its format is "escrow-keys-backup-v3" (every key role, and "wrap": the wrap
// mechanism and padding rule); files of "escrow-keys-backup-v2" (no "wrap": SoftHSMv2's
// CKM_AES_KEY_WRAP_PAD, RFC 5649) and "escrow-keys-backup-v1" (master and audit keys only,
// before the second release) still parse. The body also carries key_check, a short value derived from the ceremony key
// alone, so that a wrong ceremony key (a wrong share) is told apart from a damaged file.

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/secret_bytes.h"
#include "hsm/key_backup.h"

namespace escrow::ops {

struct KeysBackup {
  std::string backup_id;  // 32 lowercase hex digits, also in every share
  std::string created;    // RFC 3339
  std::string token_label;
  std::string token_serial;
  std::uint32_t threshold = 0;
  std::uint32_t shares = 0;
  std::uint32_t active_master_key_version = 0;
  std::uint32_t audit_key_version = 0;
  std::vector<hsm::WrappedKey> keys;
};

// The file's text (format v3), with key_check and MAC computed from `ceremony_key`. The keys
// must share one wrap method (WrapVaultKeys gives them one).
Result<std::string> RenderKeysBackup(const KeysBackup& backup, const SecretBytes& ceremony_key);

// Parses the file without authenticating it (to learn its backup id and threshold).
// kDataLoss: "keys.backup is damaged" when it does not parse.
Result<KeysBackup> ParseKeysBackup(const std::string& text);

// OK if the MAC verifies under `ceremony_key`; kDataLoss otherwise, saying whether the key
// is wrong (a wrong or forged share) or the file was damaged or altered.
Status AuthenticateKeysBackup(const std::string& text, const SecretBytes& ceremony_key);

}  // namespace escrow::ops
