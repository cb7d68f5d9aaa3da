#pragma once
// CLIP's symmetric contrastive loss (REFERENCE.md, CLIP: features L2-normalized, logits =
// exp(t) * I.T^T with exp(t) clamped at 100, the mean of the cross-entropies over rows and
// over columns), in the form that data-parallel training needs.

#include <torch/torch.h>

namespace vitscope::train {

// CLIP's contrastive loss over the global batch, in open_clip's local-loss form: this rank's
// rows against every rank's columns, labels offset by rank * B. With features gathered by
// allGatherWithGrad and the gradients averaged over ranks, W ranks of B train exactly as one
// process of W * B.
torch::Tensor clipLossLocal(const torch::Tensor &imageLocal, const torch::Tensor &textLocal,
                            const torch::Tensor &imageAll, const torch::Tensor &textAll,
                            const torch::Tensor &logitScale, int rank);

} // namespace vitscope::train
