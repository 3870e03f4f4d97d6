#include "storage/pg_error.h"

#include <string>

namespace escrow::storage {
namespace {

bool InClass(std::string_view sqlstate, std::string_view cls) { return sqlstate.starts_with(cls); }

Code CodeFor(std::string_view sqlstate) {
  if (sqlstate == "23505") return Code::kAlreadyExists;
  if (sqlstate == "23503" || sqlstate == "23001") return Code::kFailedPrecondition;
  if (sqlstate == "23514" || sqlstate == "23502" || InClass(sqlstate, "22")) {
    return Code::kInvalidArgument;
  }
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" ||
      sqlstate == "25006" || sqlstate == "25P03" || InClass(sqlstate, "08") ||
      InClass(sqlstate, "53") || InClass(sqlstate, "57") || InClass(sqlstate, "58")) {
    return Code::kUnavailable;
  }
  if (sqlstate == "XX001" || sqlstate == "XX002") return Code::kDataLoss;
  return Code::kInternal;
}

std::string_view KindOf(std::string_view sqlstate) {
  if (sqlstate == "23505") return "unique violation";
  if (sqlstate == "23503") return "foreign key violation";
  if (sqlstate == "23001") return "restrict violation";
  if (sqlstate == "23514") return "check violation";
  if (sqlstate == "23502") return "not null violation";
  if (InClass(sqlstate, "22")) return "data exception";
  return "constraint violation";
}

}  // namespace

Status FromSqlState(std::string_view sqlstate, std::string_view operation,
                    std::string_view server_message, std::string_view constraint) {
  std::string message(operation);
  message += ": ";
  if (InClass(sqlstate, "22") || InClass(sqlstate, "23")) {
    message += KindOf(sqlstate);
    if (!constraint.empty()) {
      message += " of ";
      message += constraint;
    }
  } else {
    message += server_message.empty() ? std::string_view("error") : server_message;
  }
  message += " (sqlstate ";
  message += sqlstate.empty() ? std::string_view("none") : sqlstate;
  message += ")";
  if (sqlstate.empty()) return Status::Unavailable(std::move(message));  // no server reply
  return {CodeFor(sqlstate), std::move(message)};
}

bool IsPgConnectionFatal(std::string_view sqlstate) {
  return sqlstate.empty() || InClass(sqlstate, "08") || sqlstate == "57P01" ||
         sqlstate == "57P02" || sqlstate == "57P03" || InClass(sqlstate, "58") ||
         InClass(sqlstate, "XX");
}

}  // namespace escrow::storage
