// KeyService's audit checkpoint on real SoftHSMv2 tokens: the data object, its replacement
// (create the new one, sync, destroy the old), what a reader does with two objects or a torn
// one, and what pkcs11-tool sees.

#include <chrono>
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "hsm/data_object.h"
#include "hsm/key_service.h"
#include "tests/hsm/key_service_fixture.h"
#include "tests/hsm/pkcs11_tool.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using escrow::testing::RunCommand;
using escrow::testing::SoftHsmToken;

Bytes Value(std::string_view text) { return Bytes(text.begin(), text.end()); }

std::optional<Bytes> Read(KeyService& keys) {
  Result<std::optional<Bytes>> read = keys.ReadCheckpoint();
  INFO(read.status().ToString());
  REQUIRE(read.ok());
  return *read;
}

void Write(KeyService& keys, const Bytes& value) {
  const Status s = keys.WriteCheckpoint(value);
  INFO(s.ToString());
  REQUIRE(s.ok());
}

// Puts a private data object of the checkpoint's label and application holding `stored` on the
// token behind the KeyService's back (as a crash between a write's steps would leave it).
void PlantObject(const SoftHsmToken& token, const Bytes& stored, bool is_private = true) {
  static int planted = 0;
  const std::string path = token.WriteFile("planted-" + std::to_string(++planted),
                                           std::string(stored.begin(), stored.end()));
  std::string out;
  const int rc = Pkcs11Tool(token,
                            "--write-object " + path +
                                " --type data --label escrow-audit-checkpoint "
                                "--application-label escrow-vault" +
                                (is_private ? " --private" : ""),
                            &out);
  INFO(out);
  REQUIRE(rc == 0);
}

TEST_CASE("The token's audit checkpoint is absent until written, then reads back as written",
          "[hsm][checkpoint]") {
  ESCROW_SKIP_ON_NSS("no private data objects (checkpoint_nss_test.cc)");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  CHECK_FALSE(Read(*keys).has_value());

  Write(*keys, Value("seq 1"));
  CHECK(Read(*keys) == Value("seq 1"));

  SECTION("a write replaces the value") {
    Write(*keys, Value("seq 2, a longer value"));
    CHECK(Read(*keys) == Value("seq 2, a longer value"));
    Write(*keys, Value("3"));
    CHECK(Read(*keys) == Value("3"));
  }
  SECTION("an empty value and one of exactly kMaxCheckpointBytes are kept as given") {
    Write(*keys, Bytes{});
    CHECK(Read(*keys) == Bytes{});
    const Bytes longest(kMaxCheckpointBytes, 0xa5);
    Write(*keys, longest);
    CHECK(Read(*keys) == longest);
  }
  SECTION("a value longer than kMaxCheckpointBytes is kInvalidArgument and changes nothing") {
    const Bytes too_long(kMaxCheckpointBytes + 1, 0x5a);
    CHECK(keys->WriteCheckpoint(too_long).code() == Code::kInvalidArgument);
    CHECK(Read(*keys) == Value("seq 1"));
    CHECK(ListedCheckpoints(token) == 1);
  }
}

TEST_CASE("The audit checkpoint survives a new KeyService", "[hsm][checkpoint]") {
  ESCROW_SKIP_ON_NSS("no private data objects (checkpoint_nss_test.cc)");
  SoftHsmToken token;
  {
    std::unique_ptr<KeyService> keys = OpenKeys(token);
    Write(*keys, Value("before"));
    Write(*keys, Value("kept"));
  }
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  CHECK(Read(*keys) == Value("kept"));
}

TEST_CASE("pkcs11-tool lists exactly one checkpoint data object after several writes",
          "[hsm][checkpoint]") {
  ESCROW_SKIP_ON_NSS("no private data objects, and pkcs11-tool cannot pass init_args");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  for (int i = 0; i < 5; ++i) Write(*keys, Value("checkpoint " + std::to_string(i)));
  CHECK(ListedCheckpoints(token) == 1);
  std::string listing;
  REQUIRE(Pkcs11Tool(token, "--list-objects --type data", &listing) == 0);
  CHECK_THAT(listing, Catch::Contains("application:    'escrow-vault'"));
  CHECK_THAT(listing, Catch::Contains("private"));
  // A private object: without the PIN it is not even listed.
  std::string anonymous;
  REQUIRE(RunCommand(SoftHsmToken::ShellEnv() + "pkcs11-tool --module " + token.module_path() +
                         " --token-label '" + token.label() + "' --list-objects --type data 2>&1",
                     &anonymous) == 0);
  CHECK_THAT(anonymous, !Catch::Contains("escrow-audit-checkpoint"));
}

TEST_CASE("ListKeys never lists the checkpoint data object", "[hsm][checkpoint]") {
  ESCROW_SKIP_ON_NSS("no private data objects (checkpoint_nss_test.cc)");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenWithKeys(token);
  Write(*keys, Value("head"));
  Result<std::vector<KeyInfo>> list = keys->ListKeys();
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].label == "escrow-master-v1");
  CHECK((*list)[1].label == "escrow-audit-v1");
}

TEST_CASE(
    "A reader of two checkpoint objects picks the higher counter, then the greater bytes, and "
    "the next write leaves one",
    "[hsm][checkpoint]") {
  ESCROW_SKIP_ON_NSS("no private data objects (checkpoint_nss_test.cc)");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Write(*keys, Value("old"));  // counter 1

  SECTION("old and new: a crash after the new object was created, before the old one went") {
    PlantObject(token, EncodeCheckpoint(2, Value("new")));
    CHECK(Read(*keys) == Value("new"));
    CHECK(ListedCheckpoints(token) == 2);
    Write(*keys, Value("next"));  // counter 3
    CHECK(Read(*keys) == Value("next"));
    CHECK(ListedCheckpoints(token) == 1);
  }
  SECTION("two writers at once with the same counter: the greater value, for every reader") {
    PlantObject(token, EncodeCheckpoint(1, Value("zzz")));
    CHECK(Read(*keys) == Value("zzz"));
    std::unique_ptr<KeyService> other = OpenKeys(token);
    CHECK(Read(*other) == Value("zzz"));
  }
  SECTION("a torn or foreign object beside a good one is ignored, then removed") {
    Bytes torn = EncodeCheckpoint(7, Value("torn"));
    torn.resize(torn.size() - 5);
    PlantObject(token, torn);
    PlantObject(token, Value("not ours at all"));
    CHECK(Read(*keys) == Value("old"));
    Write(*keys, Value("after"));
    CHECK(Read(*keys) == Value("after"));
    CHECK(ListedCheckpoints(token) == 1);
  }
  SECTION("a public object (made without the PIN) never counts") {
    PlantObject(token, EncodeCheckpoint(99, Value("planted")), false);
    CHECK(Read(*keys) == Value("old"));
    Write(*keys, Value("mine"));
    CHECK(Read(*keys) == Value("mine"));
  }
}

TEST_CASE("Checkpoint objects that all fail to decode are kDataLoss, not an absent checkpoint",
          "[hsm][checkpoint]") {
  ESCROW_SKIP_ON_NSS("no private data objects, and pkcs11-tool cannot pass init_args");
  SoftHsmToken token;
  Bytes damaged = EncodeCheckpoint(3, Value("head"));
  damaged[damaged.size() / 2] ^= 0x01;
  PlantObject(token, damaged);
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Result<std::optional<Bytes>> read = keys->ReadCheckpoint();
  CHECK(read.status().code() == Code::kDataLoss);
  CHECK_THAT(read.status().message(), Catch::Contains("escrow-audit-checkpoint"));
  // A write replaces it (the operator's way out, as much as removing it by hand).
  Write(*keys, Value("fresh"));
  CHECK(Read(*keys) == Value("fresh"));
  CHECK(ListedCheckpoints(token) == 1);
}

}  // namespace
}  // namespace escrow::hsm

namespace escrow::hsm {
namespace {

// Not run by ctest (hidden tag): how long one checkpoint write takes on a token that holds
// the vault's four keys, for docs/benchmarks.md. Prints; asserts no timing.
//   build/tests/hsm/escrow_hsm_tests "[.checkpoint-timing]"
TEST_CASE("Checkpoint write timing", "[.checkpoint-timing]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  for (const KeyRole role : {KeyRole::kMaster, KeyRole::kAudit, KeyRole::kFingerprint,
                             KeyRole::kState}) {
    REQUIRE(keys->GenerateKey(role, 1, false).ok());
  }
  constexpr int kWrites = 100;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kWrites; ++i) Write(*keys, Value("seq " + std::to_string(i)));
  const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  WARN("checkpoint write: " << took.count() / kWrites << " ms each over " << kWrites);
  CHECK(Read(*keys) == Value("seq 99"));
}

}  // namespace
}  // namespace escrow::hsm
