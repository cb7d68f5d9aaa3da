// The kernel shortcuts of models/kernels/fast_paths.h against the paths they replace and
// against the block written out in float64: they may change which kernels run, never
// what the model computes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include <torch/torch.h>

#include "common/block_in_float64.h"
#include "common/clip_fixture.h"
#include "models/clip.h"
#include "models/error.h"
#include "models/kernels/fast_paths.h"
#include "models/vit.h"

namespace vitscope {
namespace {

double relGap(const torch::Tensor &a, const torch::Tensor &b)
{
    auto x = a.detach().to(torch::kFloat64), y = b.detach().to(torch::kFloat64);
    return (x - y).abs().max().item<double>() / (1e-12 + y.abs().max().item<double>());
}

FastPaths with(std::function<void(FastPaths &)> change)
{
    FastPaths p = fastPaths();
    change(p);
    return p;
}

// The names of every autograd node behind `t`.
std::set<std::string> gradFnNames(const torch::Tensor &t)
{
    std::set<std::string> names;
    std::set<const torch::autograd::Node *> seen;
    std::function<void(const std::shared_ptr<torch::autograd::Node> &)> walk = [&](const auto &node) {
        if (!node || !seen.insert(node.get()).second)
            return;
        names.insert(node->name());
        for (const auto &edge : node->next_edges())
            walk(edge.function);
    };
    walk(t.grad_fn());
    return names;
}

} // namespace

TEST(FastPaths, ListsApplyInOrderAndUnknownNamesAreRefused)
{
    const FastPaths none = parseFastPaths("none");
    EXPECT_FALSE(none.quickGeluFold || none.quickGeluFoldCpu || none.qkvUnbind || none.fusedAdamW ||
                 none.inferenceMode);
    EXPECT_EQ(fastPathsName(none), "none");
    const FastPaths one = parseFastPaths("none, qkv-unbind");
    EXPECT_TRUE(one.qkvUnbind);
    EXPECT_FALSE(one.quickGeluFold || one.fusedAdamW || one.inferenceMode);
    const FastPaths noAdam = parseFastPaths("-fused-adamw");
    EXPECT_FALSE(noAdam.fusedAdamW);
    EXPECT_TRUE(noAdam.quickGeluFold && noAdam.qkvUnbind && noAdam.inferenceMode);
    EXPECT_FALSE(noAdam.quickGeluFoldCpu); // opt-in
    EXPECT_EQ(fastPathsName(noAdam), "quickgelu-fold,qkv-unbind,inference-mode");
    EXPECT_TRUE(parseFastPaths("none,quickgelu-fold-cpu,all").quickGeluFoldCpu);
    EXPECT_EQ(fastPathsName(parseFastPaths("all")), "quickgelu-fold,qkv-unbind,fused-adamw,inference-mode");
    try {
        (void)parseFastPaths("qkv-unbind,quick-gelu");
        ADD_FAILURE() << "an unknown name was taken";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("'quick-gelu'"), std::string::npos) << e.what();
    }
}

// A thread's own setting covers that thread alone, nests, and leaves the process's as it was.
TEST(FastPaths, AThreadScopeCoversItsThreadAloneAndNests)
{
    const FastPaths process = fastPaths();
    FastPaths outer = process, inner = process;
    outer.qkvUnbind = !process.qkvUnbind;
    inner.qkvUnbind = process.qkvUnbind;
    inner.fusedAdamW = !process.fusedAdamW;
    {
        const ThreadFastPathsScope a(outer);
        EXPECT_EQ(fastPaths().qkvUnbind, outer.qkvUnbind);
        bool seenElsewhere = outer.qkvUnbind;
        std::thread other([&] { seenElsewhere = fastPaths().qkvUnbind; });
        other.join();
        EXPECT_EQ(seenElsewhere, process.qkvUnbind) << "another thread saw this thread's setting";
        {
            const ThreadFastPathsScope b(inner);
            EXPECT_EQ(fastPaths().qkvUnbind, inner.qkvUnbind);
            EXPECT_EQ(fastPaths().fusedAdamW, inner.fusedAdamW);
        }
        EXPECT_EQ(fastPaths().qkvUnbind, outer.qkvUnbind) << "the outer scope was not restored";
        EXPECT_EQ(fastPaths().fusedAdamW, outer.fusedAdamW);
    }
    EXPECT_EQ(fastPathsName(fastPaths()), fastPathsName(process));
}

// SiLU on 1.702 fc1(h), through fc2 / 1.702, is QuickGELU's block to float32 rounding; the
// scaled weights are made once per version of the weights, and never while training.
TEST(FastPaths, QuickGeluFoldIsTheBlockItReplaces)
{
    torch::manual_seed(7);
    BlockConfig cfg{16, 2, 64, 1e-5, true, Activation::QuickGelu};
    TransformerBlock block(cfg);
    {
        torch::NoGradGuard g;
        block->fc1->weight.mul_(3.0); // activations across the sigmoid's whole range
    }
    const auto x = torch::randn({2, 7, 16});
    const FastPathsScope folding(with([](FastPaths &p) { p.quickGeluFold = p.quickGeluFoldCpu = true; }));
    torch::Tensor folded;
    {
        torch::NoGradGuard g;
        folded = block->forward(x);
        EXPECT_EQ(block->quickGeluFoldsMade(), 1);
        EXPECT_LT(relGap(folded, test::quickGeluBlockInFloat64(block, x)), 1e-5);
        (void)block->forward(x);
        EXPECT_EQ(block->quickGeluFoldsMade(), 1) << "the fold is kept while the weights stay";
        {
            const FastPathsScope plain(with([](FastPaths &p) { p.quickGeluFold = false; }));
            EXPECT_LT(relGap(block->forward(x), folded), 1e-5);
        }
        // Weights written in place (a checkpoint loaded, a training step): folded again.
        block->fc2->weight.mul_(-0.5);
        block->fc1->bias.add_(0.25);
        const auto after = block->forward(x);
        EXPECT_EQ(block->quickGeluFoldsMade(), 2);
        EXPECT_LT(relGap(after, test::quickGeluBlockInFloat64(block, x)), 1e-5);
    }
    {
        c10::InferenceMode inference;
        EXPECT_LT(relGap(block->forward(x), test::quickGeluBlockInFloat64(block, x)), 1e-5);
        EXPECT_EQ(block->quickGeluFoldsMade(), 2);
    }
    // With gradients on, the activation as written: the weights get their own gradients.
    auto y = block->forward(x);
    EXPECT_EQ(block->quickGeluFoldsMade(), 2);
    EXPECT_TRUE(y.requires_grad());
    y.sum().backward();
    EXPECT_TRUE(block->fc1->weight.grad().defined());
}

TEST(FastPaths, QuickGeluFoldKeepsClipFeatures)
{
    torch::manual_seed(8);
    const auto tok = test::smallTokenizer(test::promptMerges());
    Clip model(test::tinyClipConfig(tok)); // quick_gelu in both towers
    model->eval();
    torch::NoGradGuard g;
    const auto pixels = torch::randn({3, 3, 16, 16});
    const std::vector<std::vector<int64_t>> prompts{tok.encode("a photo of a boot"), tok.encode("cat")};
    torch::Tensor image, text;
    {
        const FastPathsScope plain(with([](FastPaths &p) { p.quickGeluFold = false; }));
        image = model->imageFeatures(pixels), text = model->textFeatures(prompts);
    }
    const FastPathsScope folding(with([](FastPaths &p) { p.quickGeluFold = p.quickGeluFoldCpu = true; }));
    EXPECT_LT(relGap(model->imageFeatures(pixels), image), 1e-5);
    EXPECT_LT(relGap(model->textFeatures(prompts), text), 1e-5);
}

// The joined q/k/v product (training, more than 64 rows) split with unbind: one stacked
// gradient instead of three zero-filled ones, and the same gradients, bit for bit.
TEST(FastPaths, QkvUnbindGivesTheGradientsOfThreeSelects)
{
    torch::manual_seed(9);
    BlockConfig cfg{32, 4, 64, 1e-6, true, Activation::Gelu};
    TransformerBlock block(cfg);
    const auto x0 = torch::randn({3, 30, 32}); // 90 rows: the joined product
    auto run = [&](bool unbind, std::set<std::string> *nodes) {
        const FastPathsScope scope(with([&](FastPaths &p) { p.qkvUnbind = unbind; }));
        block->zero_grad();
        auto x = x0.clone().requires_grad_();
        auto y = block->forward(x);
        *nodes = gradFnNames(y);
        y.pow(2).sum().backward();
        return std::vector<torch::Tensor>{x.grad(), block->q->weight.grad().clone(), block->k->weight.grad().clone(),
                                          block->v->weight.grad().clone(), block->v->bias.grad().clone()};
    };
    std::set<std::string> unbindNodes, selectNodes;
    const auto a = run(true, &unbindNodes), b = run(false, &selectNodes);
    EXPECT_TRUE(unbindNodes.count("UnbindBackward0")) << "the unbind path did not run";
    EXPECT_FALSE(unbindNodes.count("SelectBackward0"));
    EXPECT_TRUE(selectNodes.count("SelectBackward0"));
    for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_LT(relGap(a[i], b[i]), 1e-6) << "gradient " << i;
}

} // namespace vitscope
