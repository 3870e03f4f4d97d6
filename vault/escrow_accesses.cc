// EscrowService: who viewed a device's key (API.md, GET .../recovery-key/accesses).

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"

namespace escrow::vault {
namespace {

constexpr std::size_t kMaxAccessLimit = 1000;

// N from the first "version=N" word of a release's detail ("version=3", "version=3
// reply_serial=..."); none if there is none or it is not a 32-bit number.
std::optional<std::uint32_t> ReleasedVersion(std::string_view detail) {
  constexpr std::string_view kKey = "version=";
  std::size_t at = 0;
  while (at < detail.size()) {
    const std::size_t end = std::min(detail.find(' ', at), detail.size());
    const std::string_view word = detail.substr(at, end - at);
    if (word.starts_with(kKey)) {
      const std::string_view digits = word.substr(kKey.size());
      std::uint32_t n = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty()) break;
      return n;
    }
    at = end + 1;
  }
  return std::nullopt;
}

}  // namespace

Result<AccessPage> EscrowService::ListAccesses(const Caller& caller, std::string_view id,
                                               std::optional<std::uint64_t> before,
                                               std::size_t limit) {
  Impl& m = *impl_;
  constexpr Action kAction = Action::kListAccesses;
  const bool limit_ok = limit >= 1 && limit <= kMaxAccessLimit;
  // The releases and the versions they name, from the device's snapshot.
  std::vector<storage::AuditRow> rows;
  std::map<std::uint32_t, std::optional<storage::KeyVersionRow>> versions;
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow&) -> Status {
        if (!limit_ok) return Status::Ok();
        ESCROW_ASSIGN_OR_RETURN(rows, txn.audit().ListReleases(id, before, limit + 1));
        for (const storage::AuditRow& r : rows) {
          const std::optional<std::uint32_t> n = ReleasedVersion(r.detail);
          if (!n || versions.contains(*n)) continue;
          ESCROW_ASSIGN_OR_RETURN(versions[*n], txn.versions().Get(id, *n));
        }
        return Status::Ok();
      });
  Result<storage::DeviceRow> row = m.Authorize(caller, kAction, id, std::move(read.device));
  if (!row.ok()) return row.status();
  if (!limit_ok) {
    return m.Deny(caller, kAction, id,
                  Status::InvalidArgument("limit must be 1 to 1000.", "invalid_request"));
  }
  if (!read.more.ok()) return m.ReadFailed(caller, kAction, id, read.more);

  AccessPage page;
  const bool more = rows.size() > limit;
  if (more) rows.resize(limit);
  for (const storage::AuditRow& r : rows) {
    KeyAccess a;
    a.version = ReleasedVersion(r.detail);
    const storage::KeyVersionRow* v = nullptr;
    if (a.version) {
      const auto it = versions.find(*a.version);
      if (it != versions.end() && it->second) v = &*it->second;
    }
    // Judged by the version's recorded owner, as releases and version listings are: an
    // owner sees who viewed the keys stored under them, never a previous owner's history;
    // a release whose version cannot be told is shown to roles only.
    const Subject recorded = v != nullptr ? Subject{v->owner, v->ownership} : Subject{};
    if (!Decide(caller, kAction, v != nullptr ? &recorded : nullptr).allowed) continue;
    a.at = FromUnixMillis(r.time_ms);
    a.actor = r.actor;
    a.role = r.role;
    a.reason = r.reason;
    a.by_owner = v != nullptr && r.actor == "user:" + v->owner;
    page.accesses.push_back(std::move(a));
  }
  if (more && !rows.empty()) page.next_after = rows.back().seq;
  ESCROW_RETURN_IF_ERROR(m.AuditOk(caller, kAction, id, "accesses"));
  return page;
}

}  // namespace escrow::vault
