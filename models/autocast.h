#pragma once
// bf16 autocast of the forward pass on CUDA, for a guard's lifetime (the backward pass
// runs in the dtypes autocast chose, as in PyTorch's AMP). Used by the training loop and
// the benchmarks; a guard made with on = false does nothing.
#include "models/torch_compat.h"

namespace vitscope {

class CudaAutocast {
public:
    explicit CudaAutocast(bool on) : m_on(on)
    {
        if (!m_on)
            return;
        m_previousDtype = compat::cudaAutocastDtype();
        m_previousEnabled = compat::cudaAutocastEnabled();
        compat::setCudaAutocastDtype(at::kBFloat16);
        compat::setCudaAutocastEnabled(true);
    }
    ~CudaAutocast()
    {
        if (!m_on)
            return;
        compat::setCudaAutocastEnabled(m_previousEnabled);
        compat::setCudaAutocastDtype(m_previousDtype);
        at::autocast::clear_cache();
    }
    CudaAutocast(const CudaAutocast &) = delete;
    CudaAutocast &operator=(const CudaAutocast &) = delete;

private:
    bool m_on;
    at::ScalarType m_previousDtype = at::kBFloat16;
    bool m_previousEnabled = false;
};

} // namespace vitscope
