#include "portal/static_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace escrow::portal {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> ContentType(const std::string& ext) {
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  return std::nullopt;
}

}  // namespace

Result<StaticFiles> StaticFiles::Load(const std::string& dir) {
  StaticFiles out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    std::optional<std::string> type = ContentType(e.path().extension().string());
    if (!type) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) return Status::NotFound("cannot read " + e.path().string());
    std::string url;
    if (name == "index.html") {
      url = "/";
    } else if (e.path().extension() == ".html") {
      url = "/" + e.path().stem().string();
    } else {
      url = "/static/" + name;
    }
    out.files_[url] = File{*type, text.str()};
  }
  if (ec) return Status::NotFound("cannot read the pages' directory " + dir + ": " + ec.message());
  if (out.Find("/") == nullptr) return Status::NotFound("no index.html in " + dir);
  return out;
}

const StaticFiles::File* StaticFiles::Find(std::string_view path) const {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

}  // namespace escrow::portal
