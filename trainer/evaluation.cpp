#include "trainer/evaluation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <ATen/Parallel.h>

#include "models/error.h"
#include "models/kernels/linear.h"
#include "models/zero_shot.h"

namespace vitscope::train {

using nlohmann::json;

Features extractFeatures(const std::function<torch::Tensor(const torch::Tensor &)> &encode,
                         const data::SampleSource &source, const data::ImageTransform &transform, torch::Device device,
                         int64_t limit, int64_t batch, const ProgressFn &progress)
{
    const int64_t n = limit > 0 ? std::min(limit, source.size()) : source.size();
    std::vector<int64_t> labels;
    torch::Tensor x;
    {
        c10::InferenceMode inference;
        std::vector<torch::Tensor> chunks;
        for (int64_t start = 0; start < n; start += batch) {
            const int64_t count = std::min(n, start + batch) - start;
            // Decoding and the transform are small per-image operations: spread over the
            // cores (sources are thread-safe), each image's ops single-threaded inside.
            std::vector<torch::Tensor> imgs(static_cast<std::size_t>(count));
            at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i)
                    imgs[std::size_t(i)] = data::evalTransform(source.image(start + i), transform);
            });
            for (int64_t i = start; i < start + count; ++i)
                labels.push_back(source.label(i));
            chunks.push_back(encode(torch::stack(imgs).to(device)).to(torch::kCPU, torch::kFloat32));
            if (progress)
                progress(std::min(n, start + batch), n);
        }
        x = chunks.empty() ? torch::empty({0, 0}) : torch::cat(chunks);
    }
    return {x.clone(), torch::tensor(labels, torch::kLong)}; // out of inference mode
}

json LinearProbeResult::toJson() const
{
    json v = json::array();
    for (const auto &[wd, acc] : validation)
        v.push_back({{"weight_decay", wd}, {"accuracy", acc}});
    return {{"accuracy", accuracy}, {"weight_decay", weightDecay}, {"validation", v}};
}

namespace {

// Multinomial logistic regression: minimizes mean CE + wd * |W|^2 with L-BFGS; returns (W, b).
std::pair<torch::Tensor, torch::Tensor> fitLogistic(const torch::Tensor &x, const torch::Tensor &y, int64_t classes,
                                                    double wd, int maxIter)
{
    auto W = torch::zeros({x.size(1), classes}, torch::requires_grad());
    auto b = torch::zeros({classes}, torch::requires_grad());
    torch::optim::LBFGS opt({W, b}, torch::optim::LBFGSOptions(1.0)
                                        .max_iter(maxIter)
                                        .history_size(20)
                                        .tolerance_grad(1e-7)
                                        .tolerance_change(1e-10)
                                        .line_search_fn("strong_wolfe"));
    auto closure = [&] {
        opt.zero_grad();
        // x W + b through the linear layers' kernel (oneDNN where it is faster, both passes)
        auto loss = torch::nn::functional::cross_entropy(linear(x, W.t(), b), y) + wd * W.pow(2).sum();
        loss.backward();
        return loss;
    };
    opt.step(closure);
    return {W.detach(), b.detach()};
}

double accuracyOf(const torch::Tensor &logits, const torch::Tensor &y)
{
    return logits.argmax(1).eq(y).to(torch::kFloat64).mean().item<double>();
}

void checkFeatures(const Features &f, const char *what)
{
    if (!f.x.defined() || f.x.dim() != 2 || f.x.size(0) == 0 || f.labels.size(0) != f.x.size(0))
        throw Error(std::string("evaluation: ") + what + " features are empty or do not match their labels");
}

} // namespace

LinearProbeResult linearProbe(const Features &train, const Features &test, int64_t classes,
                              const LinearProbeOptions &o)
{
    checkFeatures(train, "training");
    checkFeatures(test, "test");
    auto mean = train.x.mean(0, true);
    auto std = train.x.std(0, true, true).clamp_min(1e-6);
    auto xtr = (train.x - mean) / std, xte = (test.x - mean) / std;
    const int64_t n = xtr.size(0);
    LinearProbeResult r;
    r.weightDecay = o.weightDecays.empty() ? 0.0 : o.weightDecays.front();
    const int64_t nVal = int64_t(double(n) * o.validationFraction);
    if (o.weightDecays.size() > 1 && nVal >= classes && n - nVal >= classes) {
        std::vector<int64_t> perm(static_cast<std::size_t>(n));
        std::iota(perm.begin(), perm.end(), 0);
        std::mt19937_64 rng(o.seed);
        std::shuffle(perm.begin(), perm.end(), rng);
        auto idx = torch::tensor(perm, torch::kLong);
        auto valIdx = idx.slice(0, 0, nVal), fitIdx = idx.slice(0, nVal);
        double best = -1;
        for (double wd : o.weightDecays) {
            auto [W, b] = fitLogistic(xtr.index_select(0, fitIdx), train.labels.index_select(0, fitIdx), classes, wd,
                                      o.maxIterations);
            const double acc = accuracyOf(torch::matmul(xtr.index_select(0, valIdx), W) + b,
                                          train.labels.index_select(0, valIdx));
            r.validation.emplace_back(wd, acc);
            if (acc > best + 1e-12)
                best = acc, r.weightDecay = wd;
        }
    }
    auto [W, b] = fitLogistic(xtr, train.labels, classes, r.weightDecay, o.maxIterations);
    r.accuracy = accuracyOf(torch::matmul(xte, W) + b, test.labels);
    r.mean = mean, r.std = std, r.weight = W.detach(), r.bias = b.detach();
    return r;
}

torch::Tensor LinearProbeResult::logits(const torch::Tensor &x) const
{
    TORCH_CHECK(weight.defined(), "the linear probe has not been fitted");
    return torch::matmul((x - mean) / std, weight) + bias;
}

double LinearProbeResult::accuracyOn(const Features &f) const
{
    checkFeatures(f, "test");
    return accuracyOf(logits(f.x), f.labels);
}

torch::Tensor knnPredict(const Features &train, const torch::Tensor &queries, int64_t classes, int64_t k,
                         double temperature)
{
    namespace F = torch::nn::functional;
    auto tr = F::normalize(train.x, F::NormalizeFuncOptions().dim(1));
    auto q = F::normalize(queries, F::NormalizeFuncOptions().dim(1));
    const int64_t kk = std::min<int64_t>(k, tr.size(0));
    std::vector<torch::Tensor> preds;
    for (int64_t start = 0; start < q.size(0); start += 1024) {
        auto sim = torch::matmul(q.slice(0, start, start + 1024), tr.t()); // (b, N)
        auto [topSim, topIdx] = sim.topk(kk, 1);
        auto votes = torch::zeros({sim.size(0), classes}, torch::kFloat64);
        votes.scatter_add_(1, train.labels.index({topIdx}), (topSim / temperature).exp().to(torch::kFloat64));
        preds.push_back(votes.argmax(1));
    }
    return torch::cat(preds);
}

double knnAccuracy(const Features &train, const Features &test, int64_t classes, int64_t k, double temperature)
{
    checkFeatures(train, "training");
    checkFeatures(test, "test");
    return knnPredict(train, test.x, classes, k, temperature).eq(test.labels).to(torch::kFloat64).mean().item<double>();
}

std::vector<FewShotPoint> fewShotProbes(const Features &train, const Features &test, int64_t classes,
                                        const std::vector<int64_t> &shots, int seeds, uint64_t seed)
{
    checkFeatures(train, "training");
    std::vector<std::vector<int64_t>> byClass(static_cast<std::size_t>(classes));
    auto labels = train.labels.contiguous();
    for (int64_t i = 0; i < labels.size(0); ++i)
        byClass[std::size_t(labels[i].item<int64_t>())].push_back(i);
    std::vector<FewShotPoint> out;
    for (int64_t k : shots) {
        FewShotPoint pt;
        pt.shots = k;
        for (int s = 0; s < seeds; ++s) {
            std::mt19937_64 rng(seed * 1000003ull + uint64_t(k) * 7919ull + uint64_t(s));
            std::vector<int64_t> chosen;
            for (auto members : byClass) {
                if (int64_t(members.size()) < k)
                    throw Error("k-shot probe: a class has fewer than " + std::to_string(k) + " training examples");
                std::shuffle(members.begin(), members.end(), rng);
                chosen.insert(chosen.end(), members.begin(), members.begin() + k);
            }
            auto idx = torch::tensor(chosen, torch::kLong);
            Features few{train.x.index_select(0, idx), train.labels.index_select(0, idx)};
            LinearProbeOptions o;
            o.seed = uint64_t(s);
            // With one or two shots there is no room for validation: a fixed, moderate decay.
            if (k < 4)
                o.weightDecays = {1e-3};
            else
                o.validationFraction = 0.25;
            pt.accuracies.push_back(linearProbe(few, test, classes, o).accuracy);
        }
        const double mean = std::accumulate(pt.accuracies.begin(), pt.accuracies.end(), 0.0) / double(seeds);
        double var = 0;
        for (double a : pt.accuracies)
            var += (a - mean) * (a - mean);
        pt.meanAccuracy = mean;
        pt.stdAccuracy = seeds > 1 ? std::sqrt(var / double(seeds - 1)) : 0.0;
        out.push_back(pt);
    }
    return out;
}

double zeroShotAccuracy(Clip &model, const std::shared_ptr<const ClipTokenizer> &tokenizer,
                        const data::SampleSource &source, const data::ImageTransform &transform, torch::Device device,
                        const std::vector<std::string> &classNames, const std::vector<std::string> &templates,
                        int64_t limit, bool ensemble, const ProgressFn &progress)
{
    ZeroShotClassifier classifier(model, tokenizer, "evaluation");
    const auto classes = classifier.classEmbeddings(classNames, templates, ensemble);
    const auto features = extractFeatures([&](const torch::Tensor &x) { return model->imageFeatures(x); }, source,
                                          transform, device, limit, 256, progress);
    if ((features.labels < 0).any().item<bool>() || (features.labels >= int64_t(classNames.size())).any().item<bool>())
        throw Error("zero-shot accuracy: the data's labels do not index the " + std::to_string(classNames.size()) +
                    " class names");
    const auto probs = classifier.probabilities(features.x, classes);
    return probs.argmax(1).eq(features.labels).to(torch::kFloat64).mean().item<double>();
}

} // namespace vitscope::train
