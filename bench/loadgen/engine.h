#pragma once

#include "base/result.h"
#include "bench/loadgen/options.h"
#include "bench/loadgen/stats.h"

namespace escrow::bench::loadgen {

// Drives `options.connections` keep-alive HTTPS connections (each a coroutine on its own
// strand, with a client certificate per role) against a loopback vaultd until the duration
// or the request count is reached, and returns what it measured after the warm-up.
// REQUIRES: Validate(options) is OK. kInvalidArgument for unreadable certificates or keys,
// kUnavailable when the target cannot be resolved.
Result<RunResult> Run(const Options& options);

}  // namespace escrow::bench::loadgen
