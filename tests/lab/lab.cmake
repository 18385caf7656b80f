# The end-to-end suite: the lab's checks on a lab of its own (unique namespace prefix). Blocks mode
# (carp_node + nfq_testfw) until hapfd has the pfsync runtime: without it a session cannot survive failover.
if(NOT HAPF_FUZZ)  # the programs are built in every non-fuzz configuration
  add_test(NAME lab_e2e_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/lab_test.sh)
  set_tests_properties(lab_e2e_test PROPERTIES LABELS netns TIMEOUT 400
    ENVIRONMENT "HAPF_LAB_MODE=blocks;HAPF_LAB_CARP_NODE=$<TARGET_FILE:carp_node>;HAPF_LAB_NFQ_TESTFW=$<TARGET_FILE:nfq_testfw>;HAPF_LAB_HAPFCTL=$<TARGET_FILE:hapfctl>")
endif()
