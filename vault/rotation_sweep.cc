// EscrowService's overdue sweep (API.md, "Closing the loop after a key was seen"). A rotation
// pending longer than [policy] rotation_deadline_seconds is overdue; the sweep writes one
// audit record `rotation_overdue` per device and pending rotation (the device row's note,
// set in the same commit, makes it once; a new pending rotation starts without one), and
// counts the overdue rotations for the vault_rotations_overdue gauge. Every read is through a
// partial index of pending rotations: its cost follows them, never the number of devices.

#include <mutex>
#include <string>

#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"

namespace escrow::vault {
namespace {

// Devices noted per read; a sweep reads again until none is left or kMaxBatches were read
// (the next sweep takes the rest).
constexpr std::size_t kBatch = 500;
constexpr int kMaxBatches = 20;

}  // namespace

Result<std::size_t> EscrowService::SweepOverdueRotations() {
  Impl& m = *impl_;
  std::size_t noted = 0;
  for (int batch = 0; batch < kMaxBatches; ++batch) {
    const std::int64_t since = m.OverdueSinceMs();
    ESCROW_ASSIGN_OR_RETURN(std::vector<storage::DeviceRow> due,
                            storage::ReadValue(m.store, [&](storage::ReadTxn& txn) {
                              return txn.devices().ListOverdueUnnoted(since, kBatch);
                            }));
    for (const storage::DeviceRow& row : due) {
      std::lock_guard lock(m.StripeFor(row.id));
      const std::int64_t requested = *row.rotation_requested_ms;
      // The event names the device's present owner: a rotation is about the device, not
      // about one version.
      const AuditEvent event{"vault",
                             "system",
                             "rotation_overdue",
                             row.id,
                             "ok",
                             {},
                             "pending since " + FormatRfc3339(FromUnixMillis(requested)) +
                                 "; deadline " +
                                 std::to_string(m.options.rotation_deadline.count()) + " s",
                             MakeEventNote(kEventRotationOverdue, row.name, row.owner)};
      Status s = m.pipeline.Commit(
          [&](storage::WriteTxn& txn) {
            return txn.devices().NoteRotationOverdue(row.id, requested);
          },
          {event});
      // Rotated, or noted, since the read: nothing to note (and nothing was written).
      if (s.code() == Code::kFailedPrecondition) continue;
      ESCROW_RETURN_IF_ERROR(s);
      ++noted;
    }
    if (due.size() < kBatch) break;
  }
  const std::int64_t since = m.OverdueSinceMs();
  ESCROW_ASSIGN_OR_RETURN(const std::int64_t overdue,
                          storage::ReadValue(m.store, [&](storage::ReadTxn& txn) {
                            return txn.devices().CountRotationOverdue(since);
                          }));
  m.overdue_count.store(overdue);
  return noted;
}

Result<DevicePage> EscrowService::ListOverdueRotations(const Caller& caller,
                                                      const DevicePaging& paging) {
  Impl& m = *impl_;
  constexpr Action kAction = Action::kListOthers;
  if (Decision d = Decide(caller, kAction, nullptr); !d.allowed) {
    return m.Deny(caller, kAction, {}, d.denial);
  }
  if (Status s = CheckDevicePaging(paging); !s.ok()) {
    return m.Deny(caller, kAction, {}, std::move(s));
  }
  const std::int64_t since = m.OverdueSinceMs();
  DevicePage out;
  Status read = m.store.Read([&](storage::ReadTxn& txn) -> Status {
    // One more than the page, to know whether another follows.
    ESCROW_ASSIGN_OR_RETURN(
        std::vector<storage::DeviceRow> found,
        txn.devices().ListRotationOverdue(since, paging.after, paging.limit + 1));
    const bool more = found.size() > paging.limit;
    if (more) found.resize(paging.limit);
    out.devices.reserve(found.size());
    for (const storage::DeviceRow& row : found) {
      ESCROW_ASSIGN_OR_RETURN(std::optional<storage::KeyVersionRow> current,
                              txn.versions().Current(row));
      out.devices.push_back(ToDevice(row, current, since));
    }
    if (more) out.next_after = found.back().id;
    return Status::Ok();
  });
  if (!read.ok()) return m.ReadFailed(caller, kAction, {}, read);
  ESCROW_RETURN_IF_ERROR(m.AuditOk(caller, kAction, {}, "rotation overdue"));
  return out;
}

std::optional<std::int64_t> EscrowService::OverdueRotations() const {
  const std::int64_t n = impl_->overdue_count.load();
  if (n < 0) return std::nullopt;
  return n;
}

void EscrowService::StartOverdueSweep(std::chrono::milliseconds interval) {
  if (impl_->sweeper) return;
  // A failed sweep (the database or the HSM away) is retried at the next interval; the health
  // monitor reports the outage.
  impl_->sweeper = std::make_unique<PeriodicTask>(
      [this] {
        (void)SweepOverdueRotations();
        (void)SweepEvents();
      },
      interval);
}

}  // namespace escrow::vault
