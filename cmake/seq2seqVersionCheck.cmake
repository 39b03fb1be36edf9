# seq2seq_check_header_version(<config.hpp>)
#
# The version lives in two places: project(VERSION) here and SEQ2SEQ_VERSION_MAJOR/MINOR/PATCH in
# include/seq2seq/config.hpp. Fail at configure time when they disagree. A missing header is skipped
# (the skeleton may exist before the headers do).
include_guard(GLOBAL)

function(seq2seq_check_header_version header)
  if(NOT EXISTS "${header}")
    message(STATUS "seq2seq: ${header} not found, skipping the version check")
    return()
  endif()
  # Re-run the check (configure) whenever the header changes.
  set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${header}")
  file(STRINGS "${header}" _lines
    REGEX "^[ \t]*#[ \t]*define[ \t]+SEQ2SEQ_VERSION_(MAJOR|MINOR|PATCH)[ \t]+[0-9]+")
  foreach(_part MAJOR MINOR PATCH)
    set(_value "")
    foreach(_line IN LISTS _lines)
      if(_line MATCHES "define[ \t]+SEQ2SEQ_VERSION_${_part}[ \t]+([0-9]+)")
        set(_value "${CMAKE_MATCH_1}")
      endif()
    endforeach()
    if(_value STREQUAL "")
      message(FATAL_ERROR "seq2seq: SEQ2SEQ_VERSION_${_part} not found in ${header}")
    endif()
    set(_header_${_part} "${_value}")
  endforeach()
  set(_header_version "${_header_MAJOR}.${_header_MINOR}.${_header_PATCH}")
  if(NOT _header_version VERSION_EQUAL PROJECT_VERSION)
    message(FATAL_ERROR "seq2seq: version mismatch: project(VERSION ${PROJECT_VERSION}) in CMakeLists.txt "
                        "but SEQ2SEQ_VERSION_* = ${_header_version} in ${header}")
  endif()
endfunction()
