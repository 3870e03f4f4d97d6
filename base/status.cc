#include "base/status.h"

#include <cstdlib>
#include <string>

#include "base/check.h"
#include "base/log.h"

namespace escrow {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "kOk";
    case Code::kInvalidArgument: return "kInvalidArgument";
    case Code::kNotFound: return "kNotFound";
    case Code::kAlreadyExists: return "kAlreadyExists";
    case Code::kUnauthenticated: return "kUnauthenticated";
    case Code::kPermissionDenied: return "kPermissionDenied";
    case Code::kFailedPrecondition: return "kFailedPrecondition";
    case Code::kUnavailable: return "kUnavailable";
    case Code::kDataLoss: return "kDataLoss";
    case Code::kResourceExhausted: return "kResourceExhausted";
    case Code::kInternal: return "kInternal";
  }
  return "kUnknown";
}

Status Status::WithContext(std::string_view context) const {
  Status s = *this;
  s.message_ = std::string(context) + ": " + message_;
  return s;
}

std::string Status::ToString() const {
  std::string out(CodeName(code_));
  if (!reason_.empty()) out += "(" + reason_ + ")";
  out += ": " + message_;
  return out;
}

void CheckFailed(const char* expr, const char* file, int line) {
  LogJson({{"event", "check_failed"},
           {"expr", expr},
           {"at", std::string(file) + ":" + std::to_string(line)}});
  std::abort();
}

}  // namespace escrow
