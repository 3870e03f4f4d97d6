# vaultd: the HTTPS API server (API.md, "vaultd").
find_package(CLI11 REQUIRED)

add_executable(vaultd ${CMAKE_CURRENT_LIST_DIR}/vaultd_main.cc)
target_link_libraries(vaultd PRIVATE
  escrow::api escrow::auth escrow::vault escrow::hsm escrow::storage escrow::base
  Boost::json CLI11::CLI11 escrow_options)
