# The filter engine (issue 4): pure core library plus the pflog file writer.
hapf_library(hapf_pf_engine SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/table_lpm.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_view.cc
  ${CMAKE_CURRENT_LIST_DIR}/state_table.cc
  ${CMAKE_CURRENT_LIST_DIR}/state_timeouts.cc
  ${CMAKE_CURRENT_LIST_DIR}/tcp_track.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_reply.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_export.cc
  ${CMAKE_CURRENT_LIST_DIR}/nat_pool.cc
  ${CMAKE_CURRENT_LIST_DIR}/pflog_record.cc
  DEPS hapf_net absl::flat_hash_map absl::flat_hash_set absl::hash)
# The compiler from the language's AST into the engine.
hapf_library(hapf_pf_compile SOURCES ${CMAKE_CURRENT_LIST_DIR}/ruleset_compile.cc DEPS hapf_pf_engine)
hapf_library(hapf_pf_pflog_file SOURCES ${CMAKE_CURRENT_LIST_DIR}/pflog_file.cc DEPS hapf_pf_engine)
hapf_per_packet_sources(${CMAKE_CURRENT_LIST_DIR}/engine.cc ${CMAKE_CURRENT_LIST_DIR}/engine_view.cc)
