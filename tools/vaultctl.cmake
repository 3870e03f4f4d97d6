# vaultctl: key ceremony and operations (API.md, "Operator commands").
find_package(CLI11 REQUIRED)

# The development PKI and token minting need only vault/base and OpenSSL: a library of their
# own so that tests can call them in-process.
add_library(escrow_tools_dev STATIC
  ${CMAKE_CURRENT_LIST_DIR}/dev_certs.cc
  ${CMAKE_CURRENT_LIST_DIR}/dev_token.cc)
target_link_libraries(escrow_tools_dev
  PUBLIC escrow::base
  PRIVATE escrow_options OpenSSL::Crypto Boost::json)

add_executable(vaultctl
  ${CMAKE_CURRENT_LIST_DIR}/vaultctl_main.cc
  ${CMAKE_CURRENT_LIST_DIR}/dev_state.cc)
target_link_libraries(vaultctl PRIVATE
  escrow_tools_dev escrow::vault escrow::hsm escrow::storage escrow::base
  OpenSSL::SSL OpenSSL::Crypto Boost::json CLI11::CLI11 escrow_options)
