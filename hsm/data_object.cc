#include "hsm/data_object.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>

#include <openssl/sha.h>

#include "base/id_chars.h"
#include "hsm/ck_error.h"
#include "hsm/key_objects.h"
#include "hsm/key_service.h"

namespace escrow::hsm {
namespace {

constexpr std::array<std::uint8_t, 4> kMagic = {'E', 'C', 'K', 'P'};
constexpr std::uint8_t kFormat = 1;
constexpr std::size_t kHeaderBytes = kMagic.size() + 1 + 8;
constexpr std::size_t kDigestBytes = SHA256_DIGEST_LENGTH;

CK_BBOOL kTrue = CK_TRUE;    // NOLINT: PKCS#11 templates take non-const pointers
CK_BBOOL kFalse = CK_FALSE;  // NOLINT

CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, CK_OBJECT_CLASS* cls) {
  return {type, cls, sizeof(*cls)};
}
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, CK_BBOOL* flag) { return {type, flag, sizeof(*flag)}; }
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, std::string& text) {
  return {type, text.data(), text.size()};
}
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, Bytes& bytes) {
  return {type, bytes.data(), bytes.size()};
}

std::array<std::uint8_t, kDigestBytes> Digest(std::span<const std::uint8_t> bytes) {
  std::array<std::uint8_t, kDigestBytes> out{};
  SHA256(bytes.data(), bytes.size(), out.data());
  return out;
}

std::uint64_t ReadU64Be(std::span<const std::uint8_t> bytes) {
  std::uint64_t v = 0;
  for (const std::uint8_t b : bytes.first(8)) v = (v << 8U) | b;
  return v;
}

constexpr char kNodeSeparator = '@';

// A private data object of label `label_text` and the checkpoint's application, token or
// session.
Result<CK_OBJECT_HANDLE> CreateDataObject(Pkcs11Session& session, bool token,
                                          std::string_view label_text, Bytes stored) {
  CK_OBJECT_CLASS cls = CKO_DATA;
  std::string label(label_text);
  std::string application(kCheckpointApplication);
  CK_ATTRIBUTE attrs[] = {
      Attr(CKA_CLASS, &cls),  Attr(CKA_TOKEN, token ? &kTrue : &kFalse), Attr(CKA_PRIVATE, &kTrue),
      Attr(CKA_LABEL, label), Attr(CKA_APPLICATION, application),        Attr(CKA_VALUE, stored),
  };
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  const CK_RV rv =
      session.fns()->C_CreateObject(session.handle(), attrs, std::size(attrs), &handle);
  if (IsDataObjectRefusal(rv)) return NoDataObjects(rv);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_CreateObject (data object)"));
  return handle;
}

// Builds a CheckpointScan one object at a time, keeping the newest by NewerCheckpoint.
class ScanBuilder {
 public:
  void Add(CK_OBJECT_HANDLE handle, Bytes stored) {
    CheckpointObject object{handle, DecodeCheckpoint(stored)};
    if (object.record &&
        (!scan_.newest || NewerCheckpoint(object.record->counter, stored,
                                          scan_.objects[*scan_.newest].record->counter,
                                          newest_stored_))) {
      scan_.newest = scan_.objects.size();
      newest_stored_ = std::move(stored);
    }
    scan_.objects.push_back(std::move(object));
  }
  CheckpointScan Take() { return std::move(scan_); }

 private:
  CheckpointScan scan_;
  Bytes newest_stored_;
};

}  // namespace

Status ValidateNodeName(std::string_view node) {
  constexpr std::size_t kMaxNodeName = 64;
  if (node.size() > kMaxNodeName || !AllIdChars(node)) return Status::InvalidArgument("node name must be 1 to 64 of [A-Za-z0-9._-]");
  return Status::Ok();
}

std::string CheckpointLabel(std::string_view node) {
  std::string label(kCheckpointLabel);
  if (!node.empty()) {
    label += kNodeSeparator;
    label += node;
  }
  return label;
}

std::optional<std::string> CheckpointNode(std::string_view label) {
  if (!label.starts_with(kCheckpointLabel)) return std::nullopt;
  const std::string_view rest = label.substr(kCheckpointLabel.size());
  if (rest.empty()) return std::string();
  if (rest.size() < 2 || rest.front() != kNodeSeparator) return std::nullopt;
  return std::string(rest.substr(1));
}

Bytes EncodeCheckpoint(std::uint64_t counter, std::span<const std::uint8_t> value) {
  Bytes out;
  out.reserve(kHeaderBytes + value.size() + kDigestBytes);
  Append(out, kMagic);
  AppendU8(out, kFormat);
  AppendU64Be(out, counter);
  Append(out, value);
  Append(out, Digest(out));
  return out;
}

std::optional<CheckpointRecord> DecodeCheckpoint(std::span<const std::uint8_t> stored) {
  if (stored.size() < kHeaderBytes + kDigestBytes ||
      stored.size() > kHeaderBytes + kMaxCheckpointBytes + kDigestBytes) {
    return std::nullopt;
  }
  if (!std::equal(kMagic.begin(), kMagic.end(), stored.begin()) ||
      stored[kMagic.size()] != kFormat) {
    return std::nullopt;
  }
  const std::span<const std::uint8_t> body = stored.first(stored.size() - kDigestBytes);
  const std::array<std::uint8_t, kDigestBytes> digest = Digest(body);
  // Not a secret (the value is readable by the same login): a plain comparison will do.
  if (!std::equal(digest.begin(), digest.end(), stored.last(kDigestBytes).begin())) {
    return std::nullopt;
  }
  CheckpointRecord record;
  record.counter = ReadU64Be(body.subspan(kMagic.size() + 1));
  const std::span<const std::uint8_t> value = body.subspan(kHeaderBytes);
  record.value.assign(value.begin(), value.end());
  return record;
}

bool NewerCheckpoint(std::uint64_t a_counter, std::span<const std::uint8_t> a_stored,
                     std::uint64_t b_counter, std::span<const std::uint8_t> b_stored) {
  if (a_counter != b_counter) return a_counter > b_counter;
  return std::lexicographical_compare(b_stored.begin(), b_stored.end(), a_stored.begin(),
                                      a_stored.end());
}

Result<CheckpointScan> ScanCheckpoints(Pkcs11Session& session, std::string_view label_text) {
  CK_OBJECT_CLASS cls = CKO_DATA;
  std::string label(label_text);
  std::string application(kCheckpointApplication);
  // Private only: a public object can be created without the PIN, so it must never count.
  CK_ATTRIBUTE attrs[] = {Attr(CKA_CLASS, &cls), Attr(CKA_TOKEN, &kTrue), Attr(CKA_PRIVATE, &kTrue),
                          Attr(CKA_LABEL, label), Attr(CKA_APPLICATION, application)};
  ESCROW_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found, FindObjects(session, attrs));
  ScanBuilder scan;
  for (const CK_OBJECT_HANDLE handle : found) {
    ESCROW_ASSIGN_OR_RETURN(Bytes stored, ReadAttributeBytes(session, handle, CKA_VALUE));
    scan.Add(handle, std::move(stored));
  }
  return scan.Take();
}

Result<std::map<std::string, CheckpointScan>> ScanEveryNodeCheckpoint(Pkcs11Session& session) {
  CK_OBJECT_CLASS cls = CKO_DATA;
  std::string application(kCheckpointApplication);
  CK_ATTRIBUTE attrs[] = {Attr(CKA_CLASS, &cls), Attr(CKA_TOKEN, &kTrue), Attr(CKA_PRIVATE, &kTrue),
                          Attr(CKA_APPLICATION, application)};
  ESCROW_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found, FindObjects(session, attrs));
  std::map<std::string, ScanBuilder> nodes;
  for (const CK_OBJECT_HANDLE handle : found) {
    Result<Bytes> label = ReadAttributeBytes(session, handle, CKA_LABEL);
    Result<Bytes> stored = label.ok() ? ReadAttributeBytes(session, handle, CKA_VALUE) : label;
    // Destroyed since the search (another node's older object): its newer one counts.
    if (!stored.ok() && stored.status().code() == Code::kNotFound) continue;
    if (!stored.ok()) return stored.status();
    std::optional<std::string> node =
        CheckpointNode(std::string_view(reinterpret_cast<const char*>(label->data()), label->size()));
    if (!node) continue;  // not a checkpoint (another data object of ours)
    nodes[*node].Add(handle, std::move(stored).value());
  }
  std::map<std::string, CheckpointScan> out;
  for (auto& [node, scan] : nodes) out.emplace(node, scan.Take());
  return out;
}

Result<CK_OBJECT_HANDLE> CreateCheckpointObject(Pkcs11Session& session, std::string_view label,
                                                std::uint64_t counter,
                                                std::span<const std::uint8_t> value) {
  return CreateDataObject(session, true, label, EncodeCheckpoint(counter, value));
}

Result<bool> ModuleKeepsDataObjects(Pkcs11Session& session) {
  Result<CK_OBJECT_HANDLE> probe =
      CreateDataObject(session, false, kCheckpointLabel, EncodeCheckpoint(0, {}));
  if (!probe.ok()) {
    if (probe.status().reason() == kNoDataObjects) return false;
    return probe.status();
  }
  const ScopedObject destroyed(session, *probe);  // C_DestroyObject, at once
  return true;
}

bool IsDataObjectRefusal(CK_RV rv) {
  switch (rv) {
    case CKR_ATTRIBUTE_TYPE_INVALID:
    case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_ATTRIBUTE_READ_ONLY:
    case CKR_TEMPLATE_INCOMPLETE:
    case CKR_TEMPLATE_INCONSISTENT:
    case CKR_FUNCTION_NOT_SUPPORTED:
      return true;
    default:
      return false;
  }
}

Status NoDataObjects(CK_RV rv) {
  return Status::FailedPrecondition(
      "the PKCS#11 module keeps no private data objects (C_CreateObject: " + CkRvName(rv) +
          "), so the audit checkpoint cannot be kept on the token",
      std::string(kNoDataObjects));
}

Status NoDataObjects() {
  return Status::FailedPrecondition(
      "the PKCS#11 module keeps no private data objects, so the audit checkpoint cannot be "
      "kept on the token",
      std::string(kNoDataObjects));
}

}  // namespace escrow::hsm
