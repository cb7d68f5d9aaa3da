#pragma once
// Vision Transformer building blocks shared by MAE and CLIP: activations, pre-LN
// transformer block, patch embedding, fixed 2D sin-cos position embeddings, and
// patchify / unpatchify. Registered child names are generic (norm1, q, k, v, proj,
// norm2, fc1, fc2); each model family maps them to its Hugging Face names in one table
// (see mae.cpp, hf_folder.cpp).

#include <mutex>
#include <string>

#include <torch/torch.h>

#include "models/kernels/bf16_gemm.h"

namespace vitscope {

// "gelu" (exact, erf), "quick_gelu" (x * sigmoid(1.702 x), OpenAI CLIP), "gelu_new" /
// "gelu_pytorch_tanh" (tanh approximation), "relu". Unknown names throw vitscope::Error.
enum class Activation { Gelu, QuickGelu, GeluTanh, Relu };
Activation parseActivation(const std::string &name);
std::string activationName(Activation act);
torch::Tensor applyActivation(const torch::Tensor &x, Activation act);

// Attention kernels. Explicit: softmax(q k^T / sqrt(d) + mask) v written out, the same on
// every LibTorch version and the reference in tests. Fused: LibTorch's
// scaled_dot_product_attention (2.x; flash / memory-efficient kernels on CUDA). Auto, the
// default, is Fused where LibTorch has it and Explicit otherwise. The choice is
// process-wide (benchmarks and tests switch it); it never changes the math, only the kernel.
enum class AttentionKernel { Auto, Explicit, Fused };
void setAttentionKernel(AttentionKernel kernel); // Fused without LibTorch 2.x throws vitscope::Error
AttentionKernel attentionKernel();               // as set (Auto by default)
bool usesFusedAttention();                       // what Auto resolves to on this build
AttentionKernel parseAttentionKernel(const std::string &name); // "auto", "explicit", "fused"
std::string attentionKernelName(AttentionKernel kernel);

// q, k, v: (B, H, N, hd) -> (B, H, N, hd). mask: empty or additive, broadcastable to
// (B, H, N, N), -inf where attention is not allowed; causal: position i attends to <= i.
torch::Tensor attention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                        const torch::Tensor &mask = {}, bool causal = false);
// softmax(q k^T / sqrt(d) + mask), with the causal mask when asked: (B, H, N, M).
torch::Tensor attentionWeights(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &mask = {},
                               bool causal = false);
// The explicit form, whatever the setting (the reference for the fused kernels).
torch::Tensor explicitAttention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                                const torch::Tensor &mask = {}, bool causal = false);

// Which opt-in bfloat16 switch a block answers to.
enum class Bf16Tower { None, Text, Image };

struct BlockConfig {
    int64_t dim = 768;
    int64_t heads = 12;
    int64_t mlpDim = 3072;
    double layerNormEps = 1e-6;
    bool qkvBias = true;
    Activation activation = Activation::Gelu;
    // CLIP's text or image tower: in inference on the CPU its products may run on
    // bfloat16 copies of the weights (the opt-in fast paths bf16-text and bf16-image,
    // models/kernels/fast_paths.h).
    Bf16Tower bf16Tower = Bf16Tower::None;
};

// Pre-LN transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)), the attention
// through attention() above.
struct TransformerBlockImpl : torch::nn::Module {
    explicit TransformerBlockImpl(const BlockConfig &config);

    // x: (B, N, D). attnMask: empty, or additive (N, N) / (B, 1, N, N) with -inf where
    // attention is not allowed. causal: CLIP's text tower (position i sees <= i).
    torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &attnMask = {}, bool causal = false);
    // The same block, through the explicit attention, also writing its attention weights
    // softmax(q k^T / sqrt(d) + mask) to *probs: (B, H, N, N), rows summing to 1. Only the
    // inspection views ask for them; forward() never materializes them on a fused kernel.
    torch::Tensor forwardWithAttention(const torch::Tensor &x, torch::Tensor *probs, const torch::Tensor &attnMask = {},
                                       bool causal = false);

    BlockConfig config;
    torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
    torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, proj{nullptr};
    torch::nn::Linear fc1{nullptr}, fc2{nullptr};

    // How many times the QuickGELU fold's scaled weights were made (tests: once per
    // version of fc1 and fc2).
    int64_t quickGeluFoldsMade() const;
    // How many times the bfloat16 copies of the weights were made (tests: once per version).
    int64_t bf16CopiesMade() const;
    // Whether forward() runs its products on bfloat16 weights for this input (bf16-text).
    bool usesBf16Weights(const torch::Tensor &x) const;

    // What derived weights were made from: each weight's storage (held weakly: its memory is
    // freed with the weight, but no other storage can take its place while this stamp
    // lives), data pointer and version. A weight replaced (set_data, as Module::to does),
    // moved or written no longer matches, and the derived weights are made again.
    struct WeightStamp {
        std::vector<c10::weak_intrusive_ptr<c10::StorageImpl>> storages;
        std::vector<const void *> data;
        std::vector<int64_t> versions;
        static WeightStamp of(const std::vector<torch::Tensor> &tensors);
        bool matches(const std::vector<torch::Tensor> &now) const;
    };

private:
    struct Bf16Weights;
    // low: the bfloat16 weights when bf16-text applies, else null.
    torch::Tensor mlp(const torch::Tensor &y, const Bf16Weights *low);
    // QuickGELU folded into fc1 and fc2 (models/kernels/fast_paths.h): the scaled copies
    // of fc1's weight and bias and fc2's weight.
    struct QuickGeluFold {
        torch::Tensor fc1Weight, fc1Bias, fc2Weight;
        WeightStamp source; // fc1.w, fc1.b, fc2.w
    };
    QuickGeluFold folded();
    // bfloat16 copies of the six product weights, packed for the kernel (bf16-text).
    struct Bf16Weights {
        PackedBf16Weight q, k, v, proj, fc1, fc2;
        WeightStamp source;
    };
    Bf16Weights bf16Weights();
    mutable std::mutex m_foldMutex;
    QuickGeluFold m_fold;
    int64_t m_foldsMade = 0;
    Bf16Weights m_bf16;
    int64_t m_bf16Made = 0;
};
TORCH_MODULE(TransformerBlock);

// Fixed 2D sin-cos position embedding (MAE): (1 + gridH * gridW, dim) when withClassRow
// (a zero first row for the class token), else (gridH * gridW, dim). Per patch at
// (row h, column w): the first dim/2 values encode w, the second dim/2 encode h; each
// half is [sin(pos * omega_k) for k < dim/4, cos(pos * omega_k) for k < dim/4] with
// omega_k = 1 / 10000^(k / (dim/4)). dim must be divisible by 4. float32, CPU.
torch::Tensor sincos2dPositionEmbedding(int64_t dim, int64_t gridH, int64_t gridW, bool withClassRow);

// imgs: (B, C, H, W) -> (B, L, p*p*C) with L = (H/p) * (W/p), patches row-major, inside a
// patch the order is (row, col, channel): channels fastest. H and W must divide by p.
torch::Tensor patchify(const torch::Tensor &imgs, int64_t patchSize);
// x: (B, L, p*p*C) -> (B, C, gridH*p, gridW*p); the exact inverse of patchify.
torch::Tensor unpatchify(const torch::Tensor &x, int64_t patchSize, int64_t channels, int64_t gridH,
                         int64_t gridW);

// Applies the block-name table of a family: "norm1" -> "layernorm_before" etc. Returns
// the name unchanged when no entry matches. `table` pairs (our child prefix, HF prefix).
std::string renameBlockParameter(const std::string &name,
                                 const std::vector<std::pair<std::string, std::string>> &table);

} // namespace vitscope
