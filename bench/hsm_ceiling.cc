// hsm_ceiling: how many AES-256-GCM encrypts and decrypts and HMAC-SHA256 signatures SoftHSMv2
// does per second on this machine, with 1 and 2 threads (one session each), on a token of its
// own. The vault's HSM figures are read against these (docs/benchmarks.md). Keys are used as
// the vault uses them: through a session copy of the token key (hsm/softhsm_key_service.h).
// The "token_" figures use the token objects themselves, which SoftHSMv2 re-reads from their
// files on every use.
//
//   hsm_ceiling [--module /usr/lib/softhsm/libsofthsm2.so] [--seconds 2]
//
// Prints one JSON object: {"encrypt_1t": ops/s, "encrypt_2t": ..., "decrypt_1t", "decrypt_2t",
// "hmac_1t", "hmac_2t", "token_encrypt_1t", "token_decrypt_1t", "token_hmac_1t"}. The token lives
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

struct Keys {
  CK_OBJECT_HANDLE aes = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE hmac = CK_INVALID_HANDLE;
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
  return k;
}

enum class Op { kEncrypt, kDecrypt, kHmac };

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
  const std::array<Case, 9> cases{{{"encrypt_1t", &copies, Op::kEncrypt, 1},
                                   {"encrypt_2t", &copies, Op::kEncrypt, 2},
                                   {"decrypt_1t", &copies, Op::kDecrypt, 1},
                                   {"decrypt_2t", &copies, Op::kDecrypt, 2},
                                   {"hmac_1t", &copies, Op::kHmac, 1},
                                   {"hmac_2t", &copies, Op::kHmac, 2},
                                   {"token_encrypt_1t", &token_keys, Op::kEncrypt, 1},
                                   {"token_decrypt_1t", &token_keys, Op::kDecrypt, 1},
                                   {"token_hmac_1t", &token_keys, Op::kHmac, 1}}};
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
