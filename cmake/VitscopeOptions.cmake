# vitscope_options: one INTERFACE target with the compile options shared by the
# project's own code. Third-party headers come in as SYSTEM includes (no warnings).
add_library(vitscope_options INTERFACE)
target_compile_features(vitscope_options INTERFACE cxx_std_17)
target_compile_definitions(vitscope_options INTERFACE QT_NO_KEYWORDS)
target_include_directories(vitscope_options INTERFACE
  ${PROJECT_SOURCE_DIR}                  # #include "models/...", "trainer/...", "src/engine/..."
  ${PROJECT_BINARY_DIR}/generated)       # #include "vitscope/version.h"
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(vitscope_options INTERFACE -Wall -Wextra -Wpedantic)
  if(VITSCOPE_WARNINGS_AS_ERRORS)
    target_compile_options(vitscope_options INTERFACE -Werror)
  endif()
endif()
