# Configuration sync hosted in hapfd (linked into hapf_daemon, which creates it).
target_sources(hapf_daemon PRIVATE ${CMAKE_CURRENT_LIST_DIR}/sync_component.cc)
target_link_libraries(hapf_daemon PUBLIC hapf_linux_config_sync)
