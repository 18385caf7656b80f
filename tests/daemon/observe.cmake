# /metrics, the status page's HTTP API and login (unit, no namespaces).
hapf_test(observe_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/observe_unit_test.cc DEPS hapf_daemon)
