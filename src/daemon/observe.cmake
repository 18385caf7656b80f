# Observability: /metrics, the status page (assets embedded at build time), man pages.
# Debian's cpp-httplib is a compiled library whose header must see the same
# CPPHTTPLIB_* defines it was built with: take them from its pkg-config file.
find_package(PkgConfig REQUIRED)
if(NOT TARGET PkgConfig::HAPF_HTTPLIB)
  pkg_check_modules(HAPF_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
endif()
find_package(Threads REQUIRED)
set(hapf_web_dir ${CMAKE_CURRENT_LIST_DIR}/web)
set(hapf_web_files index.html login.html app.js style.css)
set(hapf_web_deps)
foreach(f IN LISTS hapf_web_files)
  list(APPEND hapf_web_deps ${hapf_web_dir}/${f})
endforeach()
set(hapf_web_cc ${CMAKE_CURRENT_BINARY_DIR}/http_assets.cc)
add_custom_command(OUTPUT ${hapf_web_cc}
  COMMAND ${CMAKE_COMMAND} -DOUT=${hapf_web_cc} -DDIR=${hapf_web_dir}
          "-DNAMES=kIndexHtml=index.html\\;kLoginHtml=login.html\\;kAppJs=app.js\\;kStyleCss=style.css"
          -P ${hapf_web_dir}/embed.cmake
  DEPENDS ${hapf_web_deps} ${hapf_web_dir}/embed.cmake
  COMMENT "Embedding the status page")
hapf_library(hapf_daemon_observe SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/metrics_text.cc
  ${CMAKE_CURRENT_LIST_DIR}/http_server.cc
  ${hapf_web_cc}
  DEPS nlohmann_json::nlohmann_json OpenSSL::Crypto Threads::Threads PkgConfig::HAPF_HTTPLIB)
# The daemon-side glue reads the filter and components, so it lives in hapf_daemon.
target_sources(hapf_daemon PRIVATE ${CMAKE_CURRENT_LIST_DIR}/metrics_status.cc)
target_link_libraries(hapf_daemon PUBLIC hapf_daemon_observe)

install(FILES
  ${CMAKE_SOURCE_DIR}/man/hapfd.8 ${CMAKE_SOURCE_DIR}/man/hapfctl.8
  DESTINATION share/man/man8 OPTIONAL)
install(FILES ${CMAKE_SOURCE_DIR}/man/hapf.conf.5 DESTINATION share/man/man5 OPTIONAL)
install(FILES ${CMAKE_SOURCE_DIR}/contrib/bash-completion/hapfctl
  DESTINATION share/bash-completion/completions OPTIONAL)
