// sqlite_ceiling: durable commits per second on the filesystem that holds the vault's
// database, with the vault's settings (WAL, synchronous=FULL): one row per commit, and rows
// grouped per commit as the audit chain's group commit does; plus raw fdatasync()/s.
//
//   sqlite_ceiling --dir DIR [--seconds 2] [--group 32]
//
// Prints one JSON object: {"single_commits_per_s", "grouped_commits_per_s",
// "grouped_rows_per_s", "grouped_rows_per_commit", "fsync_per_s"}. Its files in DIR are
// removed at exit.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <sqlite3.h>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  (void)std::fprintf(stderr, "sqlite_ceiling: %s\n", what.c_str());
  std::exit(1);
}

// A flag's value as a number; anything else (atof would read it as 0) ends the program.
double NumberFlag(const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0') Die(std::string("not a number: ") + text);
  return v;
}

void Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = std::string(sql) + ": " + (err != nullptr ? err : "?");
    sqlite3_free(err);
    Die(msg);
  }
}

// Commits per second for `rows` inserted rows (each ~200 bytes, like an audit record) per
// transaction.
double Commits(sqlite3* db, sqlite3_stmt* insert, int rows, double seconds) {
  std::array<unsigned char, 200> payload{};
  const Clock::time_point start = Clock::now();
  const auto budget = std::chrono::duration<double>(seconds);
  std::uint64_t commits = 0;
  while (Clock::now() - start < budget) {
    Exec(db, "BEGIN IMMEDIATE");
    for (int i = 0; i < rows; ++i) {
      sqlite3_bind_blob(insert, 1, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) Die(sqlite3_errmsg(db));
      sqlite3_reset(insert);
    }
    Exec(db, "COMMIT");
    ++commits;
  }
  return static_cast<double>(commits) / std::chrono::duration<double>(Clock::now() - start).count();
}

double Fsyncs(const fs::path& path, double seconds) {
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Die("open " + path.string());
  std::array<char, 4096> block{};
  const Clock::time_point start = Clock::now();
  const auto budget = std::chrono::duration<double>(seconds);
  std::uint64_t n = 0;
  while (Clock::now() - start < budget) {
    const auto offset = static_cast<off_t>((n % 256) * block.size());
    if (::pwrite(fd, block.data(), block.size(), offset) < 0) Die("pwrite");
    if (::fdatasync(fd) != 0) Die("fdatasync");
    ++n;
  }
  const double rate =
      static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  double seconds = 2;
  int group = 32;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--dir") {
      dir = argv[i + 1];
    } else if (flag == "--seconds") {
      seconds = NumberFlag(argv[i + 1]);
    } else if (flag == "--group") {
      const double g = NumberFlag(argv[i + 1]);
      group = g >= 1 && g <= 1e6 ? static_cast<int>(g) : 0;  // 0: the usage below
    } else {
      Die("usage: sqlite_ceiling --dir DIR [--seconds S] [--group N]");
    }
  }
  if (dir.empty() || group < 1) Die("usage: sqlite_ceiling --dir DIR [--seconds S] [--group N]");
  const fs::path db_path = dir / ("sqlite-ceiling-" + std::to_string(::getpid()) + ".db");
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    Die("open " + db_path.string());
  }
  Exec(db, "PRAGMA journal_mode=WAL");
  Exec(db, "PRAGMA synchronous=FULL");
  Exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)");
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO t (v) VALUES (?1)", -1, &insert, nullptr) != SQLITE_OK) {
    Die(sqlite3_errmsg(db));
  }
  const double single = Commits(db, insert, 1, seconds);
  const double grouped = Commits(db, insert, group, seconds);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  const double fsync = Fsyncs(dir / ("fsync-ceiling-" + std::to_string(::getpid())), seconds);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    fs::remove(db_path.string() + suffix, ec);
  }
  std::error_code ec;
  fs::remove(dir / ("fsync-ceiling-" + std::to_string(::getpid())), ec);
  std::printf(
      "{\"single_commits_per_s\": %.1f, \"grouped_commits_per_s\": %.1f, "
      "\"grouped_rows_per_s\": %.1f, \"grouped_rows_per_commit\": %d, \"fsync_per_s\": %.1f}\n",
      single, grouped, grouped * group, group, fsync);
  return 0;
}
