# Helpers every module uses, so that warnings, sanitizers, tests and fuzzers
# are configured in exactly one place.

set(HAPF_WARNINGS -Wall -Wextra -Wnon-virtual-dtor)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND HAPF_WARNINGS -Wshadow=local)
endif()
if(HAPF_WERROR)
  list(APPEND HAPF_WARNINGS -Werror)
endif()

if(HAPF_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(HAPF_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(HAPF_FUZZ)
  # Libraries are instrumented for coverage; only fuzz targets link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# hapf_per_packet_sources(FILES...) — files of the per-packet path (call it in
# the directory that adds them to their target). GCC's generic x86-64 tuning
# clears every struct of 96 bytes or more with `rep stosq`, whose start-up
# costs tens of cycles on each of the per-packet clears (PacketInfo,
# ParsedPacket): these files use unrolled vector stores instead.
include(CheckCXXCompilerFlag)
check_cxx_compiler_flag("-mmemset-strategy=vector_loop:1024:noalign,libcall:-1:noalign" HAPF_HAS_MEMSET_STRATEGY)
function(hapf_per_packet_sources)
  if(HAPF_HAS_MEMSET_STRATEGY)
    set_source_files_properties(${ARGN} PROPERTIES
      COMPILE_OPTIONS "-mmemset-strategy=vector_loop:1024:noalign,libcall:-1:noalign")
  endif()
endfunction()

# hapf_library(NAME SOURCES... [DEPS ...]) — a static library of one module.
function(hapf_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${HAPF_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# hapf_test(NAME SOURCES... [DEPS ...] [LABELS ...]) — a GoogleTest program whose
# cases ctest lists one by one. Not built in the fuzz configuration.
function(hapf_test name)
  if(HAPF_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  target_compile_options(${name} PRIVATE ${HAPF_WARNINGS})
  target_compile_definitions(${name} PRIVATE
    HAPF_SHARED_DIR="${HAPF_SHARED_DIR}" HAPF_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    HAPF_BINARY_DIR="${CMAKE_BINARY_DIR}")
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# hapf_fuzzer(NAME SOURCES... [DEPS ...] [RUNS N] [SEEDS dir]) — a libFuzzer target,
# built only with HAPF_FUZZ=ON; ctest runs it for a fixed number of inputs.
function(hapf_fuzzer name)
  if(NOT HAPF_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "RUNS;SEEDS" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_RUNS)
    set(ARG_RUNS 200000)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  set(corpus ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
  file(MAKE_DIRECTORY ${corpus})
  set(seed_args)
  if(ARG_SEEDS)
    set(seed_args ${ARG_SEEDS})
  endif()
  add_test(NAME fuzz.${name}
    COMMAND ${name} -runs=${ARG_RUNS} -max_len=4096 -timeout=10 -rss_limit_mb=1024
            -seed=1 ${corpus} ${seed_args})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()
