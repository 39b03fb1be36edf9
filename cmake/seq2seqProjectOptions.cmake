# Internal INTERFACE targets for seq2seq's own tests, examples and benchmarks. None of them is
# installed or exported, and the public seq2seq::seq2seq target never links them.
#
#   seq2seq_project_options  warnings (-Wall -Wextra -Wpedantic, -Werror with SEQ2SEQ_WERROR),
#                            sanitizers (SEQ2SEQ_SANITIZE), OpenMP (SEQ2SEQ_OPENMP), seq2seq_backend
#   seq2seq_native_options   -march=native when SEQ2SEQ_NATIVE (examples and benchmarks only)
#   seq2seq_backend          the GEMM backend chosen by SEQ2SEQ_GEMM_BACKEND
#
# Our executables link:  target_link_libraries(<t> PRIVATE seq2seq::seq2seq seq2seq_project_options)
# plus seq2seq_native_options for examples and benchmarks (tests stay valgrind-friendly).
include_guard(GLOBAL)
include(CheckCXXCompilerFlag)
include(seq2seqFindPeers)

add_library(seq2seq_project_options INTERFACE)
add_library(seq2seq_native_options INTERFACE)
add_library(seq2seq_backend INTERFACE)
target_link_libraries(seq2seq_project_options INTERFACE seq2seq_backend)

# --- Warnings ---------------------------------------------------------------------------------
# Eigen and nlohmann_json are imported targets, so their headers are SYSTEM includes and these
# warnings apply to our own code only.
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(seq2seq_project_options INTERFACE -Wall -Wextra -Wpedantic)
  if(SEQ2SEQ_WERROR)
    target_compile_options(seq2seq_project_options INTERFACE -Werror)
  endif()
elseif(MSVC)
  target_compile_options(seq2seq_project_options INTERFACE /W4 /bigobj $<$<BOOL:${SEQ2SEQ_WERROR}>:/WX>)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 (bug 105593) reports '__Y may be used uninitialized' from the _mm512_undefined_*
  # intrinsics that Eigen's AVX-512 packet math inlines into our functions; SYSTEM does not hide
  # it. Seen with any -march that has AVX-512 (here: -march=native on Zen 5).
  target_compile_options(seq2seq_project_options INTERFACE -Wno-maybe-uninitialized)
endif()

# --- Sanitizers -------------------------------------------------------------------------------
# seq2seq_add_sanitizers(<target> <comma-separated list>)
# Adds -fsanitize=<list> -fno-omit-frame-pointer -fno-sanitize-recover=all to the compile and link
# options of <target> (INTERFACE targets get INTERFACE options).
function(seq2seq_add_sanitizers target sanitizers)
  string(REPLACE " " "" sanitizers "${sanitizers}")
  if(sanitizers STREQUAL "")
    return()
  endif()
  string(REPLACE "," ";" _list "${sanitizers}")
  foreach(_s IN LISTS _list)
    if(NOT _s MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "seq2seq: unknown sanitizer '${_s}' in SEQ2SEQ_SANITIZE='${sanitizers}'")
    endif()
  endforeach()
  if("thread" IN_LIST _list AND ("address" IN_LIST _list OR "leak" IN_LIST _list))
    message(FATAL_ERROR "seq2seq: ThreadSanitizer cannot be combined with address/leak")
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "seq2seq: SEQ2SEQ_SANITIZE needs GCC or Clang")
  endif()
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    set(_scope INTERFACE)
  else()
    set(_scope PRIVATE)
  endif()
  set(_flags -fsanitize=${sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_compile_options(${target} ${_scope} ${_flags})
  target_link_options(${target} ${_scope} -fsanitize=${sanitizers})
endfunction()

string(REPLACE " " "" _seq2seq_sanitize "${SEQ2SEQ_SANITIZE}")
if(NOT _seq2seq_sanitize STREQUAL "")
  seq2seq_add_sanitizers(seq2seq_project_options "${_seq2seq_sanitize}")
  if(_seq2seq_sanitize MATCHES "thread" AND SEQ2SEQ_OPENMP)
    # libgomp is not TSan-instrumented: its barriers would show up as races.
    message(STATUS "seq2seq: SEQ2SEQ_SANITIZE=thread turns SEQ2SEQ_OPENMP off")
    set(SEQ2SEQ_OPENMP OFF)
  endif()
endif()

# --- OpenMP -----------------------------------------------------------------------------------
# Eigen parallelises its GEMM with OpenMP when the translation unit is compiled with it.
set(SEQ2SEQ_HAVE_OPENMP OFF)
if(SEQ2SEQ_OPENMP)
  find_package(OpenMP COMPONENTS CXX)
  if(OpenMP_CXX_FOUND)
    target_link_libraries(seq2seq_project_options INTERFACE OpenMP::OpenMP_CXX)
    set(SEQ2SEQ_HAVE_OPENMP ON)
  else()
    message(WARNING "seq2seq: SEQ2SEQ_OPENMP is ON but OpenMP was not found; building without it")
  endif()
endif()

# --- -march=native ----------------------------------------------------------------------------
if(SEQ2SEQ_NATIVE)
  check_cxx_compiler_flag("-march=native" SEQ2SEQ_COMPILER_HAS_MARCH_NATIVE)
  if(SEQ2SEQ_COMPILER_HAS_MARCH_NATIVE)
    target_compile_options(seq2seq_native_options INTERFACE -march=native)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
      # Same GCC 12 bug: at -O2 (RelWithDebInfo) some of those become the definite
      # '__Y is used uninitialized'. Only on native targets: tests keep -Wuninitialized.
      target_compile_options(seq2seq_native_options INTERFACE -Wno-uninitialized)
    endif()
  else()
    message(STATUS "seq2seq: the compiler does not accept -march=native; SEQ2SEQ_NATIVE ignored")
  endif()
endif()

# --- GEMM backend -----------------------------------------------------------------------------
string(TOLOWER "${SEQ2SEQ_GEMM_BACKEND}" _seq2seq_backend)
if(_seq2seq_backend STREQUAL "auto")
  # What a user who installed libdnnl-dev gets: the faster products, without asking.
  if(TARGET seq2seq_dnnl)
    set(_seq2seq_backend dnnl)
  else()
    set(_seq2seq_backend eigen)
  endif()
endif()
set(SEQ2SEQ_GEMM_BACKEND_USED "${_seq2seq_backend}" CACHE INTERNAL "the GEMM backend auto chose")
if(_seq2seq_backend STREQUAL "eigen")
  # Eigen's own GEMM: nothing to add.
elseif(_seq2seq_backend STREQUAL "openblas")
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS REQUIRED)
  target_compile_definitions(seq2seq_backend INTERFACE EIGEN_USE_BLAS)
  target_link_libraries(seq2seq_backend INTERFACE BLAS::BLAS)
elseif(_seq2seq_backend STREQUAL "dnnl")
  if(NOT TARGET seq2seq_dnnl)
    message(FATAL_ERROR "seq2seq: SEQ2SEQ_GEMM_BACKEND=dnnl but oneDNN was not found (apt install libdnnl-dev) "
                        "or SEQ2SEQ_DNNL is OFF")
  endif()
  target_link_libraries(seq2seq_backend INTERFACE seq2seq_dnnl)
else()
  message(FATAL_ERROR "seq2seq: SEQ2SEQ_GEMM_BACKEND must be eigen, openblas or dnnl, not '${SEQ2SEQ_GEMM_BACKEND}'")
endif()
