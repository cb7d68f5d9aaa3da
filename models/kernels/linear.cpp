#include "models/kernels/linear.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "models/error.h"
#include "models/runtime/tuning.h"

#if defined(VITSCOPE_WITH_DNNL) && __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>
#define VITSCOPE_HAVE_DNNL 1
#else
#define VITSCOPE_HAVE_DNNL 0
#endif

namespace vitscope {

namespace {

using torch::Tensor;

std::atomic<LinearKernel> g_kernel{[] {
    const char *env = std::getenv("VITSCOPE_LINEAR");
    if (!env || !*env)
        return LinearKernel::Auto;
    try {
        const LinearKernel k = parseLinearKernel(env);
        return k == LinearKernel::OneDnn && !VITSCOPE_HAVE_DNNL ? LinearKernel::Torch : k;
    } catch (const Error &) {
        spdlog::warn("VITSCOPE_LINEAR='{}' is not auto, torch or onednn; using auto", env);
        return LinearKernel::Auto;
    }
}()};

std::mutex g_choiceMutex;
std::optional<LinearKernelChoice> g_choice; // Auto's decision, once made
std::atomic<bool> g_choiceReady{false};
std::atomic<int> g_smallChoice{0}, g_largeChoice{0}; // as LinearKernel, read without the lock

#if VITSCOPE_HAVE_DNNL
// Row-major C (M x N) = op(A) op(B) + beta C, on `threads` OpenMP threads (oneDNN's own).
void sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
           int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    const dnnl_status_t s = dnnl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
    if (s != dnnl_success)
        throw Error("oneDNN sgemm failed (status " + std::to_string(int(s)) + ") for a " + std::to_string(M) + "x" +
                    std::to_string(K) + " by " + std::to_string(K) + "x" + std::to_string(N) + " product");
}

// x2: (M, K) contiguous; w: (N, K) contiguous; b: (N) or undefined.
Tensor dnnlForward(const Tensor &x2, const Tensor &w, const Tensor &b)
{
    const int64_t M = x2.size(0), K = x2.size(1), N = w.size(0);
    Tensor y = b.defined() ? b.expand({M, N}).contiguous() : torch::empty({M, N}, x2.options());
    if (K == 0) {
        if (!b.defined())
            y.zero_();
        return y;
    }
    sgemm('N', 'T', M, N, K, x2.data_ptr<float>(), K, w.data_ptr<float>(), K, b.defined() ? 1.0f : 0.0f,
          y.data_ptr<float>(), N);
    return y;
}

// One backward product of y = x2 w^T: out = op(a) . b with op(a) = a or a^T, all
// row-major. The grad of x is gy (M, N) . w (N, K); the grad of w is gy^T (N, M) . x2 (M, K).
Tensor dnnlProduct(bool transposeA, const Tensor &a, const Tensor &b)
{
    const int64_t rows = a.size(transposeA ? 1 : 0), inner = a.size(transposeA ? 0 : 1), cols = b.size(1);
    Tensor out = torch::empty({rows, cols}, a.options());
    if (inner == 0)
        return out.zero_();
    sgemm(transposeA ? 'T' : 'N', 'N', rows, cols, inner, a.data_ptr<float>(), a.size(1), b.data_ptr<float>(), cols,
          0.0f, out.data_ptr<float>(), cols);
    return out;
}

Tensor dnnlGradInput(const Tensor &gy, const Tensor &w) { return dnnlProduct(false, gy, w); }
Tensor dnnlGradWeight(const Tensor &gy, const Tensor &x2) { return dnnlProduct(true, gy, x2); }

// The backward products of y = x2 w^T (+ b): the grads the autograd context asks for.
torch::autograd::variable_list dnnlBackward(torch::autograd::AutogradContext *ctx, const Tensor &gyIn, bool bias)
{
    const auto saved = ctx->get_saved_variables();
    const Tensor gy = gyIn.contiguous();
    Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0))
        gx = dnnlGradInput(gy, saved[1]);
    if (ctx->needs_input_grad(1))
        gw = dnnlGradWeight(gy, saved[0]);
    if (bias && ctx->needs_input_grad(2))
        gb = gy.sum(0);
    if (bias)
        return {gx, gw, gb};
    return {gx, gw};
}

struct DnnlLinear : torch::autograd::Function<DnnlLinear> {
    static Tensor forward(torch::autograd::AutogradContext *ctx, const Tensor &x2, const Tensor &w, const Tensor &b)
    {
        ctx->save_for_backward({x2, w});
        return dnnlForward(x2, w, b);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        return dnnlBackward(ctx, grads[0], true);
    }
};

struct DnnlLinearNoBias : torch::autograd::Function<DnnlLinearNoBias> {
    static Tensor forward(torch::autograd::AutogradContext *ctx, const Tensor &x2, const Tensor &w)
    {
        ctx->save_for_backward({x2, w});
        return dnnlForward(x2, w, Tensor());
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        return dnnlBackward(ctx, grads[0], false);
    }
};
#endif

std::string machineKey()
{
    // "measure 2": small shapes on streamed weights (timeShapes); decisions cached by the
    // first way of measuring are not reused.
    std::string key = tuningMachineKey() + "|measure 2";
#if VITSCOPE_HAVE_DNNL
    key += "|onednn " + std::to_string(DNNL_VERSION_MAJOR) + "." + std::to_string(DNNL_VERSION_MINOR) + "." +
           std::to_string(DNNL_VERSION_PATCH);
#endif
    return key;
}

// Median seconds of `reps` runs of fn after one warm-up.
template <class F>
double medianSeconds(F &&fn, int reps)
{
    fn();
    std::vector<double> s;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
}

struct Shape {
    int64_t m, k, n;
    bool backward;
};

// One kernel's time over a set of products: the forward product, and with `backward` the
// two products of the backward pass (grad of input, grad of weight).
// A forward-only (small) shape reads its weights from memory as a prompt's products do:
// enough distinct weights to pass the last-level cache (64 MB in all) go by in each timed
// run. With one weight reused, it stayed in cache and one OpenBLAS thread looked as fast as
// oneDNN's two; a prompt streaming 150 MB of weights is bound by bandwidth, which takes
// every core (measured on a 32 MB-L3 EPYC: 30.6 against 16 to 20 ms per prompt).
double timeShapes(LinearKernel kernel, const std::vector<Shape> &shapes)
{
    torch::NoGradGuard noGrad;
    double total = 0;
    for (const auto &s : shapes) {
        const int64_t bytes = s.n * s.k * int64_t(sizeof(float));
        const int64_t copies = s.backward ? 1 : std::max<int64_t>(1, ((int64_t(64) << 20) + bytes - 1) / bytes);
        auto x = torch::randn({s.m, s.k}), b = torch::randn({s.n});
        std::vector<torch::Tensor> weights{torch::randn({s.n, s.k})};
        for (int64_t i = 1; i < copies; ++i)
            weights.push_back(weights.front().clone()); // distinct memory, same values
        const auto &w = weights.front();
        auto gy = torch::randn({s.m, s.n});
        total += medianSeconds(
            [&] {
                for (const auto &wi : weights)
                    (void)linearWith(kernel, x, wi, b);
                if (!s.backward)
                    return;
#if VITSCOPE_HAVE_DNNL
                if (kernel == LinearKernel::OneDnn) {
                    (void)dnnlGradInput(gy, w);
                    (void)dnnlGradWeight(gy, x);
                    return;
                }
#endif
                (void)torch::mm(gy, w);
                (void)torch::mm(gy.t(), x);
            },
            3);
    }
    return total;
}

LinearKernel faster(double torchS, double dnnlS)
{
    // oneDNN only where it clearly wins: on a tie the plain path stays.
    return dnnlS < 0.9 * torchS ? LinearKernel::OneDnn : LinearKernel::Torch;
}

} // namespace

bool oneDnnAvailable()
{
    return VITSCOPE_HAVE_DNNL;
}

void setLinearKernel(LinearKernel kernel)
{
    if (kernel == LinearKernel::OneDnn && !VITSCOPE_HAVE_DNNL)
        throw Error("this build has no oneDNN (libdnnl-dev was missing at build time): use --linear torch");
    g_kernel = kernel;
}

LinearKernel linearKernel()
{
    return g_kernel;
}

LinearKernel parseLinearKernel(const std::string &name)
{
    if (name == "auto")
        return LinearKernel::Auto;
    if (name == "torch")
        return LinearKernel::Torch;
    if (name == "onednn")
        return LinearKernel::OneDnn;
    throw Error("unknown linear kernel '" + name + "': expected auto, torch or onednn");
}

std::string linearKernelName(LinearKernel kernel)
{
    switch (kernel) {
    case LinearKernel::Auto: return "auto";
    case LinearKernel::Torch: return "torch";
    case LinearKernel::OneDnn: return "onednn";
    }
    return "auto";
}

LinearKernelChoice measureLinearKernels()
{
    LinearKernelChoice c;
    c.source = "measured";
    // At the process's thread count, whatever count the calling thread's workload runs at.
    const ThreadCountScope threads(processThreads());
    if (!VITSCOPE_HAVE_DNNL) {
        c.source = "no oneDNN";
        return c;
    }
    // The models' shapes: ViT-B rows of a small batch, the Fashion-MNIST presets' wide
    // batches of narrow tokens (training: with the backward products); one prompt's or one
    // image's tokens for the small class.
    const std::vector<Shape> large{{512, 768, 768, true}, {2048, 128, 512, true}};
    const std::vector<Shape> small{{8, 512, 2048, false}, {50, 768, 3072, false}};
    c.torchSeconds = timeShapes(LinearKernel::Torch, large);
    c.oneDnnSeconds = timeShapes(LinearKernel::OneDnn, large);
    c.large = faster(c.torchSeconds, c.oneDnnSeconds);
    c.small = faster(timeShapes(LinearKernel::Torch, small), timeShapes(LinearKernel::OneDnn, small));
    return c;
}

LinearKernelChoice linearKernelChoice()
{
    const LinearKernel set = g_kernel;
    if (set != LinearKernel::Auto) {
        LinearKernelChoice c;
        c.small = c.large = set;
        c.source = "set";
        return c;
    }
    std::lock_guard<std::mutex> lock(g_choiceMutex);
    if (g_choice)
        return *g_choice;
    LinearKernelChoice c;
    const auto file = tuningCacheFile();
    c.cacheFile = file.string();
    const std::string key = machineKey();
    bool cached = false;
    if (!VITSCOPE_HAVE_DNNL) {
        c.source = "no oneDNN";
        cached = true;
    } else if (!file.empty()) {
        const auto j = readTuningCache(file);
        try {
            if (j.contains(key)) {
                const auto &e = j.at(key);
                c.small = parseLinearKernel(e.at("small").get<std::string>());
                c.large = parseLinearKernel(e.at("large").get<std::string>());
                c.torchSeconds = e.value("torch_s", 0.0);
                c.oneDnnSeconds = e.value("onednn_s", 0.0);
                c.source = "cache";
                cached = c.small != LinearKernel::Auto && c.large != LinearKernel::Auto;
            }
        } catch (const std::exception &x) {
            spdlog::warn("{}: a bad entry for this machine ({}); measuring again", file.string(), x.what());
        }
    }
    if (!cached) {
        const auto t0 = std::chrono::steady_clock::now();
        auto m = measureLinearKernels();
        m.cacheFile = c.cacheFile;
        c = m;
        spdlog::debug("linear kernels measured in {:.2f} s: large {}, small {} (torch {:.4f} s, oneDNN {:.4f} s)",
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                      linearKernelName(c.large), linearKernelName(c.small), c.torchSeconds, c.oneDnnSeconds);
        writeTuningEntry(file, key,
                         {{"small", linearKernelName(c.small)},
                          {"large", linearKernelName(c.large)},
                          {"torch_s", c.torchSeconds},
                          {"onednn_s", c.oneDnnSeconds}});
    }
    g_choice = c;
    g_smallChoice = int(c.small);
    g_largeChoice = int(c.large);
    g_choiceReady = true;
    return c;
}

void resetLinearKernelChoice()
{
    std::lock_guard<std::mutex> lock(g_choiceMutex);
    g_choice.reset();
    g_choiceReady = false;
}

Tensor linearWith(LinearKernel kernel, const Tensor &x, const Tensor &w, const Tensor &b)
{
#if VITSCOPE_HAVE_DNNL
    const bool eligible = kernel == LinearKernel::OneDnn && x.device().is_cpu() && w.device().is_cpu() &&
                          x.layout() == torch::kStrided && w.layout() == torch::kStrided &&
                          x.scalar_type() == torch::kFloat && w.scalar_type() == torch::kFloat &&
                          (!b.defined() || (b.scalar_type() == torch::kFloat && b.device().is_cpu())) &&
                          x.dim() >= 1 && w.dim() == 2 && x.size(-1) == w.size(1);
    if (eligible) {
        const int64_t K = x.size(-1), N = w.size(0);
        const Tensor x2 = x.reshape({-1, K}).contiguous();
        const Tensor wc = w.contiguous();
        const Tensor bc = b.defined() ? b.contiguous() : Tensor();
        const bool grad = torch::GradMode::is_enabled() &&
                          (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()));
        Tensor y;
        if (!grad)
            y = dnnlForward(x2, wc, bc);
        else if (bc.defined())
            y = DnnlLinear::apply(x2, wc, bc);
        else
            y = DnnlLinearNoBias::apply(x2, wc);
        auto sizes = x.sizes().vec();
        sizes.back() = N;
        return y.view(sizes);
    }
#else
    (void)kernel;
#endif
    return torch::linear(x, w, b);
}

Tensor linear(const Tensor &x, const Tensor &w, const Tensor &b)
{
    const LinearKernel set = g_kernel;
    if (set != LinearKernel::Auto)
        return linearWith(set, x, w, b);
    if (!VITSCOPE_HAVE_DNNL || !x.device().is_cpu() || x.scalar_type() != torch::kFloat)
        return torch::linear(x, w, b);
    if (!g_choiceReady)
        (void)linearKernelChoice();
    const int64_t rows = x.size(-1) == 0 ? 0 : x.numel() / x.size(-1);
    return linearWith(LinearKernel(rows <= kSmallRows ? g_smallChoice.load() : g_largeChoice.load()), x, w, b);
}

} // namespace vitscope
