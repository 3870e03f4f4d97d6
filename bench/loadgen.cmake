# loadgen: the load generator and bench report (docs/benchmarks.md, scripts/bench.sh). Sources
# in bench/loadgen/; the binary is <build>/bench/loadgen. Needs escrow::base, so it is built
# only as part of the top-level project.
find_package(CLI11 REQUIRED)
find_package(Threads REQUIRED)

# Options, statistics and the report: pure logic, also linked by tests/bench/loadgen_test.
add_library(escrow_loadgen_core STATIC
  ${CMAKE_CURRENT_LIST_DIR}/loadgen/options.cc
  ${CMAKE_CURRENT_LIST_DIR}/loadgen/report.cc
  ${CMAKE_CURRENT_LIST_DIR}/loadgen/stats.cc)
target_link_libraries(escrow_loadgen_core PUBLIC escrow::base Boost::json PRIVATE escrow_options)

add_executable(loadgen
  ${CMAKE_CURRENT_LIST_DIR}/loadgen/main.cc
  ${CMAKE_CURRENT_LIST_DIR}/loadgen/engine.cc
  ${CMAKE_CURRENT_LIST_DIR}/loadgen/probe.cc)
target_link_libraries(loadgen PRIVATE
  escrow_loadgen_core escrow::base OpenSSL::SSL OpenSSL::Crypto Boost::json CLI11::CLI11
  Threads::Threads escrow_options)
# GCC 12 reports "potential null pointer dereference" inside Asio's scheduler and awaitable
# frames once they are inlined into the coroutines (false positives in Boost code, not ours).
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/loadgen/engine.cc
  PROPERTIES COMPILE_OPTIONS -Wno-null-dereference)
# CLI11's CLI::detail::split inlined into main() trips GCC 12's false "potential null pointer
# dereference" inside libstdc++'s vector<string> growth at -O2 (Release), as in
# tools/vaultd.cmake.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/loadgen/main.cc
  PROPERTIES COMPILE_OPTIONS -Wno-null-dereference)
