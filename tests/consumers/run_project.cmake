# Configures, builds and runs one downstream project in a fresh build directory.
#
#   cmake -DSOURCE_DIR=<project> -DBINARY_DIR=<build dir> -DGENERATOR=<generator>
#         [-DMAKE_PROGRAM=<make/ninja>] [-DCONFIGURE_ARGS=<args separated by |>]
#         [-DRUN=<executable, relative to BINARY_DIR>]
#         [-DTARBALL=<file> -DTARBALL_ROOT=<dir> -DTARBALL_FILES=<paths relative to TARBALL_ROOT, |>]
#         -P run_project.cmake
#
# With TARBALL the listed files of TARBALL_ROOT are packed into TARBALL (.tar.gz) first and the
# project is configured with -DSEQ2SEQ_TARBALL=<file> -DSEQ2SEQ_TARBALL_SHA256=<hash>. Every step's
# output is shown; the first failing step fails the script (and so the test).
cmake_minimum_required(VERSION 3.18)

foreach(_var SOURCE_DIR BINARY_DIR GENERATOR)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "run_project.cmake: -D${_var}=... is required")
  endif()
endforeach()
string(REPLACE "|" ";" _args "${CONFIGURE_ARGS}")
if(MAKE_PROGRAM)
  list(APPEND _args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

# Runs a command from the list `cmd`, echoing it; fails with `what` on a non-zero status.
function(run what)
  string(REPLACE ";" " " _shown "${ARGN}")
  message(STATUS "[${what}] ${_shown}")
  string(TIMESTAMP _t0 "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc)
  string(TIMESTAMP _t1 "%s")
  math(EXPR _dt "${_t1} - ${_t0}")
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[${what}] failed (${_rc}) after ${_dt} s")
  endif()
  message(STATUS "[${what}] ok in ${_dt} s")
endfunction()

if(TARBALL)
  string(REPLACE "|" ";" _files "${TARBALL_FILES}")
  file(REMOVE "${TARBALL}")
  get_filename_component(_tar_dir "${TARBALL}" DIRECTORY)
  file(MAKE_DIRECTORY "${_tar_dir}")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E tar czf "${TARBALL}" -- ${_files}
    WORKING_DIRECTORY "${TARBALL_ROOT}" RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "could not pack ${TARBALL_FILES} of ${TARBALL_ROOT} into ${TARBALL}")
  endif()
  file(SHA256 "${TARBALL}" _sha)
  list(APPEND _args "-DSEQ2SEQ_TARBALL=${TARBALL}" "-DSEQ2SEQ_TARBALL_SHA256=${_sha}")
endif()

# A fresh tree every time: a stale cache could hide a packaging regression.
file(REMOVE_RECURSE "${BINARY_DIR}")
run(configure "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}" ${_args})
# One job: the parent ctest already runs tests in parallel.
run(build "${CMAKE_COMMAND}" --build "${BINARY_DIR}" --config Release -j 1)
if(RUN)
  run(run "${BINARY_DIR}/${RUN}")
endif()
