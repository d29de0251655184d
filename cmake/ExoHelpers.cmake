# Helpers that declare exo's building blocks. One call per module, test suite or benchmark.

# Flags every exo target compiles with.
add_library(exo_warnings INTERFACE)
target_compile_options(exo_warnings INTERFACE -Wall -Wextra -Wpedantic -Wconversion
  -Wno-sign-conversion
  # GCC 12 warns when a designated initializer omits a member that has a default
  # (send_options{.budget = 10}); that is the point of defaults, and later GCCs agree.
  -Wno-missing-field-initializers
  $<$<BOOL:${EXO_WERROR}>:-Werror>)
if(EXO_SANITIZE AND EXO_TSAN)
  message(FATAL_ERROR "EXO_SANITIZE (ASan) and EXO_TSAN cannot be combined: build them apart (presets dev and tsan)")
endif()
if(EXO_SANITIZE)
  # UBSan without its null and alignment checks: together they instrument every load and
  # store, and were about 30% of the dev build's compile time (GCC 12, -O0). ASan reports a
  # null dereference itself, and the fuzz targets (tools/dev.sh fuzz), which read the
  # untrusted bytes, keep both checks.
  target_compile_options(exo_warnings INTERFACE -fsanitize=address,undefined -fno-sanitize=alignment,null
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(exo_warnings INTERFACE -fsanitize=address,undefined)
endif()
if(EXO_TSAN)
  # -Wno-tsan: GCC 12 warns that TSan does not model atomic_thread_fence, which Boost.Asio's
  # executor uses; what the fences order is also ordered by the mutexes TSan does see.
  target_compile_options(exo_warnings INTERFACE -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  target_link_options(exo_warnings INTERFACE -fsanitize=thread)
endif()
install(TARGETS exo_warnings EXPORT exoTargets)

set(EXO_MODULES "" CACHE INTERNAL "")

# exo_add_module(NAME [SOURCES f.cpp...] [DEPENDS module...] [LIBS target...])
# Declares exo::NAME: public headers in modules/NAME/include, compiled parts in src/.
# A module without sources is an INTERFACE (header-only) library. DEPENDS names other
# exo modules (the arrows of DESIGN.md section 3); LIBS names external targets.
function(exo_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPENDS;LIBS" ${ARGN})
  set(target exo_${name})
  if(M_SOURCES)
    add_library(${target} STATIC ${M_SOURCES})
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    set(scope PUBLIC)
    target_link_libraries(${target} PRIVATE exo_warnings)
  else()
    add_library(${target} INTERFACE)
    set(scope INTERFACE)
  endif()
  add_library(exo::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(${target} ${scope}
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(${target} ${scope} cxx_std_20)
  foreach(dep IN LISTS M_DEPENDS)
    target_link_libraries(${target} ${scope} exo_${dep})
  endforeach()
  if(M_LIBS)
    target_link_libraries(${target} ${scope} ${M_LIBS})
  endif()
  install(TARGETS ${target} EXPORT exoTargets)
  install(DIRECTORY include/exo DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  set(EXO_MODULES ${EXO_MODULES} ${target} CACHE INTERNAL "")
endfunction()

# exo_add_test(MODULE SOURCES f.cpp... [LIBS ...] [TIMEOUT seconds]) — one Boost.Test
# executable per module (test_MODULE), and one CTest entry per Boost.Test suite in its sources,
# named MODULE.SUITE and run with --run_test=SUITE: a failure names its suite, suites run in
# parallel (ctest -j), and each has a timeout (TIMEOUT, default 300 s). Suites are found in the
# sources (BOOST_AUTO_TEST_SUITE / BOOST_FIXTURE_TEST_SUITE at the start of a line); editing a
# source reconfigures, so a new suite gets its entry.
function(exo_add_test module)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set(target test_${module})
  set(main ${CMAKE_CURRENT_BINARY_DIR}/${target}_main.cpp)
  file(CONFIGURE OUTPUT ${main} CONTENT "#define BOOST_TEST_MODULE ${module}\n#include <boost/test/unit_test.hpp>\n")
  add_executable(${target} ${main} ${T_SOURCES})
  target_link_libraries(${target} PRIVATE exo::exo exo_warnings Boost::unit_test_framework ${T_LIBS})
  target_compile_definitions(${target} PRIVATE BOOST_TEST_DYN_LINK)
  set(suites "")
  foreach(src IN LISTS T_SOURCES)
    get_filename_component(path ${src} ABSOLUTE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${path})
    file(STRINGS ${path} lines REGEX "^BOOST_(AUTO|FIXTURE)_TEST_SUITE\\(")
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "^BOOST_(AUTO|FIXTURE)_TEST_SUITE\\(([A-Za-z0-9_]+).*" "\\2" suite "${line}")
      list(APPEND suites ${suite})
    endforeach()
  endforeach()
  if(NOT suites)
    message(FATAL_ERROR "exo_add_test(${module}): no BOOST_AUTO_TEST_SUITE in ${T_SOURCES}; every test case belongs to a suite")
  endif()
  foreach(suite IN LISTS suites)
    add_test(NAME ${module}.${suite} COMMAND ${target} --run_test=${suite} --log_level=message --report_level=short)
    set_tests_properties(${module}.${suite} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS ${module})
  endforeach()
endfunction()

# exo_add_bench(NAME SOURCES f.cpp... [LIBS ...]) — a Google Benchmark executable.
function(exo_add_bench name)
  cmake_parse_arguments(B "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(bench_${name} ${B_SOURCES})
  target_link_libraries(bench_${name} PRIVATE exo::exo exo_warnings benchmark::benchmark ${B_LIBS})
endfunction()

# exo_add_plugin(NAME SOURCES f.cpp... [LIBS ...]) — a container plugin: a shared library
# (MODULE) named exo_NAME.so, built against plugin/abi.h, that exports only its descriptor
# (static libraries linked in keep their symbols to themselves).
function(exo_add_plugin name)
  cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
  set(target exo_${name})
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES PREFIX "" OUTPUT_NAME exo_${name}
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/plugins
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${target} PRIVATE exo_warnings ${P_LIBS})
  target_link_options(${target} PRIVATE -Wl,--exclude-libs,ALL -Wl,--no-undefined)
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/exo/plugins)
endfunction()

# exo_wat2wasm(TARGET OUT_DIR f.wat...) — assembles WebAssembly text into OUT_DIR/f.wasm at
# build time with wabt's wat2wasm (EXO_WAT2WASM, found by plugins/wasm), as target TARGET.
function(exo_wat2wasm target out_dir)
  set(outputs "")
  foreach(wat IN LISTS ARGN)
    get_filename_component(base ${wat} NAME_WE)
    get_filename_component(abs ${wat} ABSOLUTE)
    set(out ${out_dir}/${base}.wasm)
    add_custom_command(OUTPUT ${out} COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND ${EXO_WAT2WASM} ${abs} -o ${out} DEPENDS ${abs} COMMENT "wat2wasm ${base}.wat" VERBATIM)
    list(APPEND outputs ${out})
  endforeach()
  add_custom_target(${target} ALL DEPENDS ${outputs})
endfunction()
