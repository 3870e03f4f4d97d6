# vaultctl: key ceremony and operations (API.md, "Operator commands").
find_package(CLI11 REQUIRED)

# The development PKI and token minting need only base/ and OpenSSL: a library of their
# own so that tests can call them in-process.
add_library(escrow_tools_dev STATIC
  ${CMAKE_CURRENT_LIST_DIR}/dev_certs.cc
  ${CMAKE_CURRENT_LIST_DIR}/dev_token.cc)
target_link_libraries(escrow_tools_dev
  PUBLIC escrow::base
  PRIVATE escrow_options OpenSSL::Crypto Boost::json)

# The ceremony and operations commands (ctl_*.cc), a library so that tests can call their parts
# in-process. Shamir shares come from libgfshare.
pkg_check_modules(GFSHARE REQUIRED IMPORTED_TARGET libgfshare)
add_library(escrow_tools_ctl STATIC
  ${CMAKE_CURRENT_LIST_DIR}/ctl_audit.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_backup.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_common.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_db.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_init.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_keys_backup.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_restore.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_rotate.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_shares.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_status.cc)
target_include_directories(escrow_tools_ctl PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(escrow_tools_ctl
  PUBLIC escrow::vault escrow::hsm escrow::storage escrow::base CLI11::CLI11
  PRIVATE escrow_tools_dev escrow_options OpenSSL::Crypto Boost::json PkgConfig::GFSHARE)

add_executable(vaultctl
  ${CMAKE_CURRENT_LIST_DIR}/vaultctl_main.cc
  ${CMAKE_CURRENT_LIST_DIR}/dev_state.cc)
target_link_libraries(vaultctl PRIVATE
  escrow_tools_ctl escrow_tools_dev escrow::vault escrow::hsm escrow::storage escrow::base
  OpenSSL::SSL OpenSSL::Crypto Boost::json CLI11::CLI11 escrow_options)
