# The end-to-end suite: the lab's checks on a lab of its own (unique namespace prefix), with hapfd on both
# firewalls (pf.conf on the NFQUEUE data plane, CARP, pfsync). Release and ASan: under ASan the firewalls are
# several times slower, which is what exposed the shared-hostid state-id collision (docs/lab.md).
if(NOT HAPF_FUZZ)
  add_test(NAME lab_e2e_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/lab_test.sh)
  set_tests_properties(lab_e2e_test PROPERTIES LABELS netns TIMEOUT 400
    ENVIRONMENT "HAPF_LAB_MODE=hapfd;HAPF_LAB_HAPFD=$<TARGET_FILE:hapfd>;HAPF_LAB_HAPFCTL=$<TARGET_FILE:hapfctl>")
endif()

# The end-to-end failover suite (tests/lab/e2e.sh): one test per scenario, each on a lab of its own.
# Release only: the scenarios exercise the same code lab_e2e_test already runs under ASan, and at ASan's
# speed on CI's two cores they would double the suite's time for timing, not coverage.
if(NOT HAPF_FUZZ AND NOT HAPF_SANITIZE)
  foreach(scenario conn1000 nat dmzlink synccut restartbackup reload forged)
    add_test(NAME lab_e2e_${scenario}_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/e2e.sh ${scenario})
    set_tests_properties(lab_e2e_${scenario}_test PROPERTIES LABELS netns TIMEOUT 300
      ENVIRONMENT "HAPF_LAB_HAPFD=$<TARGET_FILE:hapfd>;HAPF_LAB_HAPFCTL=$<TARGET_FILE:hapfctl>;HAPF_SHARED_DIR=${HAPF_SHARED_DIR}")
  endforeach()
endif()
