#include "base/secret_bytes.h"

#include <cstring>
#include <mutex>
#include <new>

#include <openssl/crypto.h>

#include "base/check.h"

namespace escrow {
namespace {

constexpr std::size_t kSecureHeapBytes = std::size_t{1} << 20;  // 1 MiB, a power of two
constexpr std::size_t kSecureHeapMinAlloc = 32;

std::once_flag g_heap_once;
bool g_heap_locked = false;

void EnsureHeap() {
  std::call_once(g_heap_once, [] {
    // 1: locked; 2: usable but mlock failed (RLIMIT_MEMLOCK); 0: unusable.
    const int rc = CRYPTO_secure_malloc_init(kSecureHeapBytes, kSecureHeapMinAlloc);
    g_heap_locked = rc == 1;
  });
}

}  // namespace

bool SecretBytes::InitSecureHeap() {
  EnsureHeap();
  return g_heap_locked;
}

SecretBytes::SecretBytes(std::size_t size) {
  if (size == 0) return;
  EnsureHeap();
  void* p = CRYPTO_secure_zalloc(size, __FILE__, __LINE__);
  if (p == nullptr) throw SecureHeapExhausted();
  data_ = static_cast<std::uint8_t*>(p);
  size_ = size;
  capacity_ = size;
}

SecretBytes SecretBytes::CopyOf(std::span<const std::uint8_t> bytes) {
  SecretBytes s(bytes.size());
  if (!s.empty()) std::memcpy(s.data_, bytes.data(), s.size());
  return s;
}

SecretBytes SecretBytes::CopyOf(std::string_view text) {
  return CopyOf(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));  // NOLINT
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.capacity_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = other.data_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.capacity_ = 0;
  }
  return *this;
}

SecretBytes::~SecretBytes() { Reset(); }

void SecretBytes::Reset() noexcept {
  if (data_ != nullptr) CRYPTO_secure_clear_free(data_, capacity_, __FILE__, __LINE__);
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
}

void SecretBytes::Truncate(std::size_t new_size) {
  ESCROW_CHECK(new_size <= size_);
  if (new_size < size_) OPENSSL_cleanse(data_ + new_size, size_ - new_size);
  size_ = new_size;
}

bool ConstantTimeEquals(const SecretBytes& a, const SecretBytes& b) {
  if (a.size() != b.size()) return false;
  if (a.size() == 0) return true;
  return CRYPTO_memcmp(a.RevealSecret().data(), b.RevealSecret().data(), a.size()) == 0;
}

void Cleanse(void* data, std::size_t size) {
  if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

}  // namespace escrow
