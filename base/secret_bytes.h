#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string_view>

namespace escrow {

// Thrown when the secure heap has no room for a secret: an overload that passes once other
// requests free their secrets. Servers answer it 503 and go on; it is never a crash.
class SecureHeapExhausted : public std::bad_alloc {
 public:
  const char* what() const noexcept override { return "secure heap exhausted"; }
};

// Key material, PINs, shares and plaintext recovery keys. The bytes live in OpenSSL's secure
// heap: one mlock'ed region marked MADV_DONTDUMP with guard pages, so they are neither swapped
// nor written to a core dump. Zeroed (OPENSSL_cleanse) on destruction; never copied.
// Thread-compatible: distinct objects may be used from distinct threads.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);  // zero-filled; SecureHeapExhausted when full
  // Copies `bytes` in. The caller remains responsible for wiping its own copy.
  static SecretBytes CopyOf(std::span<const std::uint8_t> bytes);
  static SecretBytes CopyOf(std::string_view text);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;  // copies multiply exposure
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Every plaintext use goes through one of these two, so a grep finds them all.
  std::span<const std::uint8_t> RevealSecret() const { return {data_, size_}; }
  std::string_view RevealSecretText() const {
    return {reinterpret_cast<const char*>(data_), size_};  // NOLINT: bytes as chars
  }
  std::span<std::uint8_t> mutable_span() { return {data_, size_}; }
  // Shrinks the visible size (the tail is wiped); used after in-place normalisation.
  void Truncate(std::size_t new_size);

  // Sets up the secure heap once per process. Returns false if the region could not be
  // locked in memory (the heap still works; the caller warns). Called lazily otherwise.
  static bool InitSecureHeap();

 private:
  void Reset() noexcept;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// Constant-time comparison (CRYPTO_memcmp); sizes are not secret.
bool ConstantTimeEquals(const SecretBytes& a, const SecretBytes& b);

// Wipes a buffer that carried secret bytes (a request or response body).
void Cleanse(void* data, std::size_t size);

}  // namespace escrow
