#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace escrow::portal {

// The pages (HTML, CSS, one script, images) read once from a directory at start, so a request
// never touches the filesystem and no path from a URL ever reaches open(). A page "name.html"
// answers "/name" ("index.html" answers "/"); every other file answers "/static/<file>".
// Immutable after Load; safe from any thread.
class StaticFiles {
 public:
  struct File {
    std::string content_type;
    std::string body;
  };

  // kNotFound if `dir` cannot be read or holds no index.html; files of other types than
  // .html, .css, .js, .svg and .png are skipped.
  static Result<StaticFiles> Load(const std::string& dir);

  // The file for a URL path, or nullptr.
  const File* Find(std::string_view path) const;

 private:
  std::map<std::string, File, std::less<>> files_;  // by URL path
};

}  // namespace escrow::portal
