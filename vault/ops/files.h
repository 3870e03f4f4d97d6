#pragma once

// The files a ceremony writes and reads: created exclusively with an exact mode and fsynced
// (never overwriting what an operator has), and small inputs read with a size cap, secrets
// straight into secure memory.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/secret_bytes.h"

namespace escrow::ops {

// "<what> <path>: <strerror>"; kAlreadyExists for EEXIST, kUnavailable for anything else.
Status FileError(std::string_view what, const std::filesystem::path& path, int err);

// Creates `path` exclusively (O_CREAT|O_EXCL|O_NOFOLLOW) with `mode`, writes `data` and
// fsyncs it. kAlreadyExists if it exists, kUnavailable on any other I/O error.
Status WriteNewFile(const std::filesystem::path& path, std::span<const std::uint8_t> data,
                    unsigned mode);
Status WriteNewFile(const std::filesystem::path& path, std::string_view text, unsigned mode);

// WriteNewFile with mode 0600.
Status WriteNewPrivateFile(const std::filesystem::path& path, std::string_view text);
Status WriteNewPrivateFile(const std::filesystem::path& path, std::span<const std::uint8_t> data);

// Reads a whole small file (at most `max_bytes`). kNotFound / kInvalidArgument.
Result<std::string> ReadSmallFile(const std::filesystem::path& path, std::size_t max_bytes);

// A small secret file (a share) straight into secure memory. kNotFound / kInvalidArgument.
Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace escrow::ops
