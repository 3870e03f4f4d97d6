# vaultctl: key ceremony and operations (API.md, "Operator commands"). Each command's flags
# live in its own ctl_*.cc; the ceremonies themselves are escrow::ops (vault/ops/).
find_package(CLI11 REQUIRED)

add_executable(vaultctl
  ${CMAKE_CURRENT_LIST_DIR}/vaultctl_main.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_audit.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_audit_signing_key.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_backup.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_common.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_db.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_dev_token.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_escrow_cert.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_init.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_portal_conf.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_restore.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_rotate.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_status.cc
  ${CMAKE_CURRENT_LIST_DIR}/ctl_upgrade.cc)
target_include_directories(vaultctl PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(vaultctl PRIVATE
  escrow::ops escrow::vault escrow::hsm escrow::storage escrow::base CLI11::CLI11 escrow_options)
# The same GCC 12 false positive as vaultd_main.cc (see vaultd.cmake): libstdc++'s string code
# once CLI11's parsing is inlined into main(), not ours.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/vaultctl_main.cc
  PROPERTIES COMPILE_OPTIONS -Wno-null-dereference)
