#include "tests/faults/fault_util.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "tests/support/temp_dir.h"

namespace escrow::faults {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool IsHeader(const std::string& line) { return !line.empty() && line.front() == '['; }

std::string KeyOf(const std::string& line) {
  const std::size_t eq = line.find('=');
  if (eq == std::string::npos) return {};
  std::string k = line.substr(0, eq);
  while (!k.empty() && k.back() == ' ') k.pop_back();
  return k;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

void SetConf(const std::string& file, const std::string& section, const std::string& key,
             const std::string& value) {
  std::vector<std::string> lines = Lines(testing::ReadFileBytes(file));
  const std::string header = "[" + section + "]";
  std::size_t at = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind(header, 0) == 0) at = i;
  }
  if (at == lines.size()) {
    lines.push_back(header);
    lines.push_back(key + " = " + value);
  } else {
    std::size_t i = at + 1;
    bool replaced = false;
    for (; i < lines.size() && !IsHeader(lines[i]); ++i) {
      if (KeyOf(lines[i]) == key) {
        lines[i] = key + " = " + value;
        replaced = true;
        break;
      }
    }
    if (!replaced) lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at) + 1,
                                key + " = " + value);
  }
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  e2e::WriteFile(file, out);
}

std::string GetConf(const std::string& file, const std::string& section, const std::string& key) {
  std::vector<std::string> lines = Lines(testing::ReadFileBytes(file));
  bool in = false;
  for (const std::string& l : lines) {
    if (IsHeader(l)) in = l.rfind("[" + section + "]", 0) == 0;
    if (in && KeyOf(l) == key) {
      std::string v = l.substr(l.find('=') + 1);
      const std::size_t q1 = v.find_first_of("\"'");
      const std::size_t q2 = v.find_last_of("\"'");
      if (q1 != std::string::npos && q2 > q1) return v.substr(q1 + 1, q2 - q1 - 1);
      return Trim(v.substr(v.find_first_not_of(' ')));
    }
  }
  return {};
}

std::string Sqlite(const std::string& db, const std::string& sql) {
  std::string out;
  const int rc = Sh("sqlite3 -cmd '.timeout 5000' " + Quote(db) + " " + Quote(sql) + " 2>&1", &out);
  if (rc != 0) throw std::runtime_error("sqlite3 failed (" + sql + "): " + out);
  return Trim(out);
}

std::string DbVersions(const std::string& db, const std::string& device_id) {
  return Sqlite(db, "SELECT count(*) FROM key_versions WHERE device_id = '" + device_id + "'");
}

std::string IntegrityCheck(const std::string& db) {
  std::string out;
  Sh("sqlite3 " + Quote(db) + " 'PRAGMA integrity_check' 2>&1", &out);
  return Trim(out);
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string MacKey(int n) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string tail;
  for (int i = 0; i < 4; ++i) {
    tail.insert(tail.begin(), kAlphabet[n % 36]);
    n /= 36;
  }
  return "KEYS-ABCD-EFGH-JKLM-NPQR-" + tail;
}

std::string MdmKeyBody(const std::string& key) { return R"({"recovery_key":")" + key + R"("})"; }

bool AuditVerifies(const VaultProcess& v, std::string* body) {
  const HttpResult r = v.As(v.Token("audrey", "--roles auditor"), "GET", "/v1/audit/verify");
  if (body != nullptr) *body = std::to_string(r.status) + " " + r.body;
  if (r.status != 200) return false;
  boost::json::value j = Json(r.body);
  return j.is_object() && j.as_object().contains("ok") && j.at("ok").is_bool() &&
         j.at("ok").as_bool();
}

bool CanMount() { return geteuid() == 0; }

}  // namespace escrow::faults
