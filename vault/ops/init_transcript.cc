#include "vault/ops/init_transcript.h"

#include <sstream>
#include <string_view>

#include <boost/json.hpp>

#include "vault/ops/ceremony_record.h"

namespace escrow::ops {
namespace {

// "name:" padded to `width` columns, at least one space after the colon.
std::string Field(std::string_view name, std::size_t width = 17) {
  std::string out = std::string(name) + ":";
  out.append(out.size() < width ? width - out.size() : 1, ' ');
  return out;
}

// The gap after a key's label: a column of 17 (dev) or two spaces (production).
std::string KeyGap(const std::string& label, bool dev) {
  if (!dev) return "  ";
  return std::string(label.size() < 17 ? 17 - label.size() : 1, ' ');
}

}  // namespace

std::string RenderInitTranscript(const InitTranscript& t) {
  std::ostringstream out;
  out << "Escrow vault key ceremony: init" << (t.dev ? " (development state)" : "") << "\n"
      << Field("time") << t.time << "\n"
      << Field("operator") << t.operator_name << " (host " << t.host << ")\n"
      << Field("module") << t.module << "\n"
      << Field("token label") << t.token.label << "\n"
      << Field("token serial") << t.token.serial << "\n";
  if (t.token_origin) {
    out << Field("token") << t.token.manufacturer << " " << t.token.model << " " << *t.token_origin
        << "\n";
  }
  out << Field("backup-capable") << (t.backup_capable ? "yes" : "no") << "\n";
  for (const std::string& missing : t.module_cannot) {
    out << Field("module cannot") << missing << "\n";
  }
  if (t.listen) out << Field("listen") << *t.listen << "\n";
  out << "keys:\n";
  for (const hsm::KeyInfo& key : t.keys) {
    out << "  " << key.label << KeyGap(key.label, t.dev) << "role " << RoleName(key.role)
        << "  version " << key.version << "  check value " << hsm::CheckValueText(key) << "  "
        << (key.sensitive ? "sensitive" : "NOT SENSITIVE") << ", "
        << (key.extractable ? "extractable only wrapped under a trusted key" : "never extractable")
        << "\n";
  }
  if (t.active_master_key_version) {
    out << Field("active master key version") << *t.active_master_key_version << "\n";
  }
  if (t.escrow_certificate) out << Field("escrow certificate") << *t.escrow_certificate << "\n";
  out << Field("audit head") << t.head.seq << ":" << t.head.hash << "\n";
  for (const auto& [name, path] : t.paths) out << Field(name) << path.string() << "\n";
  if (!t.files.empty()) {
    out << "files:\n";
    for (const auto& [what, path] : t.files) {
      out << "  " << what << std::string(what.size() < 18 ? 18 - what.size() : 1, ' ')
          << path.string() << "\n";
    }
  }
  if (!t.closing.empty()) out << t.closing << "\n";
  return out.str();
}

std::string InitCeremonyDetail(bool dev, const std::string& module, const hsm::TokenInfo& token,
                               bool token_initialised, bool backup_capable,
                               const std::vector<hsm::KeyInfo>& keys) {
  boost::json::object detail;
  detail["mode"] = dev ? "dev" : "production";
  detail["module"] = module;
  detail["token_label"] = token.label;
  detail["token_serial"] = token.serial;
  detail["token_initialised"] = token_initialised;
  detail["backup_capable"] = backup_capable;
  boost::json::array list;
  for (const hsm::KeyInfo& key : keys) {
    list.push_back(boost::json::object{{"label", key.label},
                                       {"role", RoleName(key.role)},
                                       {"version", key.version},
                                       {"check_value", key.check_value},
                                       {"extractable", key.extractable}});
  }
  detail["keys"] = std::move(list);
  return boost::json::serialize(detail);
}

}  // namespace escrow::ops
