#pragma once

// Test-only helpers for the CMS envelope tests: RSA keys and self-signed certificates made
// with the openssl command line, envelopes made by it (an implementation independent of
// ours), and opening an envelope in software to check what ParseEnvelope extracted.

#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/ssl_ptr.h"
#include "tests/support/temp_dir.h"
#include "vault/cms_envelope.h"

namespace escrow::vault::testing {

// Two RSA-2048 keys with self-signed certificates (with a subject key identifier), made once
// per process in a temporary directory.
struct CmsKeys {
  escrow::testing::TempDir dir;
  std::string cert_path[2];
  SslPtr<X509> cert[2];
  SslPtr<EVP_PKEY> key[2];
};
const CmsKeys& Keys();

// The recovery key the envelopes carry.
inline constexpr std::string_view kPlaintext = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX\n";

// `openssl cms -encrypt -binary -outform DER <args>` over `plaintext`; the args name the
// cipher and recipients (Keys().cert_path). Fails the test if the command fails.
Bytes OpensslCms(const std::string& args, std::string_view plaintext = kPlaintext);
// Runs any openssl command whose output file is `out` (in Keys().dir) and returns its bytes.
Bytes OpensslToFile(const std::string& command_with_out_placeholder);

// Opens `envelope` in software, through recipient `index` with `key`: unwraps the CEK with the
// recipient's padding and hashes, then decrypts the content with the parsed cipher and IV.
// Returns the plaintext, or an empty string if any step fails. Test-only: the vault decrypts
// only inside the HSM.
std::string OpenInSoftware(const Envelope& envelope, std::size_t index, EVP_PKEY* key);

}  // namespace escrow::vault::testing
