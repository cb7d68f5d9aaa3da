#pragma once
// The few places where LibTorch's C++ API differs between the generations vitscope builds
// against: Debian's 1.13 (CPU) and a current 2.x (a CUDA PyTorch install). Every version
// check lives here, so the rest of the core is written once.
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#define VITSCOPE_TORCH_AT_LEAST(major, minor)                                                  \
    (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace vitscope::compat {

// CUDA autocast state. 2.4 replaced the *_gpu_* functions by per-device-type ones.
inline at::ScalarType cudaAutocastDtype()
{
#if VITSCOPE_TORCH_AT_LEAST(2, 4)
    return at::autocast::get_autocast_dtype(at::kCUDA);
#else
    return at::autocast::get_autocast_gpu_dtype();
#endif
}

inline void setCudaAutocastDtype(at::ScalarType dtype)
{
#if VITSCOPE_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
    at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

inline bool cudaAutocastEnabled()
{
#if VITSCOPE_TORCH_AT_LEAST(2, 4)
    return at::autocast::is_autocast_enabled(at::kCUDA);
#else
    return at::autocast::is_enabled();
#endif
}

inline void setCudaAutocastEnabled(bool on)
{
#if VITSCOPE_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(at::kCUDA, on);
#else
    at::autocast::set_enabled(on);
#endif
}

} // namespace vitscope::compat
