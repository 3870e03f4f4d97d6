// Dual control against the real vaultd with real tokens (API.md, "Dual control (request,
// approve, retrieve once)"): a helpdesk requester, an approver and an admin. Self-approval,
// approval, a retrieval with the request and its reuse, expiry (ttl_seconds set small in
// vault.conf), denial, a request for another device or version, and a retrieval across a
// restart.
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

constexpr const char* kKeyA = "DUAL-2345-6789-ABCD-EFGH-JKLM";
constexpr const char* kKeyB = "DUBL-2345-6789-ABCD-EFGH-JKLM";
constexpr const char* kKeyC = "DUCL-2345-6789-ABCD-EFGH-JKLM";

std::string RetrievePath(const std::string& id) {
  return "/v1/devices/" + id + "/recovery-key/retrieve";
}

std::string Field(const HttpResult& r, const char* name) {
  INFO(r.body);
  return std::string(Json(r.body).at(name).as_string());
}

TEST_CASE("vaultd's dual control: request, approve, retrieve once, expire, deny, across a restart",
          "[e2e][access_requests][slow]") {
  VaultProcess v;
  Configure(v, "approvals", R"({ roles = ["helpdesk"], ttl_seconds = 60 })");
  // Requests and retrievals both count against retrieve_per_user (10 a minute by default);
  // this test makes more than that in a minute.
  Configure(v, "retrieve_per_user", "{ count = 100, window_seconds = 60 }");
  REQUIRE(v.Start());
  const std::string hd = v.Token("hd@example.com", "--roles helpdesk");
  const std::string ap = v.Token("ap@example.com", "--roles approver");
  const std::string ad = v.Token("ad@example.com", "--roles admin");
  v.Enrol("mac1", "alice@example.com", "corporate");
  v.Enrol("mac2", "bob@example.com", "corporate");
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key", KeyBody(kKeyA, kKeyA)).status == 200);
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac2/recovery-key", KeyBody(kKeyB, kKeyB)).status == 200);
  const auto request = [&](const std::string& token, const std::string& id,
                           const std::string& body = R"({"reason":"ticket 7"})") {
    return v.As(token, "POST", "/v1/devices/" + id + "/recovery-key/access-requests", body);
  };
  const auto decide = [&](const std::string& token, const std::string& rid, const char* what) {
    return v.As(token, "POST", "/v1/access-requests/" + rid + "/" + what, R"({"note":"ok"})");
  };
  const auto retrieve = [&](const std::string& id, const std::string& rid) {
    return v.As(hd, "POST", RetrievePath(id),
                R"({"reason":"ticket 7","access_request":")" + rid + R"("})");
  };

  // The request that will expire, made first, so that the wait below is short.
  HttpResult r = request(hd, "mac1");
  REQUIRE(r.status == 201);
  const std::string to_expire = Field(r, "id");
  const auto made_at = std::chrono::steady_clock::now();

  // Without a request: 403 approval_required. The owner needs none.
  r = v.As(hd, "POST", RetrievePath("mac1"), R"({"reason":"ticket 7"})");
  CHECK(r.status == 403);
  CHECK(ErrCode(r) == "approval_required");
  CHECK(v.As(v.Token("alice@example.com"), "POST", RetrievePath("mac1"), "{}").status == 200);

  // A request, as API.md shows it.
  r = request(hd, "mac1");
  REQUIRE(r.status == 201);
  const boost::json::object made = Json(r.body).as_object();
  const std::string rid = std::string(made.at("id").as_string());
  CHECK(rid.size() == 32);
  CHECK(made.at("device_id") == "mac1");
  CHECK(made.at("requester") == "user:hd@example.com");
  CHECK(made.at("reason") == "ticket 7");
  CHECK(made.at("version") == 1);
  CHECK(made.at("state") == "pending");
  CHECK(made.contains("created_at"));
  CHECK(made.contains("expires_at"));
  // The approver cannot request; nobody approves their own (an admin's here).
  CHECK(request(ap, "mac1").status == 404);
  r = request(ad, "mac1");
  REQUIRE(r.status == 201);
  r = decide(ad, Field(r, "id"), "approve");
  CHECK(r.status == 403);
  CHECK(ErrCode(r) == "self_approval");
  CHECK(decide(hd, rid, "approve").status == 403);  // helpdesk is not an approver
  // Pending: not usable yet.
  r = retrieve("mac1", rid);
  CHECK(r.status == 409);
  CHECK(ErrCode(r) == "access_request_not_usable");

  // Approved, then used once.
  r = decide(ap, rid, "approve");
  REQUIRE(r.status == 200);
  CHECK(Field(r, "state") == "approved");
  CHECK(Field(r, "approver") == "user:ap@example.com");
  CHECK(Json(r.body).as_object().contains("decided_at"));
  r = decide(ad, rid, "deny");
  CHECK(r.status == 409);
  CHECK(ErrCode(r) == "access_request_not_usable");
  // For another device: 403, as if none were named.
  r = retrieve("mac2", rid);
  CHECK(r.status == 403);
  CHECK(ErrCode(r) == "approval_required");
  r = retrieve("mac1", rid);
  REQUIRE(r.status == 200);
  CHECK(Field(r, "recovery_key") == kKeyA);
  r = retrieve("mac1", rid);
  CHECK(r.status == 409);
  CHECK(ErrCode(r) == "access_request_not_usable");

  // Denied: releases nothing.
  r = request(hd, "mac2");
  REQUIRE(r.status == 201);
  const std::string denied = Field(r, "id");
  r = decide(ad, denied, "deny");
  REQUIRE(r.status == 200);
  CHECK(Field(r, "state") == "denied");
  CHECK(retrieve("mac2", denied).status == 409);

  // For another version: a request for version 1, then a new key makes version 2 current.
  r = request(hd, "mac2", R"({"reason":"ticket 8","version":1})");
  REQUIRE(r.status == 201);
  const std::string for_v1 = Field(r, "id");
  REQUIRE(decide(ap, for_v1, "approve").status == 200);
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac2/recovery-key", KeyBody(kKeyC, kKeyC)).status == 200);
  r = retrieve("mac2", for_v1);
  CHECK(r.status == 409);
  CHECK(ErrCode(r) == "access_request_not_usable");

  // Across a restart: approved before, used after.
  r = request(hd, "mac2");
  REQUIRE(r.status == 201);
  const std::string across = Field(r, "id");
  CHECK(Json(r.body).at("version") == 2);
  REQUIRE(decide(ap, across, "approve").status == 200);
  REQUIRE(v.Stop() == 0);
  REQUIRE(v.Start());
  r = retrieve("mac2", across);
  REQUIRE(r.status == 200);
  CHECK(Field(r, "recovery_key") == kKeyC);

  // Two retrievals racing on one approval: exactly one gets the key.
  r = request(hd, "mac1");
  REQUIRE(r.status == 201);
  const std::string raced = Field(r, "id");
  REQUIRE(decide(ap, raced, "approve").status == 200);
  HttpResult first, second;
  std::thread a([&] { first = retrieve("mac1", raced); });
  std::thread b([&] { second = retrieve("mac1", raced); });
  a.join();
  b.join();
  CHECK(((first.status == 200) != (second.status == 200)));
  const HttpResult& lost = first.status == 200 ? second : first;
  CHECK(lost.status == 409);
  CHECK(ErrCode(lost) == "access_request_not_usable");

  // The listing: the approver sees every request, helpdesk their own, paged.
  r = v.As(ap, "GET", "/v1/access-requests?state=used");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("access_requests").as_array().size() == 3);  // mac1, across, raced
  r = v.As(hd, "GET", "/v1/access-requests?limit=2");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("access_requests").as_array().size() == 2);
  CHECK(Json(r.body).at("next_after").is_number());
  r = v.As(ad, "GET", "/v1/access-requests?state=bogus");
  CHECK(r.status == 400);
  CHECK(v.As(v.Token("au@example.com", "--roles auditor"), "GET", "/v1/access-requests").status ==
        403);

  // Expiry: past ttl_seconds the first request can be neither approved nor used.
  std::this_thread::sleep_until(made_at + std::chrono::seconds(62));
  r = decide(ap, to_expire, "approve");
  CHECK(r.status == 409);
  CHECK(ErrCode(r) == "access_request_not_usable");
  r = v.As(ap, "GET", "/v1/access-requests?state=expired");
  REQUIRE(r.status == 200);
  bool listed = false;
  const boost::json::value expired = Json(r.body);
  for (const auto& item : expired.at("access_requests").as_array()) {
    if (item.at("id").as_string() == to_expire) listed = true;
  }
  CHECK(listed);

  // The audit trail has every step.
  REQUIRE(v.Stop() == 0);
  const std::string log = v.Log();
  for (const char* key : {kKeyA, kKeyB, kKeyC}) CHECK(log.find(key) == std::string::npos);
  std::string audit;
  REQUIRE(Sh("sqlite3 " + Quote(v.state() + "/vault.db") +
                 " \"SELECT action || ' ' || outcome FROM audit\"",
             &audit) == 0);
  for (const char* step :
       {"access_request.create ok", "access_request.approve ok", "access_request.deny ok",
        "access_request.approve denied", "key.retrieve denied"}) {
    INFO(step);
    CHECK(audit.find(step) != std::string::npos);
  }
}

}  // namespace
}  // namespace escrow::e2e
