hapf_library(hapf_carp SOURCES ${CMAKE_CURRENT_LIST_DIR}/advert.cc ${CMAKE_CURRENT_LIST_DIR}/engine.cc
  ${CMAKE_CURRENT_LIST_DIR}/config.cc
  DEPS hapf_net OpenSSL::Crypto)
