# Configuration sync on Linux: TCP transport and the configuration directory.
hapf_library(hapf_linux_config_sync SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_sync_transport.cc DEPS hapf_sync hapf_net)
