# The README's example is examples/quickstart.cpp verbatim: the first ```cpp block of README.md
# whose first line is "// quickstart" must equal the file byte for byte.
#
#   cmake -DREADME=<README.md> -DEXAMPLE=<examples/quickstart.cpp> -P readme_example.cmake
cmake_minimum_required(VERSION 3.18)

file(READ "${README}" _readme)
file(READ "${EXAMPLE}" _example)
string(REPLACE "\r\n" "\n" _readme "${_readme}")
set(_open "```cpp\n// quickstart")
string(FIND "${_readme}" "${_open}" _begin)
if(_begin EQUAL -1)
  message(FATAL_ERROR "${README}: no ```cpp block starting with '// quickstart'")
endif()
math(EXPR _begin "${_begin} + 7")  # skip "```cpp\n"
string(SUBSTRING "${_readme}" ${_begin} -1 _rest)
string(FIND "${_rest}" "\n```" _end)
if(_end EQUAL -1)
  message(FATAL_ERROR "${README}: the quickstart block is not closed")
endif()
math(EXPR _end "${_end} + 1")  # keep the block's last newline
string(SUBSTRING "${_rest}" 0 ${_end} _block)
if(NOT _block STREQUAL _example)
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/readme_quickstart.cpp" "${_block}")
  message(FATAL_ERROR "the quickstart block of ${README} differs from ${EXAMPLE} "
                      "(the block is in ${CMAKE_CURRENT_BINARY_DIR}/readme_quickstart.cpp; diff them)")
endif()
string(REGEX MATCHALL "\n" _lines "${_block}")
list(LENGTH _lines _n)
message(STATUS "README.md's example equals ${EXAMPLE} (${_n} lines)")
