# Finds LibTorch (Debian's libtorch-dev, or any other one given with
# -DCMAKE_PREFIX_PATH, e.g. a CUDA PyTorch's torch.utils.cmake_prefix_path) and wraps it
# in one INTERFACE target, Torch::Torch, so the rest of the build never touches
# TORCH_LIBRARIES / TORCH_CXX_FLAGS directly.
find_package(Torch REQUIRED)

add_library(vitscope_torch INTERFACE)
add_library(Torch::Torch ALIAS vitscope_torch)
target_link_libraries(vitscope_torch INTERFACE ${TORCH_LIBRARIES})
if(TORCH_CXX_FLAGS)
  separate_arguments(_vitscope_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(vitscope_torch INTERFACE ${_vitscope_torch_flags})
endif()

if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
  set(VITSCOPE_TORCH_HAS_CUDA ON)
else()
  set(VITSCOPE_TORCH_HAS_CUDA OFF)
endif()
if(NOT Torch_VERSION AND TORCH_VERSION)
  set(Torch_VERSION ${TORCH_VERSION})
endif()
