# hapfctl: the control program (parse-only mode, and hapfd's control socket).
hapf_library(hapf_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/hapfctl_cli.cc ${CMAKE_CURRENT_LIST_DIR}/hapfctl_log.cc
  DEPS hapf_pf_lang hapf_daemon_control hapf_linux_pfsync_dump hapf_linux_pflog)
if(NOT HAPF_FUZZ)
  add_executable(hapfctl ${CMAKE_CURRENT_LIST_DIR}/hapfctl.cc)
  target_compile_options(hapfctl PRIVATE ${HAPF_WARNINGS})
  target_link_libraries(hapfctl PRIVATE hapf_cli)
endif()
