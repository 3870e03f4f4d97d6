// hsm/data_object.h without a token: the checkpoint's own header (encode, decode, which of two
// is newer) and the mapping of a module's refusal to kNoDataObjects.

#include "hsm/data_object.h"

#include <catch2/catch.hpp>

#include "hsm/key_service.h"

namespace escrow::hsm {
namespace {

Bytes Value(std::string_view text) { return Bytes(text.begin(), text.end()); }

TEST_CASE("A checkpoint value decodes back with its counter", "[hsm][checkpoint]") {
  const Bytes stored = EncodeCheckpoint(0x0102030405060708ULL, Value("head"));
  // "ECKP" | 1 | u64be counter | value | SHA-256.
  REQUIRE(stored.size() == 4 + 1 + 8 + 4 + 32);
  CHECK(Bytes(stored.begin(), stored.begin() + 5) == Bytes{'E', 'C', 'K', 'P', 1});
  CHECK(Bytes(stored.begin() + 5, stored.begin() + 13) == Bytes{1, 2, 3, 4, 5, 6, 7, 8});
  const std::optional<CheckpointRecord> record = DecodeCheckpoint(stored);
  REQUIRE(record.has_value());
  CHECK(record->counter == 0x0102030405060708ULL);
  CHECK(record->value == Value("head"));

  const std::optional<CheckpointRecord> empty = DecodeCheckpoint(EncodeCheckpoint(1, {}));
  REQUIRE(empty.has_value());
  CHECK(empty->value.empty());
}

TEST_CASE("A torn, flipped or foreign checkpoint value does not decode", "[hsm][checkpoint]") {
  const Bytes stored = EncodeCheckpoint(5, Value("audit head 42"));
  for (std::size_t len = 0; len < stored.size(); ++len) {
    INFO("truncated to " << len);
    CHECK_FALSE(DecodeCheckpoint(std::span(stored).first(len)).has_value());
  }
  for (std::size_t bit = 0; bit < stored.size() * 8; ++bit) {
    Bytes flipped = stored;
    flipped[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    INFO("bit " << bit);
    CHECK_FALSE(DecodeCheckpoint(flipped).has_value());
  }
  CHECK_FALSE(DecodeCheckpoint(Value("a value written by someone else")).has_value());
  // Longer than any value WriteCheckpoint accepts, even with a valid digest.
  CHECK_FALSE(DecodeCheckpoint(EncodeCheckpoint(1, Bytes(kMaxCheckpointBytes + 1, 0))));
  CHECK(DecodeCheckpoint(EncodeCheckpoint(1, Bytes(kMaxCheckpointBytes, 0))).has_value());
}

TEST_CASE("Of two checkpoints the higher counter is newer, then the greater bytes",
          "[hsm][checkpoint]") {
  const Bytes a = EncodeCheckpoint(2, Value("aaa"));
  const Bytes b = EncodeCheckpoint(3, Value("aaa"));
  CHECK(NewerCheckpoint(3, b, 2, a));
  CHECK_FALSE(NewerCheckpoint(2, a, 3, b));
  const Bytes low = EncodeCheckpoint(4, Value("abc"));
  const Bytes high = EncodeCheckpoint(4, Value("abd"));
  const bool high_wins = NewerCheckpoint(4, high, 4, low);
  CHECK(high_wins != NewerCheckpoint(4, low, 4, high));  // exactly one of the two orders
  CHECK(high_wins == (high > low));
  CHECK_FALSE(NewerCheckpoint(4, low, 4, low));  // not newer than itself
}

TEST_CASE("A module's template or attribute refusal of a data object is kNoDataObjects",
          "[hsm][checkpoint]") {
  // NSS's softoken answers CKR_ATTRIBUTE_VALUE_INVALID to a private or token data object.
  for (const CK_RV rv :
       {CKR_ATTRIBUTE_VALUE_INVALID, CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_READ_ONLY,
        CKR_TEMPLATE_INCOMPLETE, CKR_TEMPLATE_INCONSISTENT, CKR_FUNCTION_NOT_SUPPORTED}) {
    INFO(rv);
    CHECK(IsDataObjectRefusal(rv));
    const Status s = NoDataObjects(rv);
    CHECK(s.code() == Code::kFailedPrecondition);
    CHECK(s.reason() == kNoDataObjects);
  }
  CHECK_THAT(NoDataObjects(CKR_ATTRIBUTE_VALUE_INVALID).message(),
             Catch::Contains("C_CreateObject: CKR_ATTRIBUTE_VALUE_INVALID"));
  CHECK(NoDataObjects().reason() == kNoDataObjects);
  // A lost session, a full token or a missing login is an outage, never "no data objects".
  for (const CK_RV rv : {CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_REMOVED, CKR_USER_NOT_LOGGED_IN,
                         CKR_DEVICE_MEMORY, CKR_GENERAL_ERROR, CKR_OK}) {
    INFO(rv);
    CHECK_FALSE(IsDataObjectRefusal(rv));
  }
}

}  // namespace
}  // namespace escrow::hsm
