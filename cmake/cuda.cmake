# CUDA backend: built whenever nvcc and cuDNN are present (COLLAPSE_CUDA=AUTO), so that every CI run
# compiles it even on machines without a GPU; its tests skip at run time when no device answers.
if(COLLAPSE_CUDA STREQUAL "OFF")
  message(STATUS "collapse: CUDA backend disabled (COLLAPSE_CUDA=OFF)")
  return()
endif()
if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
include(CheckLanguage)
check_language(CUDA)
find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS /usr/local/cuda/include /usr/include)
find_library(CUDNN_LIBRARY cudnn HINTS /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu)
if(NOT CMAKE_CUDA_COMPILER OR NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
  if(COLLAPSE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "collapse: COLLAPSE_CUDA=ON but nvcc or cuDNN was not found")
  endif()
  message(STATUS "collapse: CUDA backend not built (nvcc or cuDNN not found)")
  return()
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
endif()
enable_language(CUDA)
# CMake 3.25 does not know nvcc's C++20 flag (newer versions do); teach it, since core/ headers need C++20.
if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
find_package(CUDAToolkit REQUIRED)
file(GLOB cuda_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/backends/cuda/*.cu ${CMAKE_SOURCE_DIR}/backends/cuda/*.cpp)
if(cuda_sources)
  # The collapse target exists already, so CMAKE_CUDA_* variables no longer initialise it: set its CUDA
  # properties directly.
  set_target_properties(collapse PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}" CUDA_STANDARD 20
                                            CUDA_STANDARD_REQUIRED ON)
  # One CUDA runtime per process: the shared libcudart that CUDA::cudart links below, not CMake's default
  # static copy as well.
  set_target_properties(collapse PROPERTIES CUDA_RUNTIME_LIBRARY Shared)
  # The top-level add_compile_options(-Wall ...) reach every language of the target, but nvcc rejects
  # host-compiler flags it does not know ("nvcc fatal: Unknown option '-Wall'"): give the plain options to
  # C++ only, and to nvcc's host compiler through -Xcompiler.
  get_target_property(collapse_options collapse COMPILE_OPTIONS)
  if(collapse_options)
    set(split_options)
    foreach(option IN LISTS collapse_options)
      if(option MATCHES "^\\$<")
        list(APPEND split_options "${option}")
      else()
        list(APPEND split_options "$<$<COMPILE_LANGUAGE:CXX>:${option}>" "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=${option}>")
      endif()
    endforeach()
    set_target_properties(collapse PROPERTIES COMPILE_OPTIONS "${split_options}")
  endif()
  target_sources(collapse PRIVATE ${cuda_sources})
  target_include_directories(collapse PRIVATE ${CUDNN_INCLUDE_DIR})
  target_link_libraries(collapse PUBLIC CUDA::cudart CUDA::cublas ${CUDNN_LIBRARY})
  target_compile_definitions(collapse PUBLIC COLLAPSE_WITH_CUDA=1)
  set(COLLAPSE_CUDA_BUILT ON)  # include() shares the caller's scope
endif()
message(STATUS "collapse: CUDA backend enabled (${CMAKE_CUDA_COMPILER}, archs ${CMAKE_CUDA_ARCHITECTURES})")
