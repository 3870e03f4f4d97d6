// Several nodes' audit checkpoints on one real SoftHSMv2 token (hsm/data_object.h): each node
// keeps and replaces only its own objects, a reader of every node's sees each node's newest,
// and two processes writing at once on one token never fail or disturb each other.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "hsm/key_service.h"
#include "tests/hsm/key_service_fixture.h"
#include "tests/hsm/pkcs11_tool.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

namespace escrow::hsm {
namespace {

using escrow::testing::RunCommand;
using escrow::testing::SoftHsmToken;

Bytes Value(std::string_view text) { return Bytes(text.begin(), text.end()); }

std::unique_ptr<KeyService> OpenNode(const SoftHsmToken& token, const std::string& node) {
  HsmConfig config = token.config();
  config.node = node;
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(config);
  INFO(keys.status().ToString());
  REQUIRE(keys.ok());
  return std::move(keys).value();
}

void Write(KeyService& keys, std::string_view value) {
  const Status s = keys.WriteCheckpoint(Value(value));
  INFO(s.ToString());
  REQUIRE(s.ok());
}

std::optional<Bytes> ReadOwn(KeyService& keys) {
  Result<std::optional<Bytes>> read = keys.ReadCheckpoint();
  INFO(read.status().ToString());
  REQUIRE(read.ok());
  return *read;
}

// node -> value, as ReadEveryCheckpoint lists them.
std::map<std::string, std::string> Every(KeyService& keys) {
  Result<std::vector<NodeCheckpointValue>> every = keys.ReadEveryCheckpoint();
  INFO(every.status().ToString());
  REQUIRE(every.ok());
  std::map<std::string, std::string> out;
  for (const NodeCheckpointValue& node : *every) {
    REQUIRE(node.value.has_value());
    out[node.node] = std::string(node.value->begin(), node.value->end());
  }
  return out;
}

// Data objects on the token whose label is exactly `label`.
std::size_t ListedWithLabel(const SoftHsmToken& token, const std::string& label) {
  std::string listing;
  REQUIRE(Pkcs11Tool(token, "--list-objects --type data", &listing) == 0);
  INFO(listing);
  std::size_t n = 0;
  const std::string quoted = "'" + label + "'";
  for (std::size_t at = listing.find(quoted); at != std::string::npos;
       at = listing.find(quoted, at + 1)) {
    ++n;
  }
  return n;
}

TEST_CASE("Node names are checked", "[hsm][checkpoint]") {
  CHECK(ValidateNodeName("").ok());
  CHECK(ValidateNodeName("vault-1.example_a").ok());
  CHECK(ValidateNodeName(std::string(64, 'n')).ok());
  CHECK_FALSE(ValidateNodeName(std::string(65, 'n')).ok());
  CHECK_FALSE(ValidateNodeName("a b").ok());
  CHECK_FALSE(ValidateNodeName("a@b").ok());
  CHECK_FALSE(ValidateNodeName("a/b").ok());
  SoftHsmToken token;
  HsmConfig config = token.config();
  config.node = "not a name";
  CHECK(KeyService::Open(config).status().code() == Code::kInvalidArgument);
}

TEST_CASE("Each node keeps its own checkpoint on a shared token", "[hsm][checkpoint]") {
  ESCROW_SKIP_ON_NSS("no private data objects (checkpoint_nss_test.cc)");
  SoftHsmToken token;
  std::unique_ptr<KeyService> unnamed = OpenNode(token, "");
  std::unique_ptr<KeyService> a = OpenNode(token, "a");
  std::unique_ptr<KeyService> b = OpenNode(token, "b");
  CHECK(Every(*a).empty());

  Write(*unnamed, "legacy");
  Write(*a, "a1");
  Write(*b, "b1");
  Write(*a, "a2");
  // Each node reads its own; a write replaced only the writer's object.
  CHECK(ReadOwn(*a) == Value("a2"));
  CHECK(ReadOwn(*b) == Value("b1"));
  CHECK(ReadOwn(*unnamed) == Value("legacy"));
  CHECK(ListedWithLabel(token, "escrow-audit-checkpoint@a") == 1);
  CHECK(ListedWithLabel(token, "escrow-audit-checkpoint@b") == 1);
  CHECK(ListedWithLabel(token, "escrow-audit-checkpoint") == 1);
  // Every node's newest, from any node.
  const std::map<std::string, std::string> expected = {{"", "legacy"}, {"a", "a2"}, {"b", "b1"}};
  CHECK(Every(*b) == expected);
  CHECK(Every(*unnamed) == expected);

  SECTION("ForgetOtherCheckpoints leaves only the caller's") {
    REQUIRE(b->ForgetOtherCheckpoints().ok());
    CHECK(Every(*a) == std::map<std::string, std::string>{{"b", "b1"}});
    CHECK_FALSE(ReadOwn(*a).has_value());
    CHECK(ListedWithLabel(token, "escrow-audit-checkpoint@a") == 0);
    CHECK(ListedWithLabel(token, "escrow-audit-checkpoint") == 0);
  }
  SECTION("a node whose objects are damaged is listed without a value") {
    const std::string path = token.WriteFile("damaged", "not a checkpoint");
    std::string out;
    REQUIRE(Pkcs11Tool(token,
                       "--write-object " + path +
                           " --type data --label escrow-audit-checkpoint@c "
                           "--application-label escrow-vault --private",
                       &out) == 0);
    Result<std::vector<NodeCheckpointValue>> every = a->ReadEveryCheckpoint();
    REQUIRE(every.ok());
    REQUIRE(every->size() == 4);
    CHECK(every->back().node == "c");
    CHECK_FALSE(every->back().value.has_value());
  }
}

// Two processes (two SoftHSMv2 instances) on one token directory, as two vaultd nodes sharing a
// token: with a node each, neither write ever fails and each ends with exactly its newest. The
// second opens while the first writes (as a node joins one that serves); not both at once:
// SoftHSMv2 rewrites token.object in place at every C_Login, so a process scanning the slots
// while another logs in may find no token at all (SoftHSMv2's, not the checkpoint's).
TEST_CASE("Two processes write their nodes' checkpoints at once on one token",
          "[hsm][checkpoint]") {
  ESCROW_SKIP_ON_NSS("no private data objects, and the writers are SoftHSMv2 processes");
  SoftHsmToken token;
  const std::string writer = std::string(CHECKPOINT_WRITER_PATH) + " " + token.module_path() +
                             " '" + token.label() + "' '" + token.pin_file() + "'";
  constexpr int kWrites = 60;
  const std::string script = token.WriteFile(
      "two-writers.sh",
      writer + " 1 " + std::to_string(kWrites) + " a > \"$1/a.out\" & pa=$!\n" +
          "until grep -q ready \"$1/a.out\" 2>/dev/null; do sleep 0.01; done\n" + writer +
          " 1001 " + std::to_string(kWrites) + " b > /dev/null & pb=$!\n" +
          "wait $pa; ra=$?; wait $pb; rb=$?; exit $((ra | rb))\n");
  testing::TempDir outputs;
  std::string out;
  const int rc = RunCommand(testing::SoftHsmToken::ShellEnv() + "sh " + script + " " +
                                outputs.str() + " 2>&1",
                            &out);
  INFO(out);
  CHECK(rc == 0);
  CHECK(ListedWithLabel(token, "escrow-audit-checkpoint@a") == 1);
  CHECK(ListedWithLabel(token, "escrow-audit-checkpoint@b") == 1);
  std::unique_ptr<KeyService> reader = OpenNode(token, "");
  Result<std::vector<NodeCheckpointValue>> every = reader->ReadEveryCheckpoint();
  REQUIRE(every.ok());
  REQUIRE(every->size() == 2);
  Bytes last_a;
  AppendU64Be(last_a, kWrites);
  Bytes last_b;
  AppendU64Be(last_b, 1000 + kWrites);
  CHECK((*every)[0].value == last_a);
  CHECK((*every)[1].value == last_b);
}

}  // namespace
}  // namespace escrow::hsm
