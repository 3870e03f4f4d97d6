#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/e2e/vault_process.h"

namespace escrow::e2e {

inline boost::json::value Json(const std::string& text) {
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  return ec ? boost::json::value() : v;
}

// error.code of an error answer, or "".
inline std::string ErrCode(const HttpResult& r) {
  boost::json::value v = Json(r.body);
  if (!v.is_object()) return {};
  const boost::json::value* e = v.as_object().if_contains("error");
  if (e == nullptr || !e->is_object()) return {};
  const boost::json::value* c = e->as_object().if_contains("code");
  return c != nullptr && c->is_string() ? std::string(c->as_string()) : std::string();
}

// Makes a client certificate with openssl: CN `cn`, a fresh P-256 key, signed by `ca_crt` /
// `ca_key`, with `ext` (e.g. "extendedKeyUsage=clientAuth"). Returns false if openssl failed.
inline bool MakeClientCert(const std::string& dir, const std::string& name, const std::string& cn,
                           const std::string& ca_crt, const std::string& ca_key,
                           const std::string& ext = "extendedKeyUsage=clientAuth",
                           const std::string& reuse_key = "") {
  const std::string key = reuse_key.empty() ? dir + "/" + name + ".key" : reuse_key;
  std::string cmd;
  if (reuse_key.empty()) {
    cmd += "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + Quote(key) +
           " && ";
  }
  WriteFile(dir + "/" + name + ".ext", ext + "\n");
  cmd += "openssl req -new -key " + Quote(key) + " -subj " + Quote("/CN=" + cn) + " -out " +
         Quote(dir + "/" + name + ".csr") + " && openssl x509 -req -in " +
         Quote(dir + "/" + name + ".csr") + " -CA " + Quote(ca_crt) + " -CAkey " + Quote(ca_key) +
         " -set_serial 4242 -days 1 -extfile " + Quote(dir + "/" + name + ".ext") + " -out " +
         Quote(dir + "/" + name + ".crt") + " >/dev/null 2>&1";
  return Sh(cmd) == 0;
}

inline std::string DeviceBody(const std::string& owner, const std::string& ownership = "corporate",
                              const std::string& platform = "macos", bool enc = true) {
  return R"({"serial":"C02X","name":"Work Mac","platform":")" + platform +
         R"(","ownership":")" + ownership + R"(","owner":")" + owner +
         R"(","encryption_enabled":)" + (enc ? "true" : "false") + "}";
}

inline std::string KeyBody(const std::string& key, const std::string& confirm) {
  return R"({"recovery_key":")" + key + R"(","confirm_recovery_key":")" + confirm + R"("})";
}

// Replaces vault.conf's `key = ...` line (the one vaultctl init wrote) with `key = value`;
// fails the test if there is none. Any value, TOML tables and strings included.
inline void Configure(const VaultProcess& v, const std::string& key, const std::string& value) {
  const std::string conf = v.state() + "/vault.conf";
  std::ifstream in(conf);
  std::stringstream text;
  std::string line;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.rfind(key + " = ", 0) == 0) {
      line = key + " = " + value;
      found = true;
    }
    text << line << "\n";
  }
  in.close();
  REQUIRE(found);
  std::ofstream(conf, std::ios::trunc) << text.str();
}

constexpr const char* kMacKey1 = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX";
constexpr const char* kMacKey2 = "ZZZZ-YYYY-XXXX-WWWW-VVVV-2345";

}  // namespace escrow::e2e
