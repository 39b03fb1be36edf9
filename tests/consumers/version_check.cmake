# find_package version requests against the installed prefix: which must succeed, which must fail.
# Each configures the version/ project (no compiler) in a fresh directory.
#
#   cmake -DPREFIX=<prefix> -DPROJECT_DIR=<tests/consumers/version> -DBINARY_DIR=<scratch>
#         -DVERSION=<project version, x.y.z> -P version_check.cmake
cmake_minimum_required(VERSION 3.18)

foreach(_var PREFIX PROJECT_DIR BINARY_DIR VERSION)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "version_check.cmake: -D${_var}=... is required")
  endif()
endforeach()
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)\\.([0-9]+)$" _ok "${VERSION}")
if(NOT _ok)
  message(FATAL_ERROR "VERSION '${VERSION}' is not x.y.z")
endif()
set(_major "${CMAKE_MATCH_1}")
set(_minor "${CMAKE_MATCH_2}")
math(EXPR _next_major "${_major} + 1")
math(EXPR _next_minor "${_minor} + 1")

# Request -> expected outcome. CMake's version files compare EXACT as strings, so an exact request
# spells all three components.
set(_accept "${_major}.${_minor}" "${VERSION}|EXACT" "${_major}")
set(_refuse "${_next_major}.0" "${_major}.${_next_minor}" "${_major}.${_minor}.99|EXACT")

set(_failures "")
set(_k 0)
foreach(_expect accept refuse)
  foreach(_request IN LISTS _${_expect})
    string(REPLACE "|" ";" _args "${_request}")
    string(REPLACE "|" " " _shown "${_request}")
    math(EXPR _k "${_k} + 1")
    file(REMOVE_RECURSE "${BINARY_DIR}/${_k}")
    execute_process(
      COMMAND "${CMAKE_COMMAND}" -S "${PROJECT_DIR}" -B "${BINARY_DIR}/${_k}"
              "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DSEQ2SEQ_REQUEST=${_args}"
      RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
    if(_expect STREQUAL "accept" AND NOT _rc EQUAL 0)
      list(APPEND _failures "find_package(seq2seq ${_shown}) failed but should succeed:\n${_out}${_err}")
    elseif(_expect STREQUAL "refuse" AND _rc EQUAL 0)
      list(APPEND _failures "find_package(seq2seq ${_shown}) succeeded but should fail")
    else()
      message(STATUS "find_package(seq2seq ${_shown}): ${_expect}, as expected")
    endif()
  endforeach()
endforeach()
if(_failures)
  string(REPLACE ";" "\n" _failures "${_failures}")
  message(FATAL_ERROR "${_failures}")
endif()
