# /metrics, the status page's HTTP API and login (unit, no namespaces).
hapf_test(observe_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/observe_unit_test.cc DEPS hapf_daemon)
if(NOT HAPF_FUZZ)
  add_test(NAME observe.man_pages COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/observe_man_test.sh ${CMAKE_SOURCE_DIR})
  set_tests_properties(observe.man_pages PROPERTIES LABELS unit TIMEOUT 30)
endif()
