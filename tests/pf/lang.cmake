hapf_test(pf_lang_conformance_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/lang_conformance_test.cc DEPS hapf_cli)
