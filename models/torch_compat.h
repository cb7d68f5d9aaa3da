#pragma once
// The few places where LibTorch's C++ API differs between the generations vitscope builds
// against: Debian's 1.13 (CPU) and a current 2.x (a CUDA PyTorch install). Every version
// check lives here, so the rest of the core is written once.
#include <ATen/ATen.h>
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

// LibTorch's fused scaled-dot-product attention (flash / memory-efficient kernels on CUDA,
// a fused CPU kernel), added in 2.0. q, k, v: (B, H, N, hd); mask: empty or additive,
// broadcastable to (B, H, N, N); causal: position i attends to positions <= i.
constexpr bool hasFusedAttention()
{
    return VITSCOPE_TORCH_AT_LEAST(2, 0);
}

inline at::Tensor fusedAttention(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v,
                                 const at::Tensor &mask, bool causal)
{
#if VITSCOPE_TORCH_AT_LEAST(2, 0)
    if (mask.defined())
        return at::scaled_dot_product_attention(q, k, v, mask, 0.0, causal);
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
#else
    (void)q, (void)k, (void)v, (void)mask, (void)causal;
    TORCH_CHECK(false, "fused attention needs LibTorch 2.0 or later; this is ", TORCH_VERSION);
    return {};
#endif
}

// LibTorch's fused AdamW step for parameters on `type`: _fused_adamw_ (2.0; CUDA, and the
// CPU from 2.4); on 1.13, _fused_adam_ (CUDA) after the decoupled decay p *= 1 - lr wd.
inline bool hasFusedAdamW(c10::DeviceType type)
{
#if VITSCOPE_TORCH_AT_LEAST(2, 4)
    return type == c10::DeviceType::CUDA || type == c10::DeviceType::CPU;
#elif VITSCOPE_TORCH_AT_LEAST(1, 13)
    return type == c10::DeviceType::CUDA;
#else
    (void)type;
    return false;
#endif
}

// One AdamW update of every tensor in `params` (torch.optim.AdamW's arithmetic, bias
// corrections from `steps`: float32 scalars on the parameters' device, already counting
// this step). Only where hasFusedAdamW(device).
inline void fusedAdamW(at::TensorList params, at::TensorList grads, at::TensorList expAvgs, at::TensorList expAvgSqs,
                       at::TensorList steps, double lr, double beta1, double beta2, double weightDecay, double eps)
{
#if VITSCOPE_TORCH_AT_LEAST(2, 0)
    at::_fused_adamw_(params, grads, expAvgs, expAvgSqs, {}, steps, lr, beta1, beta2, weightDecay, eps, false, false);
#elif VITSCOPE_TORCH_AT_LEAST(1, 13)
    if (weightDecay != 0)
        at::_foreach_mul_(params, 1.0 - lr * weightDecay);
    at::_fused_adam_(params, grads, expAvgs, expAvgSqs, {}, steps, lr, beta1, beta2, 0.0, eps, false, false);
#else
    (void)params, (void)grads, (void)expAvgs, (void)expAvgSqs, (void)steps, (void)lr, (void)beta1, (void)beta2,
        (void)weightDecay, (void)eps;
    TORCH_CHECK(false, "no fused AdamW kernel in LibTorch ", TORCH_VERSION);
#endif
}

} // namespace vitscope::compat
