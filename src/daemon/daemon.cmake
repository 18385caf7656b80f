# hapfd: the daemon (filter on the NFQUEUE data plane, CARP, control socket).
hapf_library(hapf_daemon_control SOURCES ${CMAKE_CURRENT_LIST_DIR}/control.cc DEPS nlohmann_json::nlohmann_json)
hapf_library(hapf_daemon SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/config.cc
  ${CMAKE_CURRENT_LIST_DIR}/filter.cc
  ${CMAKE_CURRENT_LIST_DIR}/pfsync_hook.cc
  ${CMAKE_CURRENT_LIST_DIR}/daemon.cc
  DEPS hapf_daemon_control hapf_pf_compile hapf_pf_lang hapf_cli hapf_dataplane hapf_linux_pflog hapf_linux_carp
    hapf_carp hapf_pfsync hapf_linux_pfsync)
if(NOT HAPF_FUZZ)
  add_executable(hapfd ${CMAKE_CURRENT_LIST_DIR}/hapfd.cc)
  target_compile_options(hapfd PRIVATE ${HAPF_WARNINGS})
  target_link_libraries(hapfd PRIVATE hapf_daemon)
endif()
