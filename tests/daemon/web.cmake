# The status page in headless Chromium (Playwright): two hapfd nodes, CARP, maintenance by a click.
# Release only: the page and its API are the same code the unit tests run under ASan.
if(NOT HAPF_FUZZ AND NOT HAPF_SANITIZE)
  add_test(NAME web_status_page_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/web_status_page.sh
    $<TARGET_FILE:hapfd> ${CMAKE_BINARY_DIR}/Testing/web-shots)
  set_tests_properties(web_status_page_test PROPERTIES LABELS netns TIMEOUT 180)
endif()
