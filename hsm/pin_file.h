#pragma once

// Reading a PIN from a file. No PKCS#11 here.

#include <string>

#include "base/result.h"
#include "base/secret_bytes.h"

namespace escrow::hsm {

// The file's bytes straight into secure memory, without one trailing newline ("\n" or "\r\n").
// kInvalidArgument if the file cannot be read, is empty, or is longer than 256 bytes (no PIN
// is; a longer file is the wrong file). The message names the path, never the content.
Result<SecretBytes> ReadPinFile(const std::string& path);

}  // namespace escrow::hsm
