# Finders for the benchmarks' peers that stay quiet and never fail configuration.
#
#   seq2seq_find_dnnl(<out_var>)   TRUE and target DNNL::dnnl when oneDNN is usable (seq2seqOptionalParts)
#   seq2seq_find_torch(<out_var>)  TRUE and target seq2seq_peer_torch when libtorch is usable
include_guard(GLOBAL)
include(seq2seqOptionalParts)

# libtorch: TorchConfig.cmake first (Debian: /usr/lib/<triplet>/cmake/Torch), else by hand from
# the Debian layout (headers in /usr/include and /usr/include/torch/csrc/api/include; libraries
# torch, torch_cpu, c10). Either way the result is an IMPORTED INTERFACE target, so torch's
# headers are SYSTEM includes and our -Werror does not see their warnings.
function(seq2seq_find_torch out_var)
  if(NOT TARGET seq2seq_peer_torch)
    find_package(Torch QUIET)
    if(Torch_FOUND AND TORCH_LIBRARIES)
      add_library(seq2seq_peer_torch INTERFACE IMPORTED)
      set_target_properties(seq2seq_peer_torch PROPERTIES INTERFACE_LINK_LIBRARIES "${TORCH_LIBRARIES}")
    else()
      find_path(SEQ2SEQ_TORCH_API_INCLUDE_DIR NAMES torch/torch.h
        PATHS /usr/include/torch/csrc/api/include PATH_SUFFIXES torch/csrc/api/include)
      find_path(SEQ2SEQ_TORCH_INCLUDE_DIR NAMES torch/csrc/api/include/torch/torch.h)
      find_library(SEQ2SEQ_TORCH_LIBRARY NAMES torch)
      find_library(SEQ2SEQ_TORCH_CPU_LIBRARY NAMES torch_cpu)
      find_library(SEQ2SEQ_C10_LIBRARY NAMES c10)
      mark_as_advanced(SEQ2SEQ_TORCH_API_INCLUDE_DIR SEQ2SEQ_TORCH_INCLUDE_DIR
        SEQ2SEQ_TORCH_LIBRARY SEQ2SEQ_TORCH_CPU_LIBRARY SEQ2SEQ_C10_LIBRARY)
      if(SEQ2SEQ_TORCH_API_INCLUDE_DIR AND SEQ2SEQ_TORCH_INCLUDE_DIR AND SEQ2SEQ_TORCH_LIBRARY
         AND SEQ2SEQ_TORCH_CPU_LIBRARY AND SEQ2SEQ_C10_LIBRARY)
        find_package(Threads REQUIRED)
        add_library(seq2seq_peer_torch INTERFACE IMPORTED)
        set_target_properties(seq2seq_peer_torch PROPERTIES
          INTERFACE_INCLUDE_DIRECTORIES "${SEQ2SEQ_TORCH_INCLUDE_DIR};${SEQ2SEQ_TORCH_API_INCLUDE_DIR}"
          INTERFACE_LINK_LIBRARIES
            "${SEQ2SEQ_TORCH_LIBRARY};${SEQ2SEQ_TORCH_CPU_LIBRARY};${SEQ2SEQ_C10_LIBRARY};Threads::Threads")
      endif()
    endif()
  endif()
  if(TARGET seq2seq_peer_torch)
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
endfunction()
