# The optional parts of seq2seq and the libraries they need, found quietly (never a configure
# error). Used by the top-level CMakeLists.txt and, installed next to seq2seqConfig.cmake, by the
# package config, so a consumer's find_package(seq2seq) finds the same libraries again.
#
#   seq2seq_find_icu(<out_var>)            TRUE and target ICU::uc (CMake's FindICU) when ICU is usable
#   seq2seq_find_sentencepiece(<out_var>)  TRUE and target SentencePiece::sentencepiece (the
#                                          processor and trainer libraries) when SentencePiece is usable
#   seq2seq_find_dnnl(<out_var>)           TRUE and target DNNL::dnnl when oneDNN is usable
#
# CMAKE_DISABLE_FIND_PACKAGE_ICU / _SentencePiece / _dnnl = TRUE make them report FALSE, as on a
# machine without the library (the consumer tests use that).
include_guard(GLOBAL)

function(seq2seq_find_icu out_var)
  if(CMAKE_DISABLE_FIND_PACKAGE_ICU)
    set(${out_var} FALSE PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET ICU::uc)
    find_package(ICU QUIET COMPONENTS uc)
  endif()
  if(TARGET ICU::uc)
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
endfunction()

# Debian's libsentencepiece-dev ships headers, two libraries and a .pc file, no CMake package.
function(seq2seq_find_sentencepiece out_var)
  if(CMAKE_DISABLE_FIND_PACKAGE_SentencePiece)
    set(${out_var} FALSE PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET SentencePiece::sentencepiece)
    find_path(SEQ2SEQ_SENTENCEPIECE_INCLUDE_DIR NAMES sentencepiece_processor.h sentencepiece_trainer.h)
    find_library(SEQ2SEQ_SENTENCEPIECE_LIBRARY NAMES sentencepiece)
    find_library(SEQ2SEQ_SENTENCEPIECE_TRAIN_LIBRARY NAMES sentencepiece_train)
    mark_as_advanced(SEQ2SEQ_SENTENCEPIECE_INCLUDE_DIR SEQ2SEQ_SENTENCEPIECE_LIBRARY SEQ2SEQ_SENTENCEPIECE_TRAIN_LIBRARY)
    if(SEQ2SEQ_SENTENCEPIECE_INCLUDE_DIR AND SEQ2SEQ_SENTENCEPIECE_LIBRARY AND SEQ2SEQ_SENTENCEPIECE_TRAIN_LIBRARY)
      find_package(Threads QUIET)
      add_library(SentencePiece::sentencepiece INTERFACE IMPORTED)
      # The trainer library before the processor library it depends on.
      set(_libs "${SEQ2SEQ_SENTENCEPIECE_TRAIN_LIBRARY}" "${SEQ2SEQ_SENTENCEPIECE_LIBRARY}")
      if(TARGET Threads::Threads)
        list(APPEND _libs Threads::Threads)
      endif()
      set_target_properties(SentencePiece::sentencepiece PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${SEQ2SEQ_SENTENCEPIECE_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${_libs}")
    endif()
  endif()
  if(TARGET SentencePiece::sentencepiece)
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
endfunction()

# Debian's libdnnl-dev ships a dnnl-config.cmake built with the OpenCL GPU runtime that calls
# find_package(OpenCL REQUIRED), but the package does not depend on the OpenCL headers; without
# them even find_package(dnnl CONFIG QUIET) is a hard error. So the config is tried only when
# OpenCL is there, and otherwise DNNL::dnnl is made by hand (libdnnl.so itself only needs
# libOpenCL.so.1 at run time, which libdnnl pulls in).
function(seq2seq_find_dnnl out_var)
  if(CMAKE_DISABLE_FIND_PACKAGE_dnnl)
    set(${out_var} FALSE PARENT_SCOPE)
    return()
  endif()
  # FindOpenCL needs a language enabled; a project with LANGUAGES NONE (a package probe) goes
  # straight to the hand-made target.
  get_property(_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT TARGET DNNL::dnnl AND (CXX IN_LIST _languages OR C IN_LIST _languages))
    find_package(OpenCL QUIET)
    if(OpenCL_FOUND)
      find_package(dnnl CONFIG QUIET)
    endif()
  endif()
  if(NOT TARGET DNNL::dnnl)
    find_path(SEQ2SEQ_DNNL_INCLUDE_DIR NAMES dnnl.hpp)
    find_library(SEQ2SEQ_DNNL_LIBRARY NAMES dnnl)
    mark_as_advanced(SEQ2SEQ_DNNL_INCLUDE_DIR SEQ2SEQ_DNNL_LIBRARY)
    if(SEQ2SEQ_DNNL_INCLUDE_DIR AND SEQ2SEQ_DNNL_LIBRARY)
      add_library(DNNL::dnnl UNKNOWN IMPORTED)
      set_target_properties(DNNL::dnnl PROPERTIES
        IMPORTED_LOCATION "${SEQ2SEQ_DNNL_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${SEQ2SEQ_DNNL_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${CMAKE_DL_LIBS}")
    endif()
  endif()
  if(TARGET DNNL::dnnl)
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
endfunction()
