// hsm_ceiling: how many AES-256-GCM encrypts and decrypts and HMAC-SHA256 signatures SoftHSMv2
// does per second on this machine, with 1 and 2 threads (one session each), on a token of its
// own. The vault's HSM figures are read against these (docs/benchmarks.md). Keys are used as
// the vault uses them: through a session copy of the token key (hsm/softhsm_key_service.h).
// The "token_" figures use the token objects themselves, which SoftHSMv2 re-reads from their
// files on every use. The "cms_" figures open a CMS envelope's pieces as the vault's
// KeyService::OpenEnvelope does (hsm/escrow_crypto.cc), with an RSA-2048 token key pair:
// "cms_open" finds the pair's two halves by label, unwraps the content-encryption key
// (C_UnwrapKey, RSA PKCS#1 v1.5) into a session AES-256 key, decrypts 32 bytes of
// AES-256-CBC content with it and destroys it; "cms_unwrap" is the unwrap and the destroy only.
//
//   hsm_ceiling [--module /usr/lib/softhsm/libsofthsm2.so] [--seconds 2]
//
// Prints one JSON object: {"encrypt_1t": ops/s, "encrypt_2t": ..., "decrypt_1t", "decrypt_2t",
// "hmac_1t", "hmac_2t", "token_encrypt_1t", "token_decrypt_1t", "token_hmac_1t", "cms_open_1t",
// "cms_open_2t", "cms_unwrap_1t"}. The token lives
// in a temporary directory (SOFTHSM2_CONF points to a conf written there; softhsm2-util initialises
// it) and is removed at exit.
#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kLabel[] = "bench-ceiling";
constexpr char kUserPin[] = "bench-user-pin";
constexpr char kSoPin[] = "bench-so-pin";
constexpr char kCmsLabel[] = "escrow-cms-v1";  // the vault's label for its first escrow key

[[noreturn]] void Die(const std::string& what, CK_RV rv = CKR_OK) {
  (void)std::fprintf(stderr, "hsm_ceiling: %s (CK_RV 0x%lx)\n", what.c_str(), rv);
  std::exit(1);
}

// A flag's value as a number; anything else (atof would read it as 0) ends the program.
double NumberFlag(const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0') Die(std::string("not a number: ") + text);
  return v;
}

void Check(CK_RV rv, const char* call) {
  if (rv != CKR_OK) Die(call, rv);
}

CK_UTF8CHAR_PTR Utf8(const char* s) {
  return const_cast<CK_UTF8CHAR_PTR>(reinterpret_cast<const CK_UTF8CHAR*>(s));  // NOLINT
}

// A temporary SoftHSMv2 token directory, removed on destruction.
class TempToken {
 public:
  TempToken() {
    std::string tmpl = (fs::temp_directory_path() / "hsm-ceiling-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp");
    dir_ = tmpl;
    fs::create_directory(dir_ / "tokens");
    std::ofstream conf(dir_ / "softhsm2.conf");
    conf << "directories.tokendir = " << (dir_ / "tokens").string()
         << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    conf.close();
    ::setenv("SOFTHSM2_CONF", (dir_ / "softhsm2.conf").c_str(), 1);
    const std::string cmd = std::string("softhsm2-util --init-token --free --label ") + kLabel +
                            " --so-pin " + kSoPin + " --pin " + kUserPin + " >/dev/null";
    // NOLINTNEXTLINE(cert-env33-c): bench-only, and the command is built from constants
    if (std::system(cmd.c_str()) != 0) Die("softhsm2-util --init-token failed");
  }
  TempToken(const TempToken&) = delete;  // one owner removes the directory
  TempToken& operator=(const TempToken&) = delete;
  TempToken(TempToken&&) = delete;
  TempToken& operator=(TempToken&&) = delete;
  ~TempToken() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

 private:
  fs::path dir_;
};

// An envelope's pieces: the content-encryption key under the RSA key, and the content (a
// 29-byte FileVault key, padded to 32) under it.
struct Envelope {
  std::array<CK_BYTE, 256> encrypted_key{};
  std::array<CK_BYTE, 16> iv{};
  std::array<CK_BYTE, 32> content{};
};

struct Keys {
  CK_OBJECT_HANDLE aes = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE hmac = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE rsa_private = CK_INVALID_HANDLE;  // token objects only (as the vault's)
  CK_OBJECT_HANDLE rsa_public = CK_INVALID_HANDLE;
  Envelope envelope;
};

CK_SLOT_ID FindSlot(CK_FUNCTION_LIST* f) {
  CK_ULONG n = 0;
  Check(f->C_GetSlotList(CK_TRUE, nullptr, &n), "C_GetSlotList");
  std::vector<CK_SLOT_ID> slots(n);
  Check(f->C_GetSlotList(CK_TRUE, slots.data(), &n), "C_GetSlotList");
  for (CK_SLOT_ID s : slots) {
    CK_TOKEN_INFO info{};
    if (f->C_GetTokenInfo(s, &info) != CKR_OK) continue;
    std::string label(reinterpret_cast<const char*>(info.label), sizeof info.label);  // NOLINT
    if (label.rfind(kLabel, 0) == 0) return s;
  }
  Die("token not found");
}

// Persistent, sensitive, non-extractable keys, as the vault's KEK and audit key are.
Keys MakeKeys(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE s) {
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ULONG len = 32;
  CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
  Keys k;
  std::array<CK_ATTRIBUTE, 6> aes{{{CKA_TOKEN, &yes, sizeof yes},
                                   {CKA_SENSITIVE, &yes, sizeof yes},
                                   {CKA_EXTRACTABLE, &no, sizeof no},
                                   {CKA_ENCRYPT, &yes, sizeof yes},
                                   {CKA_DECRYPT, &yes, sizeof yes},
                                   {CKA_VALUE_LEN, &len, sizeof len}}};
  CK_MECHANISM aes_gen{CKM_AES_KEY_GEN, nullptr, 0};
  Check(f->C_GenerateKey(s, &aes_gen, aes.data(), aes.size(), &k.aes), "C_GenerateKey(AES)");
  std::array<CK_ATTRIBUTE, 7> mac{{{CKA_TOKEN, &yes, sizeof yes},
                                   {CKA_SENSITIVE, &yes, sizeof yes},
                                   {CKA_EXTRACTABLE, &no, sizeof no},
                                   {CKA_SIGN, &yes, sizeof yes},
                                   {CKA_VERIFY, &yes, sizeof yes},
                                   {CKA_KEY_TYPE, &generic, sizeof generic},
                                   {CKA_VALUE_LEN, &len, sizeof len}}};
  CK_MECHANISM mac_gen{CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
  Check(f->C_GenerateKey(s, &mac_gen, mac.data(), mac.size(), &k.hmac), "C_GenerateKey(HMAC)");

  // The escrow key pair as hsm/escrow_key_objects.cc makes it, except that the public half may
  // encrypt here: the ceiling makes its own envelope with it.
  CK_ULONG bits = 2048;
  std::array<CK_BYTE, 3> exponent{0x01, 0x00, 0x01};
  std::string label = kCmsLabel;
  std::array<CK_ATTRIBUTE, 5> pub{{{CKA_TOKEN, &yes, sizeof yes},
                                   {CKA_MODULUS_BITS, &bits, sizeof bits},
                                   {CKA_PUBLIC_EXPONENT, exponent.data(), exponent.size()},
                                   {CKA_ENCRYPT, &yes, sizeof yes},
                                   {CKA_LABEL, label.data(), label.size()}}};
  std::array<CK_ATTRIBUTE, 7> priv{{{CKA_TOKEN, &yes, sizeof yes},
                                    {CKA_PRIVATE, &yes, sizeof yes},
                                    {CKA_SENSITIVE, &yes, sizeof yes},
                                    {CKA_EXTRACTABLE, &no, sizeof no},
                                    {CKA_UNWRAP, &yes, sizeof yes},
                                    {CKA_DECRYPT, &no, sizeof no},
                                    {CKA_LABEL, label.data(), label.size()}}};
  CK_MECHANISM rsa_gen{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  Check(f->C_GenerateKeyPair(s, &rsa_gen, pub.data(), pub.size(), priv.data(), priv.size(),
                             &k.rsa_public, &k.rsa_private),
        "C_GenerateKeyPair(RSA)");
  // The envelope: a content-encryption key (a fixed pattern: bench data) under the public key,
  // and the content under a session object holding that key.
  std::array<CK_BYTE, 32> cek{};
  for (std::size_t i = 0; i < cek.size(); ++i) cek[i] = static_cast<CK_BYTE>(i * 7 + 1);
  CK_MECHANISM rsa{CKM_RSA_PKCS, nullptr, 0};
  CK_ULONG out_len = k.envelope.encrypted_key.size();
  Check(f->C_EncryptInit(s, &rsa, k.rsa_public), "C_EncryptInit(RSA)");
  Check(f->C_Encrypt(s, cek.data(), cek.size(), k.envelope.encrypted_key.data(), &out_len),
        "C_Encrypt(RSA)");
  if (out_len != k.envelope.encrypted_key.size()) Die("RSA-2048 gave an odd length");
  CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
  CK_KEY_TYPE aes_type = CKK_AES;
  std::array<CK_ATTRIBUTE, 5> value{{{CKA_CLASS, &secret, sizeof secret},
                                     {CKA_KEY_TYPE, &aes_type, sizeof aes_type},
                                     {CKA_TOKEN, &no, sizeof no},
                                     {CKA_ENCRYPT, &yes, sizeof yes},
                                     {CKA_VALUE, cek.data(), cek.size()}}};
  CK_OBJECT_HANDLE cek_object = CK_INVALID_HANDLE;
  Check(f->C_CreateObject(s, value.data(), value.size(), &cek_object), "C_CreateObject(AES)");
  std::array<CK_BYTE, 29> key{};
  key.fill('K');
  CK_MECHANISM cbc{CKM_AES_CBC_PAD, k.envelope.iv.data(), k.envelope.iv.size()};
  out_len = k.envelope.content.size();
  Check(f->C_EncryptInit(s, &cbc, cek_object), "C_EncryptInit(AES-CBC)");
  Check(f->C_Encrypt(s, key.data(), key.size(), k.envelope.content.data(), &out_len),
        "C_Encrypt(AES-CBC)");
  if (out_len != k.envelope.content.size()) Die("AES-CBC gave an odd length");
  Check(f->C_DestroyObject(s, cek_object), "C_DestroyObject");
  return k;
}

// One escrow key half by class and label, as FindLabelledObject (hsm/key_objects.cc) looks.
CK_OBJECT_HANDLE FindHalf(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls) {
  CK_KEY_TYPE rsa = CKK_RSA;
  CK_BBOOL yes = CK_TRUE;
  std::string label = kCmsLabel;
  std::array<CK_ATTRIBUTE, 4> t{{{CKA_CLASS, &cls, sizeof cls},
                                 {CKA_KEY_TYPE, &rsa, sizeof rsa},
                                 {CKA_TOKEN, &yes, sizeof yes},
                                 {CKA_LABEL, label.data(), label.size()}}};
  Check(f->C_FindObjectsInit(s, t.data(), t.size()), "C_FindObjectsInit");
  std::array<CK_OBJECT_HANDLE, 2> found{};
  CK_ULONG n = 0;
  Check(f->C_FindObjects(s, found.data(), found.size(), &n), "C_FindObjects");
  Check(f->C_FindObjectsFinal(s), "C_FindObjectsFinal");
  if (n != 1) Die("escrow key half not found once");
  return found[0];
}

enum class Op { kEncrypt, kDecrypt, kHmac, kCmsOpen, kCmsUnwrap };

// Sizes as in the vault: a 29-byte FileVault key, ~100 bytes of associated data, a 12-byte IV.
struct Work {
  std::array<CK_BYTE, 29> plaintext{};
  std::array<CK_BYTE, 100> aad{};
  std::array<CK_BYTE, 12> iv{};
  std::vector<CK_BYTE> sealed;  // ciphertext || tag
};

CK_GCM_PARAMS Gcm(Work& w) {
  CK_GCM_PARAMS p{};
  p.pIv = w.iv.data();
  p.ulIvLen = w.iv.size();
  p.ulIvBits = w.iv.size() * 8;  // v2.40 errata layout, as SoftHSMv2 2.6 expects
  p.pAAD = w.aad.data();
  p.ulAADLen = w.aad.size();
  p.ulTagBits = 128;
  return p;
}

void OneOp(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE s, const Keys& k, Op op, Work& w) {
  std::array<CK_BYTE, 64> out{};
  CK_ULONG out_len = out.size();
  switch (op) {
    case Op::kEncrypt: {
      CK_GCM_PARAMS p = Gcm(w);
      CK_MECHANISM m{CKM_AES_GCM, &p, sizeof p};
      Check(f->C_EncryptInit(s, &m, k.aes), "C_EncryptInit");
      Check(f->C_Encrypt(s, w.plaintext.data(), w.plaintext.size(), out.data(), &out_len),
            "C_Encrypt");
      break;
    }
    case Op::kDecrypt: {
      CK_GCM_PARAMS p = Gcm(w);
      CK_MECHANISM m{CKM_AES_GCM, &p, sizeof p};
      Check(f->C_DecryptInit(s, &m, k.aes), "C_DecryptInit");
      Check(f->C_Decrypt(s, w.sealed.data(), w.sealed.size(), out.data(), &out_len), "C_Decrypt");
      break;
    }
    case Op::kHmac: {
      CK_MECHANISM m{CKM_SHA256_HMAC, nullptr, 0};
      Check(f->C_SignInit(s, &m, k.hmac), "C_SignInit");
      std::array<CK_BYTE, 40> data{};
      Check(f->C_Sign(s, data.data(), data.size(), out.data(), &out_len), "C_Sign");
      break;
    }
    case Op::kCmsOpen:
    case Op::kCmsUnwrap: {
      CK_OBJECT_HANDLE rsa_private = k.rsa_private;
      if (op == Op::kCmsOpen) {
        rsa_private = FindHalf(f, s, CKO_PRIVATE_KEY);
        (void)FindHalf(f, s, CKO_PUBLIC_KEY);
      }
      // The vault's content-encryption key template (hsm/escrow_crypto.cc, CekTemplate).
      CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
      CK_KEY_TYPE aes = CKK_AES;
      CK_BBOOL yes = CK_TRUE;
      CK_BBOOL no = CK_FALSE;
      std::array<CK_ATTRIBUTE, 8> t{{{CKA_CLASS, &secret, sizeof secret},
                                     {CKA_KEY_TYPE, &aes, sizeof aes},
                                     {CKA_TOKEN, &no, sizeof no},
                                     {CKA_PRIVATE, &yes, sizeof yes},
                                     {CKA_SENSITIVE, &yes, sizeof yes},
                                     {CKA_EXTRACTABLE, &no, sizeof no},
                                     {CKA_DECRYPT, &yes, sizeof yes},
                                     {CKA_ENCRYPT, &no, sizeof no}}};
      CK_MECHANISM unwrap{CKM_RSA_PKCS, nullptr, 0};
      CK_OBJECT_HANDLE cek = CK_INVALID_HANDLE;
      std::array<CK_BYTE, 256> wrapped = k.envelope.encrypted_key;  // PKCS#11 takes non-const
      Check(f->C_UnwrapKey(s, &unwrap, rsa_private, wrapped.data(), wrapped.size(), t.data(),
                           t.size(), &cek),
            "C_UnwrapKey");
      if (op == Op::kCmsOpen) {
        std::array<CK_BYTE, 16> iv = k.envelope.iv;
        CK_MECHANISM cbc{CKM_AES_CBC_PAD, iv.data(), iv.size()};
        std::array<CK_BYTE, 32> content = k.envelope.content;
        Check(f->C_DecryptInit(s, &cbc, cek), "C_DecryptInit(AES-CBC)");
        Check(f->C_Decrypt(s, content.data(), content.size(), out.data(), &out_len),
              "C_Decrypt(AES-CBC)");
        if (out_len != 29) Die("the envelope's content did not open");
      }
      Check(f->C_DestroyObject(s, cek), "C_DestroyObject");
      break;
    }
  }
}

double Measure(CK_FUNCTION_LIST* f, CK_SLOT_ID slot, const Keys& k, Op op, int threads,
               double seconds) {
  std::atomic<std::uint64_t> total{0};
  std::vector<std::thread> pool;
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(seconds));
  const Clock::time_point start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
      Check(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s),
            "C_OpenSession");
      Work w;
      w.sealed.resize(w.plaintext.size() + 16);
      {
        CK_GCM_PARAMS p = Gcm(w);
        CK_MECHANISM m{CKM_AES_GCM, &p, sizeof p};
        CK_ULONG len = w.sealed.size();
        Check(f->C_EncryptInit(s, &m, k.aes), "C_EncryptInit");
        Check(f->C_Encrypt(s, w.plaintext.data(), w.plaintext.size(), w.sealed.data(), &len),
              "C_Encrypt");
      }
      std::uint64_t n = 0;
      while (Clock::now() < end) {
        for (int i = 0; i < 16; ++i) OneOp(f, s, k, op, w);
        n += 16;
      }
      total += n;
      f->C_CloseSession(s);
    });
  }
  for (std::thread& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(total.load()) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  double seconds = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--module") {
      module = argv[i + 1];
    } else if (flag == "--seconds") {
      seconds = NumberFlag(argv[i + 1]);
    } else {
      Die("usage: hsm_ceiling [--module PATH] [--seconds S]");
    }
  }
  TempToken token;
  void* lib = ::dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) Die(std::string("dlopen: ") + ::dlerror());
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(lib, "C_GetFunctionList"));
  if (get_list == nullptr) Die("no C_GetFunctionList");
  CK_FUNCTION_LIST* f = nullptr;
  Check(get_list(&f), "C_GetFunctionList");
  CK_C_INITIALIZE_ARGS init{};
  init.flags = CKF_OS_LOCKING_OK;
  Check(f->C_Initialize(&init), "C_Initialize");
  const CK_SLOT_ID slot = FindSlot(f);
  CK_SESSION_HANDLE admin = CK_INVALID_HANDLE;
  Check(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &admin),
        "C_OpenSession");
  Check(f->C_Login(admin, CKU_USER, Utf8(kUserPin), std::strlen(kUserPin)), "C_Login");
  const Keys token_keys = MakeKeys(f, admin);
  // Session copies, as the vault's lane makes them (CKA_TOKEN false; the rest is the key's).
  Keys copies;
  {
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE session_object{CKA_TOKEN, &no, sizeof no};
    Check(f->C_CopyObject(admin, token_keys.aes, &session_object, 1, &copies.aes),
          "C_CopyObject(AES)");
    Check(f->C_CopyObject(admin, token_keys.hmac, &session_object, 1, &copies.hmac),
          "C_CopyObject(HMAC)");
  }

  struct Case {
    const char* name;
    const Keys* keys;
    Op op;
    int threads;
  };
  const std::array<Case, 12> cases{{{"encrypt_1t", &copies, Op::kEncrypt, 1},
                                   {"encrypt_2t", &copies, Op::kEncrypt, 2},
                                   {"decrypt_1t", &copies, Op::kDecrypt, 1},
                                   {"decrypt_2t", &copies, Op::kDecrypt, 2},
                                   {"hmac_1t", &copies, Op::kHmac, 1},
                                   {"hmac_2t", &copies, Op::kHmac, 2},
                                   {"token_encrypt_1t", &token_keys, Op::kEncrypt, 1},
                                   {"token_decrypt_1t", &token_keys, Op::kDecrypt, 1},
                                   {"token_hmac_1t", &token_keys, Op::kHmac, 1},
                                   {"cms_open_1t", &token_keys, Op::kCmsOpen, 1},
                                   {"cms_open_2t", &token_keys, Op::kCmsOpen, 2},
                                   {"cms_unwrap_1t", &token_keys, Op::kCmsUnwrap, 1}}};
  std::string json = "{";
  for (const Case& c : cases) {
    const double rate = Measure(f, slot, *c.keys, c.op, c.threads, seconds);
    char item[96];
    // Case names are short literals: the item always fits.
    (void)std::snprintf(item, sizeof item, "%s\"%s\": %.1f", json.size() > 1 ? ", " : "", c.name,
                        rate);
    json += item;
  }
  json += "}";
  std::printf("%s\n", json.c_str());
  f->C_Logout(admin);
  f->C_CloseSession(admin);
  f->C_Finalize(nullptr);
  ::dlclose(lib);
  return 0;
}
