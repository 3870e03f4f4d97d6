#include "tools/notify_relay.h"

#include <time.h>

#include <array>
#include <chrono>
#include <thread>
#include <utility>

#include "base/log.h"
#include "tools/notify_backoff.h"
#include "tools/notify_signature.h"

namespace escrow::tools {
namespace {

constexpr auto kSleepStep = std::chrono::milliseconds(100);

// RFC 3339 UTC with milliseconds.
std::string Now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::array<char, 32> date{};
  const std::size_t n = std::strftime(date.data(), date.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  std::array<char, 8> frac{};
  (void)std::snprintf(frac.data(), frac.size(), ".%03dZ", static_cast<int>(ms));
  return std::string(date.data(), n) + frac.data();
}

Status StatusOf(const Status& s) { return s; }
template <class T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

bool Is2xx(unsigned status) { return status >= 200 && status < 300; }

// The failure of one attempt, for the log: an HTTP status or a transport error. The answer's
// body is not logged (a receiver's error page is not ours to keep).
Status HttpFailure(const Result<HttpReply>& reply, std::string_view who) {
  if (!reply.ok()) return reply.status();
  return Status::Unavailable(std::string(who) + " answered HTTP " + std::to_string(reply->status));
}

}  // namespace

void NotifyLog(std::string_view level, std::string_view msg, boost::json::object fields) {
  boost::json::object line;
  line["time"] = Now();
  line["level"] = level;
  line["msg"] = msg;
  line["fields"] = std::move(fields);
  LogJson(line);
}

Relay::Relay(const NotifyConfig& config, SecretBytes secret, Cursor cursor,
             std::unique_ptr<HttpClient> vault, std::unique_ptr<HttpClient> webhook,
             const std::atomic<bool>& stop)
    : config_(config),
      secret_(std::move(secret)),
      cursor_(std::move(cursor)),
      vault_(std::move(vault)),
      webhook_(std::move(webhook)),
      stop_(stop) {}

bool Relay::Sleep(std::chrono::milliseconds duration) const {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (!stop_.load()) {
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, kSleepStep));
  }
  return false;
}

template <class Attempt>
auto Relay::Retry(std::string_view what, Attempt attempt) -> decltype(attempt()) {
  Backoff backoff(config_.backoff_initial, config_.backoff_max);
  for (;;) {
    auto result = attempt();
    if (result.ok() || once_ || stop_.load()) return result;
    const std::chrono::milliseconds wait = backoff.Next();
    NotifyLog("warn", std::string(what) + " failed; retrying",
              {{"error", StatusOf(result).message()},
               {"attempt", backoff.attempt()},
               {"retry_in_ms", wait.count()}});
    if (!Sleep(wait)) return result;
  }
}

Result<EventPage> Relay::Fetch() {
  const std::uint64_t after = cursor_.value();
  std::string target = config_.vault.target;
  if (target.ends_with('/')) target.pop_back();
  target +=
      "/v1/events?after=" + std::to_string(after) + "&limit=" + std::to_string(config_.batch_size);
  Result<HttpReply> reply = vault_->Send("GET", target, {}, {});
  if (!reply.ok() || reply->status != 200) return HttpFailure(reply, "vaultd");
  return ParseEventPage(reply->body, after);
}

Status Relay::Deliver(const EventPage& page) {
  const std::string body = WebhookBody(page);
  // Signed afresh at each attempt: a receiver rejects a `t` more than 300 s away, and a
  // retry may come an hour after the first try.
  const std::int64_t t = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const HttpClient::Headers headers = {{"X-Vault-Signature", SignatureHeader(secret_, t, body)}};
  Result<HttpReply> reply = webhook_->Send("POST", config_.webhook.target, body, headers);
  if (reply.ok() && Is2xx(reply->status)) return Status::Ok();
  return HttpFailure(reply, "webhook");
}

Status Relay::Run(bool once) {
  once_ = once;
  NotifyLog("info", "relay started",
            {{"vault", config_.vault.Origin()},
             {"webhook", config_.webhook.Origin()},
             {"cursor", cursor_.value()},
             {"batch_size", config_.batch_size},
             {"once", once}});
  while (!stop_.load()) {
    Result<EventPage> page = Retry("fetching events", [this] { return Fetch(); });
    if (stop_.load()) break;
    if (!page.ok()) return page.status();
    if (page->count == 0) {
      if (once) return Status::Ok();
      if (!Sleep(config_.poll)) break;
      continue;
    }
    Status delivered = Retry("delivering events", [&] { return Deliver(*page); });
    if (!delivered.ok()) {
      if (stop_.load()) break;
      return delivered;
    }
    NotifyLog("info", "delivered",
              {{"first_id", page->first_id}, {"last_id", page->last_id}, {"count", page->count}});
    // Durable before vaultd is asked for more: a crash from here on re-sends at most this
    // batch, and vaultd's view of the cursor (its lag gauge) never runs ahead of the disk.
    if (Status stored = cursor_.Store(page->last_id); !stored.ok()) {
      NotifyLog("error", "cannot store the cursor", {{"error", stored.message()}});
      return stored;
    }
  }
  NotifyLog("info", "stopped", {{"cursor", cursor_.value()}});
  return Status::Ok();
}

}  // namespace escrow::tools
