#pragma once
// Looking inside the image encoders (the app's "Inside the models" view and the CLI's
// `attention` / `embed-map`):
//   - attention weights of every block, for the MAE encoder (visible patches only) and
//     CLIP's image tower (every patch);
//   - attention rollout (Abnar and Zuidema 2020): per block the head-averaged attention A
//     with the residual connection added, A' = (A + I) / 2, rows renormalized to sum to 1;
//     the rollout after the last block is A'_L ... A'_2 A'_1;
//   - CLIP's patch-text similarity: each final patch token through post_layernorm and the
//     visual projection (the path the class token takes), cosine with a text embedding;
//   - principal component analysis through LibTorch's SVD.
// The normal forward passes are untouched: attention weights exist only on these paths.

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "models/clip.h"
#include "models/mae.h"
#include "models/masking.h"

namespace vitscope {

struct EncoderAttention {
    torch::Tensor attention; // (layers, heads, T, T) float32 CPU; token 0 is the class token
    torch::Tensor patches;   // (T - 1) int64: the row-major patch index of tokens 1..T-1, increasing
    int64_t grid = 0;        // patches per side
    torch::Tensor hidden;    // (T, D): the encoder's last hidden states (MAE: after its final norm)
};

// One image (1, C, S, S), normalized. MAE: masking (batch 1) decides which patches have
// tokens; they are given in raster order whatever order masking.idsKeep has (attention is
// the same up to that permutation). In the mask-tokens-in-encoder variant every patch has
// a token. Runs under NoGradGuard.
EncoderAttention maeEncoderAttention(Mae &model, const torch::Tensor &image, const Masking &masking);
EncoderAttention clipImageAttention(Clip &model, const torch::Tensor &pixels);

// attention: (layers, heads, T, T) -> the rollout (T, T) after the last layer, or after
// layer `upTo` (0-based, inclusive) when upTo >= 0.
torch::Tensor attentionRollout(const torch::Tensor &attention, int64_t upTo = -1);
// The rollout after every layer, in one pass: (layers, T, T), entry l = attentionRollout(.., l).
torch::Tensor attentionRollouts(const torch::Tensor &attention);

// One row over the tokens (T) -> the patch grid (grid * grid), row-major: the value of each
// patch that has a token, NaN for patches without one. The class token's entry is dropped.
torch::Tensor tokensToGrid(const EncoderAttention &a, const torch::Tensor &row);

// Cosine similarity of each patch token of one image (1, C, S, S) with each text
// embedding (K, P), both projected into the joint space: (K, L), row-major patches.
torch::Tensor clipPatchTextSimilarity(Clip &model, const torch::Tensor &pixels, const torch::Tensor &textEmbeddings);

struct Pca {
    torch::Tensor mean;       // (D)
    torch::Tensor components; // (k, D): unit rows, the largest-variance directions first;
                              // each row's sign makes its largest-magnitude entry positive
    torch::Tensor variance;   // (k): the variance along each component (divided by N - 1)
    double totalVariance = 0; // the sum over all D directions
    torch::Tensor coords;     // (N, k): the fitted rows' coordinates
    // (M, D) -> (M, k)
    torch::Tensor project(const torch::Tensor &x) const;
};

// x: (N, D) float, N >= 2. k <= min(N, D).
Pca fitPca(const torch::Tensor &x, int64_t k = 2);

} // namespace vitscope
