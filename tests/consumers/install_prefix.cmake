# Installs the current build tree into a fresh prefix and checks what landed there.
#
#   cmake -DBUILD_DIR=<seq2seq build tree> -DPREFIX=<prefix> -DSOURCE_DIR=<seq2seq source>
#         [-DCONFIG=<build type>] -P install_prefix.cmake
cmake_minimum_required(VERSION 3.18)

foreach(_var BUILD_DIR PREFIX SOURCE_DIR)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "install_prefix.cmake: -D${_var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${PREFIX}")
set(_config "")
if(CONFIG)
  set(_config --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${_config}
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed (${_rc})")
endif()

# Package files (share/: the library is header-only and architecture independent).
foreach(_file
    share/cmake/seq2seq/seq2seqConfig.cmake
    share/cmake/seq2seq/seq2seqConfigVersion.cmake
    share/cmake/seq2seq/seq2seqTargets.cmake
    share/pkgconfig/seq2seq.pc)
  if(NOT EXISTS "${PREFIX}/${_file}")
    message(FATAL_ERROR "not installed: ${PREFIX}/${_file}")
  endif()
endforeach()

# Every public header, and nothing else under include/seq2seq.
file(GLOB_RECURSE _source RELATIVE "${SOURCE_DIR}/include" "${SOURCE_DIR}/include/seq2seq/*")
file(GLOB_RECURSE _installed RELATIVE "${PREFIX}/include" "${PREFIX}/include/seq2seq/*")
list(SORT _source)
list(SORT _installed)
if(NOT _source STREQUAL _installed)
  set(_missing ${_source})
  list(REMOVE_ITEM _missing ${_installed})
  set(_extra ${_installed})
  list(REMOVE_ITEM _extra ${_source})
  message(FATAL_ERROR "installed headers differ from include/: missing [${_missing}], extra [${_extra}]")
endif()
list(LENGTH _installed _n)
message(STATUS "installed ${_n} headers and the CMake and pkg-config package files into ${PREFIX}")
