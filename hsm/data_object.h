#pragma once

// The audit checkpoint as PKCS#11 data objects on the token (KeyService::ReadCheckpoint and
// WriteCheckpoint). Private to hsm/: includes pkcs11.h. REQUIRES for every function taking a
// session: the session is read-write and logged in as the user.
//
// Crash safety. SoftHSMv2 rewrites an object file in place: C_SetAttributeValue truncates the
// file, then writes every attribute again, without fsync (ObjectFile::store/writeAttributes).
// A process killed between the truncate and the last write leaves an object with no value or
// none of its attributes, and so no checkpoint at all. Hence a write never modifies an object:
// it creates a new one holding the new value, syncs the token directory, and only then destroys
// the older ones. Whatever point a crash (or power cut) hits, the token keeps the old complete
// object, or the new one, or both.
//
// A reader that finds several objects picks by bytes that hsm/ itself writes in front of the
// caller's value, never by the value (which is the vault's to interpret):
//
//   CKA_VALUE = "ECKP" | u8 format=1 | u64be counter | value | SHA-256 of all that precedes
//
// The newest is the one with the highest counter (a writer takes the highest it finds, plus
// one); equal counters (two writers at once) are ordered by their whole CKA_VALUE, the greater
// winning, so every reader picks the same one. An object whose CKA_VALUE does not decode (torn
// by a module that writes non-atomically, or damaged) is ignored by readers and destroyed by
// the next writer. The digest detects tearing and damage; it is not a MAC: whoever can create
// private objects on the token holds the user PIN and could as well destroy the checkpoint.
// Only private objects count, so a public object planted without the PIN is never read.
//
// What a crash can still leave: SoftHSMv2 creates an object's file first and writes the
// template into it afterwards, so a process killed inside C_CreateObject may leave an empty
// object file or a data object with default attributes (empty label and application). Neither
// matches the checkpoint's label, so neither is read; nor is it removed, since nothing on it
// says it is ours (tests/hsm/checkpoint_kill_test.cc; each costs SoftHSMv2 one small file).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <span>
#include <string_view>
#include <vector>

#include <p11-kit/pkcs11.h>

#include "base/bytes.h"
#include "base/result.h"
#include "hsm/pkcs11_session.h"

namespace escrow::hsm {

inline constexpr std::string_view kCheckpointLabel = "escrow-audit-checkpoint";
inline constexpr std::string_view kCheckpointApplication = "escrow-vault";

// Each node keeps its own checkpoint objects (several vaultd sharing one token: API.md
// "PostgreSQL and several nodes"), so that a writer only ever destroys its own and never races
// another process over an object: `escrow-audit-checkpoint` for the unnamed node (one vaultd,
// and every vault before nodes had names), `escrow-audit-checkpoint@<node>` for a named one.
std::string CheckpointLabel(std::string_view node);
// The node a checkpoint label belongs to ("" for the unnamed one); nullopt if `label` is not a
// checkpoint's.
std::optional<std::string> CheckpointNode(std::string_view label);

// A decoded CKA_VALUE: hsm/'s counter and the caller's value.
struct CheckpointRecord {
  std::uint64_t counter = 0;
  Bytes value;
};

// The CKA_VALUE that stores `value` with `counter` (see the file comment).
Bytes EncodeCheckpoint(std::uint64_t counter, std::span<const std::uint8_t> value);
// nullopt unless `stored` is a complete encoding of a value of at most kMaxCheckpointBytes.
std::optional<CheckpointRecord> DecodeCheckpoint(std::span<const std::uint8_t> stored);
// Whether `a` is newer than `b` by the rule above (counter, then the whole stored bytes).
bool NewerCheckpoint(std::uint64_t a_counter, std::span<const std::uint8_t> a_stored,
                     std::uint64_t b_counter, std::span<const std::uint8_t> b_stored);

// Every private token data object of the checkpoint label `label` and the application.
struct CheckpointObject {
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  std::optional<CheckpointRecord> record;  // nullopt: does not decode (torn or damaged)
};
struct CheckpointScan {
  std::vector<CheckpointObject> objects;
  // Index into `objects` of the newest that decodes; nullopt if none does.
  std::optional<std::size_t> newest;
};
Result<CheckpointScan> ScanCheckpoints(Pkcs11Session& session, std::string_view label);

// ScanCheckpoints for every node on the token at once, by node name ("" for the unnamed one).
// Another node's objects may be destroyed by it between the search and the read (its next
// write): such an object is left out, as its replacement, created before it went, is either
// found or was created after the search.
Result<std::map<std::string, CheckpointScan>> ScanEveryNodeCheckpoint(Pkcs11Session& session);

// Creates one checkpoint object (C_CreateObject) of label `label` holding
// EncodeCheckpoint(counter, value).
// kFailedPrecondition with reason kNoDataObjects if the module refuses the template
// (IsDataObjectRefusal); other failures carry the CK_RV (the lane sees a lost session).
Result<CK_OBJECT_HANDLE> CreateCheckpointObject(Pkcs11Session& session, std::string_view label,
                                                std::uint64_t counter,
                                                std::span<const std::uint8_t> value);

// Whether the module keeps private data objects at all, asked without touching the token's
// storage: a private *session* data object is created and destroyed at once. NSS's softoken
// refuses private data objects whether token or session ones (sftk_handleDataObject), so this
// tells it apart before anything was written; the refusal of a token object by
// CreateCheckpointObject remains the final word. Errors other than a refusal carry the CK_RV.
Result<bool> ModuleKeepsDataObjects(Pkcs11Session& session);

// True for the C_CreateObject answers of a module that does not accept the checkpoint's
// template: attribute or template errors, or no object creation at all.
bool IsDataObjectRefusal(CK_RV rv);
// The Status for such a refusal: kFailedPrecondition, reason kNoDataObjects, naming the CKR_
// when there is one (not for the answer remembered from an earlier call).
Status NoDataObjects(CK_RV rv);
Status NoDataObjects();

}  // namespace escrow::hsm
