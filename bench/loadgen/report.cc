#include "bench/loadgen/report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace escrow::bench::loadgen {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr double kUnknown = -1;

Result<json::object> ReadObject(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("missing " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object()) return Status::InvalidArgument(path.string() + " is not a JSON object");
  return std::move(v.as_object());
}

json::object ReadOptional(const fs::path& path) {
  Result<json::object> o = ReadObject(path);
  return o.ok() ? std::move(*o) : json::object{};
}

double Num(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return kUnknown;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return kUnknown;
}

const json::object& Obj(const json::object& o, std::string_view key) {
  static const json::object kEmpty;
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? v->as_object() : kEmpty;
}

std::string Fmt(double v, int decimals) {
  if (v < 0) return "n/a";
  char buf[64];  // a double with up to `decimals` digits: wide enough for any table value
  (void)std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// 100000 -> "100,000". Copied digit by digit into a new string: inserting the commas in
// place made GCC 12 at -O3 report a false -Wrestrict overlap inside std::string::insert.
std::string Thousands(double v) {
  if (v < 0) return "n/a";
  const std::string digits = Fmt(v, 0);
  std::string grouped;
  grouped.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  return grouped;
}

// The machine's ceilings, in operations per second, measured by bench/*.
struct Ceilings {
  double encrypt_1t = kUnknown, encrypt_2t = kUnknown;
  double decrypt_1t = kUnknown, decrypt_2t = kUnknown;
  double hmac_1t = kUnknown, hmac_2t = kUnknown;
  // The same on the token objects themselves (the figures above use session copies, as the
  // vault does).
  double token_encrypt_1t = kUnknown, token_decrypt_1t = kUnknown, token_hmac_1t = kUnknown;
  // Opening a CMS envelope as the vault does (find the RSA-2048 pair, unwrap, AES-CBC
  // decrypt, destroy), and the unwrap alone.
  double cms_open_1t = kUnknown, cms_open_2t = kUnknown, cms_unwrap_1t = kUnknown;
  double single_commits = kUnknown, grouped_commits = kUnknown, grouped_rows = kUnknown;
  double rows_per_group = kUnknown, fsync = kUnknown;
  double tls_full = kUnknown, tls_resumed = kUnknown;
};

// What bounds one scenario: the HSM lane (one session, one thread, as the vault's lanes are)
// and the grouped durable-commit rate. Each request costs its HSM operations' time on a lane
// plus its share of the audit MAC, one per committed group.
struct Bound {
  double hsm_rps = kUnknown;
  double hsm_ms = kUnknown;  // HSM time one request of the scenario needs, on average
  double commit_rps = kUnknown;
  double Ceiling() const {
    if (hsm_rps < 0) return commit_rps;
    if (commit_rps < 0) return hsm_rps;
    return std::min(hsm_rps, commit_rps);
  }
};

// A CMS store costs a store's HSM operations and the opening of its envelope.
Bound BoundFor(const Ceilings& c, double stores, double retrieves, double statuses,
               double cms_stores, double group) {
  Bound b;
  b.commit_rps = c.grouped_rows;
  const double total = stores + retrieves + statuses + cms_stores;
  if (total <= 0 || c.decrypt_1t <= 0 || c.encrypt_1t <= 0 || c.hmac_1t <= 0) return b;
  if (cms_stores > 0 && c.cms_open_1t <= 0) return b;
  const double g = group >= 1 ? group : 1;
  const double mac_share = 1.0 / c.hmac_1t / g;
  const double store = 1.0 / c.decrypt_1t + 1.0 / c.encrypt_1t + mac_share;
  const double seconds = stores * store + retrieves * (1.0 / c.decrypt_1t + mac_share) +
                         statuses * mac_share +
                         (cms_stores > 0 ? cms_stores * (store + 1.0 / c.cms_open_1t) : 0.0);
  b.hsm_rps = total / seconds;
  b.hsm_ms = 1000.0 * seconds / total;
  return b;
}

Ceilings LoadCeilings(const fs::path& dir) {
  Ceilings c;
  const json::object hsm = ReadOptional(dir / "hsm.json");
  c.encrypt_1t = Num(hsm, "encrypt_1t");
  c.encrypt_2t = Num(hsm, "encrypt_2t");
  c.decrypt_1t = Num(hsm, "decrypt_1t");
  c.decrypt_2t = Num(hsm, "decrypt_2t");
  c.hmac_1t = Num(hsm, "hmac_1t");
  c.hmac_2t = Num(hsm, "hmac_2t");
  c.token_encrypt_1t = Num(hsm, "token_encrypt_1t");
  c.token_decrypt_1t = Num(hsm, "token_decrypt_1t");
  c.token_hmac_1t = Num(hsm, "token_hmac_1t");
  c.cms_open_1t = Num(hsm, "cms_open_1t");
  c.cms_open_2t = Num(hsm, "cms_open_2t");
  c.cms_unwrap_1t = Num(hsm, "cms_unwrap_1t");
  const json::object sql = ReadOptional(dir / "sqlite.json");
  c.single_commits = Num(sql, "single_commits_per_s");
  c.grouped_commits = Num(sql, "grouped_commits_per_s");
  c.grouped_rows = Num(sql, "grouped_rows_per_s");
  c.rows_per_group = Num(sql, "grouped_rows_per_commit");
  c.fsync = Num(sql, "fsync_per_s");
  const json::object tls = ReadOptional(dir / "tls.json");
  c.tls_full = Num(tls, "full_per_s");
  c.tls_resumed = Num(tls, "resumed_per_s");
  return c;
}

json::object CeilingsJson(const Ceilings& c) {
  json::object o;
  auto put = [&o](const char* k, double v) {
    if (v >= 0) o[k] = v;
  };
  put("hsm_aes_gcm_encrypt_ops_per_s_1_thread", c.encrypt_1t);
  put("hsm_aes_gcm_encrypt_ops_per_s_2_threads", c.encrypt_2t);
  put("hsm_aes_gcm_decrypt_ops_per_s_1_thread", c.decrypt_1t);
  put("hsm_aes_gcm_decrypt_ops_per_s_2_threads", c.decrypt_2t);
  put("hsm_hmac_ops_per_s_1_thread", c.hmac_1t);
  put("hsm_hmac_ops_per_s_2_threads", c.hmac_2t);
  put("hsm_token_object_aes_gcm_encrypt_ops_per_s_1_thread", c.token_encrypt_1t);
  put("hsm_token_object_aes_gcm_decrypt_ops_per_s_1_thread", c.token_decrypt_1t);
  put("hsm_token_object_hmac_ops_per_s_1_thread", c.token_hmac_1t);
  put("hsm_cms_open_ops_per_s_1_thread", c.cms_open_1t);
  put("hsm_cms_open_ops_per_s_2_threads", c.cms_open_2t);
  put("hsm_rsa_2048_unwrap_ops_per_s_1_thread", c.cms_unwrap_1t);
  put("sqlite_commits_per_s_1_row", c.single_commits);
  put("sqlite_commits_per_s_grouped", c.grouped_commits);
  put("sqlite_rows_per_s_grouped", c.grouped_rows);
  put("sqlite_rows_per_commit_grouped", c.rows_per_group);
  put("fsync_per_s", c.fsync);
  put("tls_handshakes_per_s_full", c.tls_full);
  put("tls_handshakes_per_s_resumed", c.tls_resumed);
  return o;
}

std::string CeilingsTable(const Ceilings& c) {
  std::ostringstream t;
  t << "Machine ceilings (this run; SoftHSMv2 keys used through session copies, as the vault "
       "does)\n"
    << "  SoftHSMv2 AES-256-GCM encrypt   " << Fmt(c.encrypt_1t, 0) << " ops/s (1 thread), "
    << Fmt(c.encrypt_2t, 0) << " ops/s (2 threads)\n"
    << "  SoftHSMv2 AES-256-GCM decrypt   " << Fmt(c.decrypt_1t, 0) << " ops/s (1 thread), "
    << Fmt(c.decrypt_2t, 0) << " ops/s (2 threads)\n"
    << "  SoftHSMv2 HMAC-SHA256           " << Fmt(c.hmac_1t, 0) << " ops/s (1 thread), "
    << Fmt(c.hmac_2t, 0) << " ops/s (2 threads)\n"
    << "  SoftHSMv2 on token objects      encrypt " << Fmt(c.token_encrypt_1t, 0) << ", decrypt "
    << Fmt(c.token_decrypt_1t, 0) << ", HMAC " << Fmt(c.token_hmac_1t, 0)
    << " ops/s (1 thread; each use re-reads the object's file)\n"
    << "  SoftHSMv2 CMS envelope open     " << Fmt(c.cms_open_1t, 0) << " ops/s (1 thread), "
    << Fmt(c.cms_open_2t, 0) << " ops/s (2 threads); RSA-2048 unwrap alone "
    << Fmt(c.cms_unwrap_1t, 0) << " ops/s (token key pair, as the vault's)\n"
    << "  SQLite durable commits (WAL, synchronous=FULL)  " << Fmt(c.single_commits, 0)
    << " commits/s at 1 row; " << Fmt(c.grouped_commits, 0) << " commits/s at "
    << Fmt(c.rows_per_group, 0) << " rows = " << Fmt(c.grouped_rows, 0) << " rows/s\n"
    << "  fsync (fdatasync of a 4 KiB write)  " << Fmt(c.fsync, 0) << " /s\n"
    << "  TLS handshakes (mutual, loopback)  " << Fmt(c.tls_full, 0) << " /s full, "
    << Fmt(c.tls_resumed, 0) << " /s resumed\n";
  return t.str();
}

// One row of the table, from one loadgen run and its audit counts.
struct Row {
  std::string name;
  double connections = kUnknown, rps = kUnknown, p50 = kUnknown, p95 = kUnknown, p99 = kUnknown,
         errors = kUnknown, cpu_ms = kUnknown, cpu_ceiling = kUnknown, group = kUnknown,
         flushes = kUnknown;
  // vaultd's CPU per request over the HSM time that request needs (the ceilings' own
  // figures): how many times its HSM work the server spends in all. 1 would be a vault that
  // does nothing but its HSM operations.
  double Overhead() const {
    return cpu_ms > 0 && bound.hsm_ms > 0 ? cpu_ms / bound.hsm_ms : kUnknown;
  }
  Bound bound;
  std::string note;
};

double OpCount(const json::object& run, const char* op) {
  const double n = Num(Obj(Obj(run, "ops"), op), "requests");
  return n < 0 ? 0 : n;
}

Row RowFor(const json::object& run, const json::object& audit, const Ceilings& c) {
  Row r;
  const json::value* label = run.if_contains("label");
  r.name = label != nullptr && label->is_string() ? std::string(label->as_string()) : "run";
  r.connections = Num(run, "connections");
  r.rps = Num(run, "requests_per_s");
  const json::object& lat = Obj(run, "latency");
  r.p50 = Num(lat, "p50_ms");
  r.p95 = Num(lat, "p95_ms");
  r.p99 = Num(lat, "p99_ms");
  r.errors = Num(run, "errors");
  const json::object& res = Obj(run, "resources");
  const double server_ms = Num(res, "server_cpu_ms_per_request");
  const double client_ms = Num(res, "client_cpu_ms_per_request");
  const double cores = Num(res, "cores");
  r.cpu_ms = server_ms;
  // The load generator shares the cores, so both sides' CPU per request count against them.
  if (server_ms > 0 && cores > 0) {
    r.cpu_ceiling = cores * 1000.0 / (server_ms + std::max(client_ms, 0.0));
  }
  r.flushes = Num(res, "disk_flushes_per_s");
  const double records = Num(audit, "records");
  const double macs = Num(audit, "macs");
  if (records > 0 && macs > 0) r.group = records / macs;
  r.bound = BoundFor(c, OpCount(run, "store"), OpCount(run, "retrieve"), OpCount(run, "status"),
                     OpCount(run, "store_cms"), r.group);
  return r;
}

Row RotationRow(const json::object& rot, const Ceilings& c) {
  Row r;
  const double records = Num(rot, "records");
  r.name = "master-key rotation, " + Thousands(records) + " records";  // req/s: records/s
  const json::value* available = rot.if_contains("available");
  if (available == nullptr || !available->is_bool() || !available->as_bool()) {
    const json::value* reason = rot.if_contains("reason");
    r.note = reason != nullptr && reason->is_string() ? std::string(reason->as_string())
                                                      : "n/a (not run)";
    return r;
  }
  const double seconds = Num(rot, "seconds");
  if (records > 0 && seconds > 0) r.rps = records / seconds;
  // Each record: one decrypt under the old key and one encrypt under the new.
  if (c.decrypt_1t > 0 && c.encrypt_1t > 0) {
    r.bound.hsm_rps = 1.0 / (1.0 / c.decrypt_1t + 1.0 / c.encrypt_1t);
  }
  r.bound.commit_rps = c.grouped_rows;
  if (const json::value* ok = rot.if_contains("ok");
      ok != nullptr && ok->is_bool() && !ok->as_bool()) {
    r.note = "rotation failed";
  }
  return r;
}

std::string RenderRows(const std::vector<Row>& rows) {
  std::ostringstream t;
  char line[512];
  // (void): a row cut at the buffer's end is still a row; there is nothing to handle.
  (void)std::snprintf(line, sizeof line,
                "%-42s %4s %9s %8s %8s %8s %6s %7s %8s %9s %9s %9s %9s %6s %7s\n", "scenario",
                "conn", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "cpu ms", "overhead",
                "cpu ceil", "hsm term", "commit", "ceiling", "of", "flush/s");
  t << line;
  for (const Row& r : rows) {
    if (!r.note.empty() && r.rps < 0) {
      (void)std::snprintf(line, sizeof line, "%-42s %s\n", r.name.c_str(), r.note.c_str());
      t << line;
      continue;
    }
    const double ceiling = r.bound.Ceiling();
    const double fraction = ceiling > 0 && r.rps >= 0 ? 100.0 * r.rps / ceiling : kUnknown;
    const double overhead = r.Overhead();
    (void)std::snprintf(line, sizeof line,
                  "%-42s %4s %9s %8s %8s %8s %6s %7s %8s %9s %9s %9s %9s %6s %7s\n",
                  r.name.c_str(), Fmt(r.connections, 0).c_str(), Fmt(r.rps, 1).c_str(),
                  Fmt(r.p50, 2).c_str(), Fmt(r.p95, 2).c_str(), Fmt(r.p99, 2).c_str(),
                  Fmt(r.errors, 0).c_str(), Fmt(r.cpu_ms, 3).c_str(),
                  (overhead < 0 ? std::string("n/a") : Fmt(overhead, 1) + "x").c_str(),
                  Fmt(r.cpu_ceiling, 0).c_str(),
                  Fmt(r.bound.hsm_rps, 0).c_str(), Fmt(r.bound.commit_rps, 0).c_str(),
                  Fmt(ceiling, 0).c_str(), (Fmt(fraction, 1) + "%").c_str(),
                  Fmt(r.flushes, 1).c_str());
    t << line;
    if (!r.note.empty()) t << "    " << r.note << "\n";
  }
  return t.str();
}

json::object RowJson(const Row& r) {
  json::object o;
  o["scenario"] = r.name;
  auto put = [&o](const char* k, double v) {
    if (v >= 0) o[k] = v;
  };
  put("connections", r.connections);
  put("requests_per_s", r.rps);
  put("p50_ms", r.p50);
  put("p95_ms", r.p95);
  put("p99_ms", r.p99);
  put("errors", r.errors);
  put("server_cpu_ms_per_request", r.cpu_ms);
  put("cpu_ceiling_per_s", r.cpu_ceiling);
  put("hsm_ms_per_request", r.bound.hsm_ms);
  put("overhead", r.Overhead());
  put("audit_records_per_mac", r.group);
  put("hsm_term_per_s", r.bound.hsm_rps);
  put("commit_term_per_s", r.bound.commit_rps);
  const double ceiling = r.bound.Ceiling();
  put("ceiling_per_s", ceiling);
  if (ceiling > 0 && r.rps >= 0) o["fraction_of_ceiling"] = r.rps / ceiling;
  put("disk_flushes_per_s", r.flushes);
  if (!r.note.empty()) o["note"] = r.note;
  return o;
}

}  // namespace

Result<Report> BuildReport(const std::string& dir_name) {
  const fs::path dir(dir_name);
  std::vector<fs::path> runs;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir / "runs", ec)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".json") && !name.ends_with(".audit.json")) runs.push_back(e.path());
  }
  if (runs.empty()) return Status::NotFound("no runs in " + (dir / "runs").string());
  std::sort(runs.begin(), runs.end());

  const Ceilings c = LoadCeilings(dir);
  std::vector<Row> rows;
  json::array scenarios;
  json::array raw;
  for (const fs::path& p : runs) {
    ESCROW_ASSIGN_OR_RETURN(json::object run, ReadObject(p));
    fs::path audit_path = p;
    audit_path.replace_extension(".audit.json");
    const json::object audit = ReadOptional(audit_path);
    rows.push_back(RowFor(run, audit, c));
    scenarios.push_back(RowJson(rows.back()));
    run["audit"] = audit;
    raw.push_back(std::move(run));
  }
  if (fs::exists(dir / "rotation.json")) {
    rows.push_back(RotationRow(ReadOptional(dir / "rotation.json"), c));
    scenarios.push_back(RowJson(rows.back()));
  }

  const json::object meta = ReadOptional(dir / "meta.json");
  Report report;
  std::ostringstream t;
  t << "Vault benchmark";
  if (const json::value* mode = meta.if_contains("mode"); mode != nullptr && mode->is_string()) {
    t << " (" << mode->as_string().c_str() << ")";
  }
  t << "\n"
    << RenderRows(rows) << "\n"
    << "req/s: measured; cpu ms: vaultd CPU per request; cpu ceil: cores / (vaultd + loadgen CPU\n"
    << "per request); hsm term: one HSM lane / the HSM operations one request costs (its audit\n"
    << "MAC shared by its commit group); commit: grouped durable-commit rows/s; ceiling: the "
       "lower\n"
    << "of the two terms; of: req/s as a share of that ceiling; flush/s: disk flushes in the "
       "run.\n\n"
    << CeilingsTable(c);
  report.table = t.str();

  json::object out;
  out["meta"] = meta;
  out["ceilings"] = CeilingsJson(c);
  out["scenarios"] = std::move(scenarios);
  out["runs"] = std::move(raw);
  if (fs::exists(dir / "rotation.json")) out["rotation"] = ReadOptional(dir / "rotation.json");
  report.json = json::serialize(out);
  return report;
}

}  // namespace escrow::bench::loadgen
