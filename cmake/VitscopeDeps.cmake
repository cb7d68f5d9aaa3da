# The non-LibTorch dependencies of the core: from Debian's packages (the default), or, with
# -DVITSCOPE_DEPS_DIR=DIR, from a folder made by shared/gpu/collect-deps.sh (headers of
# spdlog, fmt and nlohmann-json, GoogleTest's sources), for a machine that has a LibTorch
# (e.g. a CUDA PyTorch install) but no package access. Either way the build sees the same
# targets: spdlog::spdlog, nlohmann_json::nlohmann_json, ZLIB::ZLIB, GTest::gtest(_main).
set(VITSCOPE_DEPS_DIR "" CACHE PATH
    "Folder with header-only dependencies (shared/gpu/collect-deps.sh); empty: Debian's packages")
option(VITSCOPE_WITH_OPENCV
       "Decode image files with OpenCV (off: only Fashion-MNIST / IDX data, for headless GPU builds)" ON)

if(VITSCOPE_DEPS_DIR)
  if(NOT EXISTS "${VITSCOPE_DEPS_DIR}/include/spdlog/spdlog.h")
    message(FATAL_ERROR "VITSCOPE_DEPS_DIR=${VITSCOPE_DEPS_DIR} has no include/spdlog: run collect-deps.sh DIR")
  endif()
  add_library(vitscope_header_deps INTERFACE)
  # -I, not -isystem: searched before LibTorch's include folders, whose own (newer) fmt
  # does not fit the spdlog in the folder. Given as a compile option, because newer CMake
  # releases (seen with PyTorch 2.11's machine) emit an include directory of this target
  # as -isystem, after LibTorch's.
  target_compile_options(vitscope_header_deps INTERFACE "-I${VITSCOPE_DEPS_DIR}/include")
  # Debian's spdlog is configured for an external fmt; header-only fmt needs no library.
  target_compile_definitions(vitscope_header_deps INTERFACE FMT_HEADER_ONLY)
  add_library(spdlog::spdlog ALIAS vitscope_header_deps)
  add_library(nlohmann_json::nlohmann_json ALIAS vitscope_header_deps)
  # zlib: the system's library; headers from DEPS/zlib when the system has none (a folder
  # of their own: ZLIB::ZLIB's folder becomes -isystem, which would demote DEPS/include).
  if(NOT ZLIB_INCLUDE_DIR AND NOT EXISTS /usr/include/zlib.h AND EXISTS "${VITSCOPE_DEPS_DIR}/zlib/zlib.h")
    set(ZLIB_INCLUDE_DIR "${VITSCOPE_DEPS_DIR}/zlib")
  endif()
  if(NOT ZLIB_LIBRARY)
    file(GLOB _vitscope_libz /usr/lib/x86_64-linux-gnu/libz.so /usr/lib/x86_64-linux-gnu/libz.so.1
                             /usr/lib64/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1)
    if(_vitscope_libz)
      list(GET _vitscope_libz 0 ZLIB_LIBRARY)
    endif()
  endif()
  find_package(ZLIB REQUIRED)
else()
  find_package(spdlog REQUIRED)
  find_package(nlohmann_json 3.10 REQUIRED)
  find_package(ZLIB REQUIRED)
endif()

if(VITSCOPE_WITH_OPENCV)
  find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
endif()

# GoogleTest: Debian's package, or its sources from the folder.
macro(vitscope_find_gtest)
  if(VITSCOPE_DEPS_DIR AND EXISTS "${VITSCOPE_DEPS_DIR}/googletest/CMakeLists.txt")
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    add_subdirectory("${VITSCOPE_DEPS_DIR}/googletest" "${CMAKE_BINARY_DIR}/googletest" EXCLUDE_FROM_ALL)
    if(NOT TARGET GTest::gtest)
      add_library(GTest::gtest ALIAS gtest)
      add_library(GTest::gtest_main ALIAS gtest_main)
    endif()
  else()
    find_package(GTest REQUIRED)
  endif()
endmacro()
