# vault-notify: relays vaultd's events to a signed webhook (API.md, "Events"; docs/operations.md,
# "Relaying events"). A client of the API over HTTPS, linking nothing of vaultd's but base/.
find_package(CLI11 REQUIRED)

# The pure logic (config, signature, cursor, backoff, event pages): tests/tools links it too.
add_library(escrow_notify_core STATIC
  ${CMAKE_CURRENT_LIST_DIR}/notify_backoff.cc
  ${CMAKE_CURRENT_LIST_DIR}/notify_batch.cc
  ${CMAKE_CURRENT_LIST_DIR}/notify_config.cc
  ${CMAKE_CURRENT_LIST_DIR}/notify_cursor.cc
  ${CMAKE_CURRENT_LIST_DIR}/notify_signature.cc)
target_include_directories(escrow_notify_core PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(escrow_notify_core
  PUBLIC escrow::base Boost::json
  PRIVATE OpenSSL::Crypto tomlplusplus::tomlplusplus escrow_options)

add_executable(vault-notify
  ${CMAKE_CURRENT_LIST_DIR}/notify_main.cc
  ${CMAKE_CURRENT_LIST_DIR}/notify_http.cc
  ${CMAKE_CURRENT_LIST_DIR}/notify_relay.cc)
target_link_libraries(vault-notify PRIVATE
  escrow_notify_core escrow::base OpenSSL::SSL OpenSSL::Crypto Boost::json CLI11::CLI11
  escrow_options)
# GCC 12's false "potential null pointer dereference" warnings inside library code, as for
# loadgen's engine.cc (Asio's scheduler and executors inlined into the coroutines) and
# vaultd_main.cc (libstdc++'s strings once CLI11's parsing is inlined into main()).
set_source_files_properties(
  ${CMAKE_CURRENT_LIST_DIR}/notify_http.cc ${CMAKE_CURRENT_LIST_DIR}/notify_main.cc
  PROPERTIES COMPILE_OPTIONS -Wno-null-dereference)
