#pragma once

#include <string>

#include "base/result.h"

namespace escrow::bench::loadgen {

// The bench's one table and its JSON twin.
struct Report {
  std::string table;
  std::string json;
};

// Reads a results directory written by scripts/bench.sh (docs/benchmarks.md lists the files:
// meta.json, hsm.json, sqlite.json, tls.json, runs/NN-*.json with their .audit.json, and
// rotation.json), relates each vault figure to the ceilings that bound it and renders the
// table. Missing ceilings show as n/a. kNotFound if the directory has no runs,
// kInvalidArgument for a file that is not the expected JSON.
Result<Report> BuildReport(const std::string& dir);

}  // namespace escrow::bench::loadgen
