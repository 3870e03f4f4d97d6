#include "portal/session_store.h"

#include <set>

#include <catch2/catch.hpp>

#include "tests/fakes/manual_clock.h"

namespace escrow::portal {
namespace {

Session Alice(std::int64_t exp) {
  Session s;
  s.user = "alice";
  s.csrf = SessionStore::RandomToken();
  s.token = "header.payload.signature";
  s.exp = exp;
  return s;
}

TEST_CASE("SessionStore finds a session by its id until the token's exp", "[portal][session]") {
  testing::ManualClock clock;
  SessionStore store(clock, 100);
  const std::int64_t now = ToUnixSeconds(clock.Now());
  const std::string id = store.Create(Alice(now + 60));
  CHECK(id.size() == 43);
  REQUIRE(store.Find(id).has_value());
  CHECK(store.Find(id)->user == "alice");
  clock.Advance(std::chrono::seconds(59));
  CHECK(store.Find(id).has_value());
  clock.Advance(std::chrono::seconds(1));
  CHECK_FALSE(store.Find(id).has_value());  // ends at exp
  CHECK(store.size() == 0);                 // and is forgotten
}

TEST_CASE("SessionStore refuses unknown, altered and malformed ids", "[portal][session]") {
  testing::ManualClock clock;
  SessionStore store(clock, 100);
  const std::string id = store.Create(Alice(ToUnixSeconds(clock.Now()) + 60));
  std::string altered = id;
  altered[10] = altered[10] == 'A' ? 'B' : 'A';
  CHECK_FALSE(store.Find(altered).has_value());
  CHECK_FALSE(store.Find(id.substr(1)).has_value());
  CHECK_FALSE(store.Find("").has_value());
  CHECK_FALSE(store.Find(SessionStore::RandomToken()).has_value());
  store.Remove(id);
  CHECK_FALSE(store.Find(id).has_value());
}

TEST_CASE("SessionStore is bounded, dropping the session that ends soonest", "[portal][session]") {
  testing::ManualClock clock;
  SessionStore store(clock, 2);
  const std::int64_t now = ToUnixSeconds(clock.Now());
  const std::string soon = store.Create(Alice(now + 10));
  const std::string late = store.Create(Alice(now + 1000));
  const std::string third = store.Create(Alice(now + 500));
  CHECK(store.size() == 2);
  CHECK_FALSE(store.Find(soon).has_value());
  CHECK(store.Find(late).has_value());
  CHECK(store.Find(third).has_value());
}

TEST_CASE("SessionStore tokens are random and compared in full", "[portal][session]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) CHECK(seen.insert(SessionStore::RandomToken()).second);
  const std::string a = SessionStore::RandomToken();
  CHECK(SessionStore::TokensEqual(a, a));
  CHECK_FALSE(SessionStore::TokensEqual(a, a.substr(0, 42)));
  CHECK_FALSE(SessionStore::TokensEqual(a, a.substr(0, 42) + (a[42] == 'x' ? "y" : "x")));
  CHECK_FALSE(SessionStore::TokensEqual("", ""));  // an empty token never matches
}

}  // namespace
}  // namespace escrow::portal
