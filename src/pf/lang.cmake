# The pf.conf language front end: names databases, lexer, parser, printer.
hapf_library(hapf_pf_lang
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/lang_names.cc
  DEPS hapf_net)
