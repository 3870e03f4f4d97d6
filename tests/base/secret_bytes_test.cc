#include "base/secret_bytes.h"

#include <catch2/catch.hpp>

#include <openssl/crypto.h>

#include <string>
#include <type_traits>
#include <vector>

namespace escrow {
namespace {

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);

TEST_CASE("SecretBytes lives in the secure heap, zero-filled", "[base][secret]") {
  SecretBytes s(24);
  REQUIRE(s.size() == 24);
  for (auto b : s.RevealSecret()) CHECK(b == 0);
  CHECK(CRYPTO_secure_allocated(s.RevealSecret().data()) == 1);
}

TEST_CASE("SecretBytes moves leave the source empty", "[base][secret]") {
  SecretBytes a = SecretBytes::CopyOf(std::string_view("ABCD-EFGH"));
  const auto* p = a.RevealSecret().data();
  SecretBytes b = std::move(a);
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the point of the test
  CHECK(b.RevealSecret().data() == p);
  CHECK(b.RevealSecretText() == "ABCD-EFGH");
  SecretBytes c;
  c = std::move(b);
  CHECK(c.RevealSecretText() == "ABCD-EFGH");
}

TEST_CASE("SecretBytes truncation wipes the tail", "[base][secret]") {
  SecretBytes s = SecretBytes::CopyOf(std::string_view("secretXYZ"));
  auto* raw = s.mutable_span().data();
  s.Truncate(6);
  CHECK(s.RevealSecretText() == "secret");
  CHECK(raw[6] == 0);
  CHECK(raw[8] == 0);
}

TEST_CASE("ConstantTimeEquals compares contents and sizes", "[base][secret]") {
  CHECK(ConstantTimeEquals(SecretBytes::CopyOf(std::string_view("abc")),
                           SecretBytes::CopyOf(std::string_view("abc"))));
  CHECK_FALSE(ConstantTimeEquals(SecretBytes::CopyOf(std::string_view("abc")),
                                 SecretBytes::CopyOf(std::string_view("abd"))));
  CHECK_FALSE(ConstantTimeEquals(SecretBytes::CopyOf(std::string_view("abc")),
                                 SecretBytes::CopyOf(std::string_view("abcd"))));
  CHECK(ConstantTimeEquals(SecretBytes(), SecretBytes()));
}


TEST_CASE("A full secure heap throws SecureHeapExhausted, and recovers once secrets are freed",
          "[base][secret]") {
  SecretBytes probe(1);
  REQUIRE(CRYPTO_secure_allocated(probe.RevealSecret().data()) == 1);  // the 1 MiB heap is on
  std::vector<SecretBytes> held;
  bool exhausted = false;
  try {
    for (int i = 0; i < 1024; ++i) held.emplace_back(4096);  // 4 MiB: far past the heap
  } catch (const SecureHeapExhausted& e) {
    exhausted = true;
    CHECK(std::string(e.what()) == "secure heap exhausted");
  }
  REQUIRE(exhausted);
  CHECK_FALSE(held.empty());
  held.clear();
  SecretBytes again(4096);  // room again
  CHECK(again.size() == 4096);
}

}  // namespace
}  // namespace escrow
