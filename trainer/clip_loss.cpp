#include "trainer/clip_loss.h"

namespace vitscope::train {

torch::Tensor clipLossLocal(const torch::Tensor &imageLocal, const torch::Tensor &textLocal,
                            const torch::Tensor &imageAll, const torch::Tensor &textAll,
                            const torch::Tensor &logitScale, int rank)
{
    namespace F = torch::nn::functional;
    const auto unit = F::NormalizeFuncOptions().dim(1);
    const auto scale = logitScale.exp().clamp_max(100.0);
    auto perImage = scale * torch::matmul(F::normalize(imageLocal, unit), F::normalize(textAll, unit).t());
    auto perText = scale * torch::matmul(F::normalize(textLocal, unit), F::normalize(imageAll, unit).t());
    const int64_t b = imageLocal.size(0);
    auto labels = torch::arange(int64_t(rank) * b, int64_t(rank + 1) * b,
                                torch::TensorOptions().dtype(torch::kLong).device(imageLocal.device()));
    return (F::cross_entropy(perImage, labels) + F::cross_entropy(perText, labels)) / 2.0;
}

} // namespace vitscope::train
