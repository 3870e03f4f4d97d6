#pragma once

#include <atomic>
#include <memory>
#include <string_view>

#include <boost/json/object.hpp>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "tools/notify_batch.h"
#include "tools/notify_config.h"
#include "tools/notify_cursor.h"
#include "tools/notify_http.h"

namespace escrow::tools {

// vault-notify's own JSON line on stderr: {"time","level","msg","fields"}. Callers put ids,
// counts, statuses and origins in `fields`; never the secret, a body or an event's reason.
void NotifyLog(std::string_view level, std::string_view msg, boost::json::object fields = {});

// The relay loop (API.md, "Events"): ask vaultd for the events after the cursor, POST them
// as one signed batch until the webhook answers 2xx (exponential backoff between attempts,
// never giving up), store the cursor durably, ask again; when nothing is left, wait
// poll_seconds. Owns the secret, the cursor and both clients. Not thread-safe.
class Relay {
 public:
  Relay(const NotifyConfig& config, SecretBytes secret, Cursor cursor,
        std::unique_ptr<HttpClient> vault, std::unique_ptr<HttpClient> webhook,
        const std::atomic<bool>& stop);

  // Runs until `stop` is set (then Ok, the current attempt finished or abandoned). Every
  // failed request (vaultd or webhook, a page that makes no sense included) is retried with
  // backoff; with `once`, Ok as soon as vaultd has nothing more, and the first failure instead
  // (kUnavailable, kDataLoss). A cursor that cannot be stored ends the run either way
  // (kUnavailable): the relay never asks vaultd for more than the disk knows was delivered.
  Status Run(bool once);

 private:
  Result<EventPage> Fetch();
  Status Deliver(const EventPage& page);
  // Repeats `attempt` until it succeeds, waiting with backoff between failures; `what` names
  // it in the log. With once_, or when stopping, returns the failure instead.
  template <class Attempt>
  auto Retry(std::string_view what, Attempt attempt) -> decltype(attempt());
  // Sleeps in short steps; false if stop was set meanwhile.
  bool Sleep(std::chrono::milliseconds duration) const;

  const NotifyConfig& config_;
  SecretBytes secret_;
  Cursor cursor_;
  std::unique_ptr<HttpClient> vault_;
  std::unique_ptr<HttpClient> webhook_;
  const std::atomic<bool>& stop_;
  bool once_ = false;
};

}  // namespace escrow::tools
