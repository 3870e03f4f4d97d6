// The IdP's keys reloaded while serving (auth/verifier_source.h): a rotation is taken without
// a restart, a broken file never costs the working set, and a removed key's tokens stop
// verifying even though they were cached.
#include "auth/verifier_source.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "auth/jwks.h"
#include "tests/auth/jwt_test_util.h"
#include "tests/support/temp_dir.h"

namespace escrow::auth {
namespace {

using testing::MintEs256;
using testing::TestKey;

constexpr std::int64_t kNow = 1'800'000'000;
constexpr TimePoint kNowTp{std::chrono::seconds(kNow)};

std::string Token(const TestKey& key) {
  return MintEs256(key, R"({"alg":"ES256","typ":"JWT"})",
                   R"({"iss":"https://idp.example","aud":"escrow-vault","sub":"alice","exp":)" +
                       std::to_string(kNow + 600) + "}");
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  // Written beside and renamed over, as a key sync job would: a new inode each time.
  const std::filesystem::path tmp = path.string() + ".tmp";
  std::ofstream(tmp) << text;
  std::filesystem::rename(tmp, path);
}

struct KeyFile {
  escrow::testing::TempDir dir;
  std::filesystem::path path = dir.path() / "idp.pem";
  VerifierSource::Loader loader = [p = path]() -> Result<JwtVerifier> {
    ESCROW_ASSIGN_OR_RETURN(JwtKey key, LoadJwtKeyPemFile(p, ""));
    JwtPolicy policy;
    policy.issuers = {"https://idp.example"};
    policy.audience = "escrow-vault";
    std::vector<JwtKey> keys;
    keys.push_back(std::move(key));
    return JwtVerifier::Create(std::move(keys), std::move(policy));
  };
  std::unique_ptr<VerifierSource> Open() {
    Result<std::unique_ptr<VerifierSource>> source =
        VerifierSource::Create(loader, {path.string()});
    INFO(source.status().ToString());
    REQUIRE(source.ok());
    return std::move(source).value();
  }
};

bool Verifies(const VerifierSource& source, const std::string& token) {
  return source.Current()->Verify(token, kNowTp).ok();
}

TEST_CASE("The first load of the IdP's keys must succeed", "[auth][reload]") {
  KeyFile f;
  Result<std::unique_ptr<VerifierSource>> missing = VerifierSource::Create(f.loader, {});
  CHECK_FALSE(missing.ok());
  WriteFile(f.path, "not a key");
  CHECK_FALSE(VerifierSource::Create(f.loader, {f.path.string()}).ok());
}

TEST_CASE("A rotated key file is taken, and the removed key's tokens stop verifying",
          "[auth][reload]") {
  KeyFile f;
  const TestKey& old_key = TestKey::SharedEc();
  const TestKey& new_key = TestKey::SharedEc2();
  WriteFile(f.path, old_key.PublicPem());
  std::unique_ptr<VerifierSource> source = f.Open();
  const std::string old_token = Token(old_key);
  const std::string new_token = Token(new_key);
  REQUIRE(Verifies(*source, old_token));  // now in the verifier's cache too
  CHECK_FALSE(Verifies(*source, new_token));
  CHECK_FALSE(source->ReloadIfChanged().has_value());  // nothing changed

  WriteFile(f.path, new_key.PublicPem());
  std::optional<Status> reloaded = source->ReloadIfChanged();
  REQUIRE(reloaded.has_value());
  CHECK(reloaded->ok());
  CHECK(Verifies(*source, new_token));
  CHECK_FALSE(Verifies(*source, old_token));  // not from the old set's cache
  CHECK_FALSE(source->ReloadIfChanged().has_value());
}

TEST_CASE("A key file that fails to load keeps the previous keys", "[auth][reload]") {
  KeyFile f;
  const TestKey& key = TestKey::SharedEc();
  WriteFile(f.path, key.PublicPem());
  std::unique_ptr<VerifierSource> source = f.Open();
  const std::string token = Token(key);
  for (const std::string& broken :
       {std::string("-----BEGIN PUBLIC KEY-----\ntruncated"), std::string(),
        std::string("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")}) {
    WriteFile(f.path, broken);
    std::optional<Status> reloaded = source->ReloadIfChanged();
    REQUIRE(reloaded.has_value());
    CHECK_FALSE(reloaded->ok());
    CHECK(Verifies(*source, token));
    // Not tried again until the file changes again.
    CHECK_FALSE(source->ReloadIfChanged().has_value());
    // An explicit reload (SIGHUP) tries again, and keeps the set again.
    CHECK_FALSE(source->Reload().ok());
    CHECK(Verifies(*source, token));
  }
  // A deleted file: the same.
  std::filesystem::remove(f.path);
  std::optional<Status> gone = source->ReloadIfChanged();
  REQUIRE(gone.has_value());
  CHECK_FALSE(gone->ok());
  CHECK(Verifies(*source, token));
  // Fixed: taken.
  WriteFile(f.path, TestKey::SharedEc2().PublicPem());
  std::optional<Status> fixed = source->ReloadIfChanged();
  REQUIRE(fixed.has_value());
  CHECK(fixed->ok());
  CHECK(Verifies(*source, Token(TestKey::SharedEc2())));
}

TEST_CASE("An explicit reload takes a file changed in place", "[auth][reload]") {
  KeyFile f;
  WriteFile(f.path, TestKey::SharedEc().PublicPem());
  std::unique_ptr<VerifierSource> source = f.Open();
  std::ofstream(f.path, std::ios::trunc) << TestKey::SharedEc2().PublicPem();
  REQUIRE(source->Reload().ok());
  CHECK(Verifies(*source, Token(TestKey::SharedEc2())));
  CHECK_FALSE(Verifies(*source, Token(TestKey::SharedEc())));
}

}  // namespace
}  // namespace escrow::auth
