#include "models/vit.h"

#include <atomic>
#include <cmath>
#include <limits>

#include "models/error.h"
#include "models/kernels/fast_paths.h"
#include "models/kernels/bf16_gemm.h"
#include "models/kernels/linear.h"
#include "models/torch_compat.h"

namespace vitscope {

namespace {
std::atomic<AttentionKernel> g_attentionKernel{AttentionKernel::Auto};
}

void setAttentionKernel(AttentionKernel kernel)
{
    if (kernel == AttentionKernel::Fused && !compat::hasFusedAttention())
        throw Error(std::string("fused attention needs LibTorch 2.0 or later; this build uses ") + TORCH_VERSION);
    g_attentionKernel = kernel;
}

AttentionKernel attentionKernel()
{
    return g_attentionKernel;
}

bool usesFusedAttention()
{
    const auto k = g_attentionKernel.load();
    return k == AttentionKernel::Fused || (k == AttentionKernel::Auto && compat::hasFusedAttention());
}

AttentionKernel parseAttentionKernel(const std::string &name)
{
    if (name == "auto")
        return AttentionKernel::Auto;
    if (name == "explicit")
        return AttentionKernel::Explicit;
    if (name == "fused")
        return AttentionKernel::Fused;
    throw Error("unknown attention kernel '" + name + "': expected auto, explicit or fused");
}

std::string attentionKernelName(AttentionKernel kernel)
{
    switch (kernel) {
    case AttentionKernel::Auto: return "auto";
    case AttentionKernel::Explicit: return "explicit";
    case AttentionKernel::Fused: return "fused";
    }
    return "auto";
}

torch::Tensor attentionWeights(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &mask, bool causal)
{
    const int64_t n = q.size(-2), m = k.size(-2);
    auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(q.size(-1)))); // (B, H, N, M)
    if (mask.defined())
        scores = scores + mask;
    if (causal)
        scores = scores + torch::full({n, m}, -std::numeric_limits<float>::infinity(), scores.options()).triu(1);
    return torch::softmax(scores, -1);
}

torch::Tensor explicitAttention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                                const torch::Tensor &mask, bool causal)
{
    return torch::matmul(attentionWeights(q, k, mask, causal), v);
}

torch::Tensor attention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                        const torch::Tensor &mask, bool causal)
{
    if (usesFusedAttention())
        return compat::fusedAttention(q, k, v, mask, causal);
    return explicitAttention(q, k, v, mask, causal);
}

Activation parseActivation(const std::string &name)
{
    if (name == "gelu")
        return Activation::Gelu;
    if (name == "quick_gelu")
        return Activation::QuickGelu;
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
        return Activation::GeluTanh;
    if (name == "relu")
        return Activation::Relu;
    throw Error("unsupported hidden_act '" + name + "': expected gelu, quick_gelu, gelu_new or relu");
}

std::string activationName(Activation act)
{
    switch (act) {
    case Activation::Gelu: return "gelu";
    case Activation::QuickGelu: return "quick_gelu";
    case Activation::GeluTanh: return "gelu_new";
    case Activation::Relu: return "relu";
    }
    return "gelu";
}

torch::Tensor applyActivation(const torch::Tensor &x, Activation act)
{
    switch (act) {
    case Activation::Gelu: return torch::gelu(x);
    case Activation::QuickGelu: return x * torch::sigmoid(1.702 * x);
    case Activation::GeluTanh: return torch::gelu(x, "tanh");
    case Activation::Relu: return torch::relu(x);
    }
    return x;
}

TransformerBlockImpl::TransformerBlockImpl(const BlockConfig &cfg) : config(cfg)
{
    if (cfg.dim % cfg.heads != 0)
        throw Error("hidden size " + std::to_string(cfg.dim) + " is not divisible by " + std::to_string(cfg.heads) +
                    " attention heads");
    auto ln = torch::nn::LayerNormOptions({cfg.dim}).eps(cfg.layerNormEps);
    norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
    q = register_module("q", torch::nn::Linear(torch::nn::LinearOptions(cfg.dim, cfg.dim).bias(cfg.qkvBias)));
    k = register_module("k", torch::nn::Linear(torch::nn::LinearOptions(cfg.dim, cfg.dim).bias(cfg.qkvBias)));
    v = register_module("v", torch::nn::Linear(torch::nn::LinearOptions(cfg.dim, cfg.dim).bias(cfg.qkvBias)));
    proj = register_module("proj", torch::nn::Linear(cfg.dim, cfg.dim));
    norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
    fc1 = register_module("fc1", torch::nn::Linear(cfg.dim, cfg.mlpDim));
    fc2 = register_module("fc2", torch::nn::Linear(cfg.mlpDim, cfg.dim));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor &x, const torch::Tensor &attnMask, bool causal)
{
    return forwardWithAttention(x, nullptr, attnMask, causal);
}

namespace {

// Weights made under an InferenceMode have no version counter: their storage alone.
int64_t versionOf(const torch::Tensor &t) { return t.is_inference() ? int64_t(-1) : int64_t(t._version()); }

} // namespace

TransformerBlockImpl::WeightStamp TransformerBlockImpl::WeightStamp::of(const std::vector<torch::Tensor> &tensors)
{
    WeightStamp s;
    for (const auto &t : tensors) {
        s.storages.push_back(t.storage().getWeakStorageImpl());
        s.data.push_back(t.data_ptr());
        s.versions.push_back(versionOf(t));
    }
    return s;
}

bool TransformerBlockImpl::WeightStamp::matches(const std::vector<torch::Tensor> &now) const
{
    if (now.size() != storages.size())
        return false;
    for (size_t i = 0; i < now.size(); ++i) {
        const auto held = storages[i].lock();
        if (!held || held.get() != now[i].storage().unsafeGetStorageImpl() || now[i].data_ptr() != data[i] ||
            versionOf(now[i]) != versions[i])
            return false;
    }
    return true;
}

bool TransformerBlockImpl::usesBf16Weights(const torch::Tensor &x) const
{
    if (config.bf16Tower == Bf16Tower::None || torch::GradMode::is_enabled() || !x.is_cpu() ||
        x.scalar_type() != torch::kFloat32 || q->weight.scalar_type() != torch::kFloat32)
        return false;
    const auto paths = fastPaths();
    return (config.bf16Tower == Bf16Tower::Text ? paths.bf16Text : paths.bf16Image) && bf16KernelAvailable();
}

torch::Tensor TransformerBlockImpl::forwardWithAttention(const torch::Tensor &x, torch::Tensor *probs,
                                                         const torch::Tensor &attnMask, bool causal)
{
    const int64_t B = x.size(0), N = x.size(1), D = x.size(2);
    const int64_t H = config.heads, hd = D / H;
    const bool bf16 = usesBf16Weights(x);
    Bf16Weights low;
    if (bf16)
        low = bf16Weights();
    auto h = norm1(x);
    torch::Tensor qh, kh, vh; // (B, H, N, hd)
    auto split = [&](const torch::Tensor &t) { return t.view({B, N, H, hd}).transpose(1, 2); };
    // q, k and v as one product (3D outputs) when training or on many rows: one pass over
    // the activations instead of three. The weights are joined per call (autograd sends
    // each its part of the gradient); in inference on a few hundred rows (one image in
    // the explorer, a batch of 8) copying 3 D^2 weights costs more than it saves.
    const bool join = !bf16 && B * N > kSmallRows && (torch::GradMode::is_enabled() || B * N >= 2048);
    if (bf16) {
        qh = split(bf16Linear(h, low.q, q->bias));
        kh = split(bf16Linear(h, low.k, k->bias));
        vh = split(bf16Linear(h, low.v, v->bias));
    } else if (join) {
        const auto w = torch::cat({q->weight, k->weight, v->weight}, 0);
        const auto b = config.qkvBias ? torch::cat({q->bias, k->bias, v->bias}, 0) : torch::Tensor();
        const auto qkv = linear(h, w, b).view({B, N, 3, H, hd}).permute({2, 0, 3, 1, 4}); // (3, B, H, N, hd)
        if (fastPaths().qkvUnbind) {
            // unbind's backward stacks the three gradients into one (3, B, H, N, hd) buffer.
            auto parts = qkv.unbind(0);
            qh = parts[0], kh = parts[1], vh = parts[2];
        } else {
            // Each select's backward is a zero-filled (3, B, H, N, hd) gradient, summed.
            qh = qkv.select(0, 0), kh = qkv.select(0, 1), vh = qkv.select(0, 2);
        }
    } else {
        qh = split(linear(h, q->weight, q->bias));
        kh = split(linear(h, k->weight, k->bias));
        vh = split(linear(h, v->weight, v->bias));
    }
    torch::Tensor heads; // (B, H, N, hd)
    if (probs) {
        *probs = attentionWeights(qh, kh, attnMask, causal);
        heads = torch::matmul(*probs, vh);
    } else {
        heads = attention(qh, kh, vh, attnMask, causal);
    }
    auto out = heads.transpose(1, 2).reshape({B, N, D}); // (B, N, D)
    auto y = x + (bf16 ? bf16Linear(out, low.proj, proj->bias)
                       : linear(out, proj->weight, proj->bias));
    return y + mlp(norm2(y), bf16 ? &low : nullptr);
}

torch::Tensor TransformerBlockImpl::mlp(const torch::Tensor &h, const Bf16Weights *low)
{
    if (low) {
        auto m = applyActivation(bf16Linear(h, low->fc1, fc1->bias), config.activation);
        return bf16Linear(m, low->fc2, fc2->bias);
    }
    if (config.activation == Activation::QuickGelu && !torch::GradMode::is_enabled()) {
        const auto paths = fastPaths();
        if (paths.quickGeluFold && (h.is_cuda() || paths.quickGeluFoldCpu)) {
            // x * sigmoid(1.702 x) with x = fc1(h): z = 1.702 x = h (1.702 W1)^T + 1.702 b1,
            // and fc2(x * sigmoid(z)) = fc2(SiLU(z) / 1.702) = SiLU(z) (W2 / 1.702)^T + b2.
            const auto f = folded();
            return linear(torch::silu(linear(h, f.fc1Weight, f.fc1Bias)), f.fc2Weight, fc2->bias);
        }
    }
    auto m = applyActivation(linear(h, fc1->weight, fc1->bias), config.activation);
    return linear(m, fc2->weight, fc2->bias);
}

TransformerBlockImpl::QuickGeluFold TransformerBlockImpl::folded()
{
    constexpr double kScale = 1.702;
    const std::vector<torch::Tensor> now{fc1->weight, fc1->bias, fc2->weight};
    std::lock_guard<std::mutex> lock(m_foldMutex);
    if (!m_fold.source.matches(now)) {
        torch::NoGradGuard noGrad;
        // Made outside any inference scope's restrictions: plain tensors, reusable anywhere.
        c10::InferenceMode normal(false);
        m_fold.fc1Weight = fc1->weight * kScale;
        m_fold.fc1Bias = fc1->bias * kScale;
        m_fold.fc2Weight = fc2->weight * (1.0 / kScale);
        m_fold.source = WeightStamp::of(now);
        ++m_foldsMade;
    }
    return m_fold;
}

TransformerBlockImpl::Bf16Weights TransformerBlockImpl::bf16Weights()
{
    const std::vector<torch::Tensor> now{q->weight, k->weight, v->weight, proj->weight, fc1->weight, fc2->weight};
    std::lock_guard<std::mutex> lock(m_foldMutex);
    if (!m_bf16.source.matches(now)) {
        torch::NoGradGuard noGrad;
        c10::InferenceMode normal(false);
        m_bf16.q = packBf16Weight(q->weight), m_bf16.k = packBf16Weight(k->weight);
        m_bf16.v = packBf16Weight(v->weight), m_bf16.proj = packBf16Weight(proj->weight);
        m_bf16.fc1 = packBf16Weight(fc1->weight), m_bf16.fc2 = packBf16Weight(fc2->weight);
        m_bf16.source = WeightStamp::of(now);
        ++m_bf16Made;
    }
    return m_bf16;
}

int64_t TransformerBlockImpl::bf16CopiesMade() const
{
    std::lock_guard<std::mutex> lock(m_foldMutex);
    return m_bf16Made;
}

int64_t TransformerBlockImpl::quickGeluFoldsMade() const
{
    std::lock_guard<std::mutex> lock(m_foldMutex);
    return m_foldsMade;
}

torch::Tensor sincos2dPositionEmbedding(int64_t dim, int64_t gridH, int64_t gridW, bool withClassRow)
{
    if (dim % 4 != 0)
        throw Error("sin-cos position embedding needs a width divisible by 4, got " + std::to_string(dim));
    const int64_t quarter = dim / 4;
    // omega_k = 1 / 10000^(k / quarter), in double for accuracy then float32.
    auto omega = 1.0 / torch::pow(10000.0, torch::arange(quarter, torch::kFloat64) / double(quarter)); // (D/4)
    auto rows = torch::arange(gridH, torch::kFloat64).repeat_interleave(gridW); // h of patch i
    auto cols = torch::arange(gridW, torch::kFloat64).repeat({gridH});          // w of patch i
    auto encode = [&](const torch::Tensor &pos) {
        auto angles = pos.unsqueeze(1) * omega.unsqueeze(0); // (L, D/4)
        return torch::cat({torch::sin(angles), torch::cos(angles)}, 1); // (L, D/2)
    };
    auto emb = torch::cat({encode(cols), encode(rows)}, 1).to(torch::kFloat32); // (L, D)
    if (withClassRow)
        emb = torch::cat({torch::zeros({1, dim}), emb}, 0); // (1 + L, D)
    return emb;
}

torch::Tensor patchify(const torch::Tensor &imgs, int64_t p)
{
    TORCH_CHECK(imgs.dim() == 4, "patchify expects (B, C, H, W), got ", imgs.sizes());
    const int64_t B = imgs.size(0), C = imgs.size(1), H = imgs.size(2), W = imgs.size(3);
    if (H % p != 0 || W % p != 0)
        throw Error("image " + std::to_string(H) + "x" + std::to_string(W) + " does not divide into " +
                    std::to_string(p) + "x" + std::to_string(p) + " patches");
    const int64_t h = H / p, w = W / p;
    auto x = imgs.reshape({B, C, h, p, w, p});
    x = x.permute({0, 2, 4, 3, 5, 1}); // (B, h, w, p_row, p_col, C)
    return x.reshape({B, h * w, p * p * C});
}

torch::Tensor unpatchify(const torch::Tensor &x, int64_t p, int64_t C, int64_t h, int64_t w)
{
    TORCH_CHECK(x.dim() == 3 && x.size(1) == h * w && x.size(2) == p * p * C, "unpatchify: got ", x.sizes(),
                " for a ", h, "x", w, " grid of ", p, "x", p, "x", C, " patches");
    const int64_t B = x.size(0);
    auto y = x.reshape({B, h, w, p, p, C}).permute({0, 5, 1, 3, 2, 4}); // (B, C, h, p_row, w, p_col)
    return y.reshape({B, C, h * p, w * p});
}

std::string renameBlockParameter(const std::string &name,
                                 const std::vector<std::pair<std::string, std::string>> &table)
{
    for (const auto &[ours, theirs] : table)
        if (name.rfind(ours + ".", 0) == 0)
            return theirs + name.substr(ours.size());
    return name;
}

} // namespace vitscope
