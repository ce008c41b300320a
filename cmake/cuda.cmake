# CUDA toolkit detection for the CUDA backend (kernels/cuda, worker/
# cuda_backend.cc). LLM_CUDA=AUTO builds it when nvcc is found (in PATH,
# CUDACXX or /usr/local/cuda/bin), ON requires it, OFF skips it. Sets
# LLM_HAVE_CUDA for the CMakeLists that follow; the compile definition
# LLM_HAVE_CUDA=1 reaches every target through llm_cuda_kernels (PUBLIC).
set(LLM_HAVE_CUDA OFF)
if(NOT LLM_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX}
     AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  # sm_80 (A100) and sm_90 (H100/H200); scripts/gpu-check.sh passes "native".
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "80;90")
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit)
    if(CUDAToolkit_FOUND)
      set(LLM_HAVE_CUDA ON)
    endif()
  endif()
  if(LLM_CUDA STREQUAL "ON" AND NOT LLM_HAVE_CUDA)
    message(FATAL_ERROR "LLM_CUDA=ON but no CUDA compiler/toolkit was found")
  endif()
endif()
# NCCL (tensor parallelism): only the header is needed to build; the
# library is dlopen()ed at run time (kernels/cuda/nccl_loader.h says why),
# preferring the path found here. Without nccl.h the build still works and
# --tp-size > 1 is refused at start-up. NCCL_HOME may point elsewhere.
set(LLM_HAVE_NCCL OFF)
if(LLM_HAVE_CUDA)
  find_path(LLM_NCCL_INCLUDE_DIR nccl.h
    HINTS $ENV{NCCL_HOME}/include ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  find_library(LLM_NCCL_LIBRARY NAMES nccl libnccl.so.2
    HINTS $ENV{NCCL_HOME}/lib ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  if(LLM_NCCL_INCLUDE_DIR)
    set(LLM_HAVE_NCCL ON)
    message(STATUS "NCCL: header ${LLM_NCCL_INCLUDE_DIR}, library "
                   "${LLM_NCCL_LIBRARY} (loaded at run time)")
  else()
    message(STATUS "NCCL: not found (tensor parallelism disabled)")
  endif()
endif()
if(LLM_HAVE_CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  message(STATUS "CUDA backend: ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                 "architectures ${CMAKE_CUDA_ARCHITECTURES})")
else()
  message(STATUS "CUDA backend: OFF (LLM_CUDA=${LLM_CUDA})")
endif()
