#include "hsm/pin_file.h"

#include <catch2/catch.hpp>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace escrow::hsm {
namespace {

using escrow::testing::TempDir;

std::string Write(const TempDir& dir, const std::string& content) {
  const std::filesystem::path path = dir.path() / "pin";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path.string();
}

TEST_CASE("ReadPinFile strips exactly one trailing newline", "[hsm][pin]") {
  TempDir dir;
  auto read = [&](const std::string& content) {
    Result<SecretBytes> pin = ReadPinFile(Write(dir, content));
    REQUIRE(pin.ok());
    return std::string(pin->RevealSecretText());
  };
  CHECK(read("1234") == "1234");
  CHECK(read("1234\n") == "1234");
  CHECK(read("1234\r\n") == "1234");
  CHECK(read("1234\n\n") == "1234\n");
  CHECK(read(" 12 34 ") == " 12 34 ");
}

TEST_CASE("ReadPinFile refuses missing, empty and oversized files without echoing them",
          "[hsm][pin]") {
  TempDir dir;
  for (const std::string& content : {std::string(), std::string("\n"), std::string(300, 'p')}) {
    Result<SecretBytes> pin = ReadPinFile(Write(dir, content));
    REQUIRE_FALSE(pin.ok());
    CHECK(pin.status().code() == Code::kInvalidArgument);
    CHECK_THAT(pin.status().message(), !Catch::Contains("ppp"));
  }
  Result<SecretBytes> missing = ReadPinFile((dir.path() / "nope").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Code::kInvalidArgument);
  CHECK_THAT(missing.status().message(), Catch::Contains("nope"));
}

}  // namespace
}  // namespace escrow::hsm
