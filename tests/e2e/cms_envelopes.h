#pragma once

// CMS envelopes for the e2e tests, made by the `openssl cms -encrypt` command line (no Mac runs
// here; an implementation independent of ours) to certificates the vault serves.

#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/e2e/vault_process.h"
#include "tests/support/temp_dir.h"

namespace escrow::e2e {

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

// Makes envelopes in a directory of its own (not the vault's state, which is grepped).
struct Envelopes {
  testing::TempDir dir;
  int n = 0;

  // The served certificate `pem` written to a file.
  std::string Cert(const std::string& pem) {
    const std::string path = dir.str() + "/cert" + std::to_string(++n) + ".pem";
    WriteText(path, pem);
    return path;
  }
  // The DER envelope of `content` (file path) made with `flags`, to `recip_args`.
  std::string Der(const std::string& content, const std::string& flags,
                  const std::string& recip_args) {
    const std::string in = dir.str() + "/in" + std::to_string(++n) + ".txt";
    const std::string out = dir.str() + "/env" + std::to_string(n) + ".der";
    WriteText(in, content);
    std::string said;
    const std::string cmd = "openssl cms -encrypt -binary " + flags + " -in " + Quote(in) +
                            " -outform DER -out " + Quote(out) + " " + recip_args + " 2>&1";
    INFO(cmd);
    REQUIRE(Sh(cmd, &said) == 0);
    return out;
  }
  // A DER file as one line of base64.
  static std::string Base64(const std::string& der_path) {
    std::string out;
    REQUIRE(Sh("openssl base64 -A -in " + Quote(der_path), &out) == 0);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
  std::string Make(const std::string& content, const std::string& flags,
                   const std::string& recip_args) {
    return Base64(Der(content, flags, recip_args));
  }
};

}  // namespace escrow::e2e
