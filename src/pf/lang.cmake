# The pf.conf language front end: names databases, lexer, parser, printer.
hapf_library(hapf_pf_lang
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/lang_names.cc
    ${CMAKE_CURRENT_LIST_DIR}/lang_lexer.cc
    ${CMAKE_CURRENT_LIST_DIR}/lang_host.cc
    ${CMAKE_CURRENT_LIST_DIR}/lang_parser.cc
    ${CMAKE_CURRENT_LIST_DIR}/lang_printer.cc
  DEPS hapf_net OpenSSL::Crypto)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports false -Wrestrict overlaps inside std::string concatenation at -O3 (GCC bug 105329).
  target_compile_options(hapf_pf_lang PRIVATE -Wno-restrict)
endif()
