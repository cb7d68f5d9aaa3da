#include "src/cli/commands.h"
#include "trainer/distributed.h"

#include <algorithm>
#include <iostream>

#include <nlohmann/json.hpp>

#include "models/kernels/linear.h"
#include "models/runtime/allocator.h"
#include "models/runtime/device.h"
#include "models/error.h"
#include "models/vit.h"
#include "trainer/data/datasets.h"
#include "trainer/data/idx.h"
#include "vitscope/version.h"

namespace vitscope::cli {
namespace {

using nlohmann::json;

void printJson(const json &j)
{
    std::cout << j.dump(2) << std::endl;
}

int dataInfo(Args &args)
{
    const std::string spec = args.value("data", "fashion-mnist");
    args.finish();
    const std::string dir = data::resolveFashionMnistDir(spec);

    json out;
    out["dataset"] = "fashion-mnist";
    out["path"] = dir;
    json splits = json::object();
    std::int64_t height = 0, width = 0;
    for (data::Split split : {data::Split::Train, data::Split::Test}) {
        const data::ImageSet set = data::loadFashionMnist(dir, split);
        const data::IdxPair files = data::fashionMnistFiles(dir, split);
        std::vector<std::int64_t> perClass(set.classNames.size(), 0);
        for (auto label : set.labels)
            ++perClass[static_cast<std::size_t>(label)];
        splits[data::splitName(split)] = {
            {"count", set.count}, {"images", files.images}, {"labels", files.labels}, {"per_class", perClass}};
        height = set.height;
        width = set.width;
    }
    out["splits"] = splits;
    out["image"] = {{"height", height}, {"width", width}, {"channels", 1}};
    out["classes"] = data::fashionMnistClassNames();
    printJson(out);
    return 0;
}

} // namespace

std::string benchAttentionOption(Args &args)
{
    const std::string name = args.value("attention", "auto");
    const std::string linearName = args.value("linear", "auto");
    try {
        setAttentionKernel(parseAttentionKernel(name));
        setLinearKernel(parseLinearKernel(linearName));
    } catch (const Error &e) {
        throw UsageError(e.what());
    }
    return usesFusedAttention() ? "fused" : "explicit";
}

std::string linearKernelSummary()
{
    const LinearKernelChoice c = linearKernelChoice();
    const std::string how = c.source == "set" ? "" : " (" + c.source + ")";
    if (c.small == c.large)
        return linearKernelName(c.large) + how;
    return linearKernelName(c.large) + ", " + linearKernelName(c.small) + " for at most " +
           std::to_string(kSmallRows) + " rows" + how;
}

BenchThreads::BenchThreads(Args &args)
{
    const std::string spec = args.value("threads", "auto");
    if (spec == "auto")
        return;
    int n = 0;
    try {
        std::size_t used = 0;
        n = std::stoi(spec, &used);
        if (used != spec.size())
            n = 0;
    } catch (const std::exception &) {
    }
    if (n < 1)
        throw UsageError("--threads: 'auto' (each workload chooses, as in the app) or a count of threads");
    m_fixed = std::make_unique<ThreadCountScope>(n);
}

BenchThreads::~BenchThreads() = default;

void BenchThreads::settle(const std::function<void()> &call) const
{
    if (m_fixed)
        return;
    for (int i = 0; i < 24; ++i) { // a warm-up and 3 runs per count: 7 calls on two cores
        call();
        const auto d = lastWorkloadThreads();
        if (!d || d->source != "measuring")
            return;
    }
}

json BenchThreads::fields() const
{
    const auto d = lastWorkloadThreads();
    if (m_fixed || !d)
        return {{"threads", at::get_num_threads()}, {"threads_choice", m_fixed ? "set (--threads)" : "none"}};
    json medians = json::object();
    for (const auto &[threads, s] : d->medians)
        medians[std::to_string(threads)] = s * 1e3;
    json out{{"threads", d->threads}, {"threads_choice", d->source}, {"threads_workload", d->workload}};
    if (!medians.empty())
        out["threads_medians_ms"] = medians;
    return out;
}

std::string versionText()
{
    std::string backends;
    for (const auto &b : train::distributedBackends())
        backends += (backends.empty() ? "" : ", ") + b;
    return std::string("vitscope-cli ") + VITSCOPE_VERSION + "\nLibTorch " + torchVersion() +
           (torchHasCuda() ? " (CUDA)" : " (CPU only)") + "\ndevice: " + deviceDescription() +
           "\ndistributed: " + (backends.empty() ? "none" : backends) +
           (torchHasCuda() ? std::string() : "\nlinear layers: " + linearKernelSummary()) +
           "\nCPU threads: " + threadChoiceSummary() +
           "\nmemory allocator: " + configureAllocator().description + "\n";
}

namespace {

// Every command: its words, usage, one-line summary, flags (options without a value) and
// handler. `vitscope-cli --help` prints it in this order.
const std::vector<Command> kCommands = {
    {{"data", "info"},
     "[--data fashion-mnist|DIR]",
     "split sizes, image size and class names of a dataset, read from its files",
     {},
     dataInfo},
    {{"info"},
     "--model PATH",
     "type, config and parameter count of a model (folder or checkpoint file), its format and where\n"
     "      each setting came from",
     {},
     infoCommand},
    {{"pull"},
     "ORG/NAME[@REVISION] [--verify]",
     "downloads the files a model needs from the Hugging Face Hub into its cache (HF_HOME, HF_HUB_CACHE;\n"
     "      HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE as huggingface_hub reads them); resumes; checks sizes and sha256;\n"
     "      a damaged cached file is fetched again (--verify: hash the large cached files too)",
     {"verify"},
     pullCommand},
    {{"convert"},
     "SRC DST",
     "writes any supported model (FAIR .pth, OpenAI .pt, open_clip, pytorch_model.bin) as a Hugging Face\n"
     "      folder (config.json, model.safetensors, preprocessing, tokenizer) that transformers loads",
     {},
     convertCommand},
    {{"bench", "load"},
     "--model PATH",
     "load time and peak memory of one model load (run it in a fresh process)",
     {},
     benchLoadCommand},
    {{"reconstruct"},
     "--model DIR --image FILE --out PANEL.png [--mask random|block|grid|custom] [--ratio R] [--seed S]\n"
     "      [--grid-cell K] [--keep i,j,...] [--patch-stats true|visible] [--save-tensors FILE] [--device D]",
     "MAE reconstruction: original, masked, reconstruction, reconstruction + visible, side by side",
     {},
     reconstructCommand},
    {{"tokenize"},
     "--model DIR [--truncate] TEXT...",
     "CLIP token ids of each TEXT (with start and end tokens, no padding) and its BPE tokens",
     {"truncate"},
     tokenizeCommand},
    {{"embed"},
     "--model DIR [--image FILE]... [--text STR]... [--device D]",
     "CLIP image and text embeddings (projected, before L2 normalization) and logit_scale",
     {},
     embedCommand},
    {{"zeroshot"},
     "--model DIR --labels \"a,b,c\" [--template T]... [--templates-file F] [--single-template]\n"
     "      (--image FILE | --folder DIR)... [--top-k K] [--device D]",
     "zero-shot CLIP: per image the probability of each label and the top label; with --folder,\n"
     "      accuracy where subfolder names are labels (default templates: resources/templates)",
     {"single-template"},
     zeroshotCommand},
    {{"train", "mae"},
     "[--data fashion-mnist|DIR] [--limit N] [--out RUN_DIR] [--preset fmnist|vit-b16|...] [--mask random|block|grid]\n"
     "      [--ratio R] [--grid-cell K] [--norm-pix-loss on|off] [--mask-tokens-in-encoder] [--epochs N] [--batch N]\n"
     "      [--base-lr X] [--warmup-epochs X] [--weight-decay X] [--clip-grad X] [--crop on|off] [--flip on|off]\n"
     "      [--seed S] [--device D] [--workers N] [--log-every N] [--checkpoint-every N] [--keep N]\n"
     "      [--eval-every N] [--test-limit N] [--amp on|off] [--nproc-per-node N] [--dist-backend auto|gloo|nccl]\n"
     "      [--dist-timeout S]",
     "MAE pretraining into a run folder (config.json, metrics.jsonl, checkpoints, model/); Ctrl-C stops\n"
     "      after a checkpoint, `resume` continues; --batch is the global batch: data-parallel over N local\n"
     "      ranks (--nproc-per-node), torchrun or Slurm (docs/distributed.md)",
     {"mask-tokens-in-encoder"},
     trainMaeCommand},
    {{"train", "clip"},
     "[--data fashion-mnist|DIR|CAPTIONS.csv] [--limit N] [--out RUN_DIR] [--preset fmnist|vit-b32|...] [--epochs N]\n"
     "      [--batch N] [--lr X] [--warmup-epochs X] [--weight-decay X] [--clip-grad X] [--crop on|off]\n"
     "      [--crop-scale-min X] [--flip on|off] [--bpe-merges N] [--csv-separator C] [--csv-path-column NAME]\n"
     "      [--csv-caption-column NAME] [--seed S] [--device D] [--workers N] [--log-every N]\n"
     "      [--checkpoint-every N] [--keep N] [--eval-every N] [--test-limit N] [--amp on|off]\n"
     "      [--nproc-per-node N] [--dist-backend auto|gloo|nccl] [--dist-timeout S]",
     "CLIP training into a run folder; labelled data gets captions from class names x templates x synonyms,\n"
     "      held-out templates measure zero-shot accuracy; the tokenizer is learned from the captions (BPE);\n"
     "      data-parallel runs contrast the global batch (features gathered from every rank)",
     {},
     trainClipCommand},
    {{"eval", "zeroshot"},
     "--model DIR [--data fashion-mnist|DIR] [--labels \"a,b,...\"] [--template T]... [--templates-file F]\n"
     "      [--single-template] [--limit N] [--device D]",
     "zero-shot accuracy of a CLIP model (default: the held-out caption templates)",
     {"single-template"},
     evalZeroShotCommand},
    {{"eval", "text-precision"},
     "--model DIR [--data fashion-mnist|DIR] [--limit N]",
     "zero-shot with the text tower on float32 weights and on bfloat16 copies (VITSCOPE_FAST_PATHS=bf16-text):\n"
     "      prompt cosine, probability difference, top-1 agreement (CPUs with AVX512_BF16)",
     {},
     evalTextPrecisionCommand},
    {{"eval", "image-precision"},
     "--model DIR [--data fashion-mnist|DIR] [--limit N]",
     "zero-shot with the image tower on float32 weights and on bfloat16 copies (VITSCOPE_FAST_PATHS=bf16-image):\n"
     "      image feature cosine, probability difference, top-1 agreement (CPUs with AVX512_BF16)",
     {},
     evalImagePrecisionCommand},
    {{"eval", "finetune"},
     "--model DIR [--data ...] [--epochs N] [--batch N] [--base-lr X] [--layer-decay X] [--weight-decay X]\n"
     "      [--warmup-epochs X] [--label-smoothing X] [--blocks K|all|K1,K2,...] [--limit N] [--test-limit N]\n"
     "      [--csv FILE] [--seed S] [--device D] [--workers N]",
     "fine-tuning of an MAE encoder with a classification head; test accuracy per epoch. --blocks K trains\n"
     "      only the last K blocks (0: the head alone, the MAE paper's Figure 9); a list runs each in turn",
     {},
     evalFinetuneCommand},
    {{"eval", "shift"},
     "--model CLIP [--data fashion-mnist|DIR] [--limit N] [--test-limit N] [--shifts a,b,...] [--labels \"a,b,...\"]\n"
     "      [--seed S] [--csv FILE] [--out CHART.png] [--device D]",
     "robustness to distribution shift (inverted, edges, blur, noise, rotation, low-contrast, cut-out):\n"
     "      zero-shot CLIP against a linear probe trained on the unshifted training features",
     {},
     evalShiftCommand},
    {{"attention"},
     "--model M --image F [--ratio R] [--mask random|block|grid] [--seed S] --out MAP.png [--save-tensors FILE]\n"
     "      [--device D]",
     "attention of the MAE encoder (visible patches only) or CLIP's image tower: the class token's attention\n"
     "      per layer (mean of heads) and the rollout over the image; --save-tensors writes attention\n"
     "      (layers, heads, tokens, tokens; class token first, then patches in raster order) and rollout",
     {},
     attentionCommand},
    {{"embed-map"},
     "--model M (--folder D | --data fashion-mnist|DIR) --out MAP.png [--csv COORDS.csv] [--limit N]\n"
     "      [--split test|train] [--labels \"a,b,...\"] [--color true|predicted] [--pool cls|mean] [--device D]",
     "a 2-D map (PCA) of CLIP image embeddings with the class text embeddings, or of MAE encoder features",
     {},
     embedMapCommand},
    {{"sweep"},
     "mask-strategy|mask-ratio|mask-tokens|norm-pix [--out DIR] [--data ...] [--limit N] [--epochs N] [--batch N]\n"
     "      [--base-lr X] [--warmup-epochs X] [--norm-pix-loss on|off] [--ratios 0.1,0.2,...] [--probe-limit N]\n"
     "      [--seed S] [--device D] [--workers N] [--amp on|off]",
     "the MAE paper's ablations under one budget: a run per point, then linear probe and kNN;\n"
     "      DIR/results.json and DIR/results.csv (a stopped sweep continues where it was)",
     {},
     sweepCommand},
    {{"resume"},
     "RUN_DIR [--nproc-per-node N] [--dist-backend auto|gloo|nccl] [--dist-timeout S]",
     "continue a run from its newest checkpoint (at any number of ranks dividing its global batch)",
     {},
     resumeCommand},
    {{"eval", "linear-probe"},
     "--model DIR [--data fashion-mnist|DIR] [--test-data DIR] [--limit N] [--test-limit N] [--pool cls|mean]\n"
     "      [--no-cache] [--device D]",
     "logistic regression on frozen features (standardized; weight decay chosen on a validation split)",
     {"no-cache"},
     evalLinearProbeCommand},
    {{"eval", "knn"},
     "--model DIR [--data ...] [--test-data DIR] [--k 20] [--limit N] [--test-limit N] [--pool cls|mean]\n"
     "      [--no-cache] [--device D]",
     "weighted k-nearest-neighbour accuracy on frozen features (cosine)",
     {"no-cache"},
     evalKnnCommand},
    {{"eval", "fewshot"},
     "--model DIR [--data ...] [--test-data DIR] [--seeds 5] [--limit N] [--test-limit N] [--pool cls|mean]\n"
     "      [--no-cache] [--device D]",
     "k-shot linear probes, k = 1, 2, 4, 8, 16 per class, mean and std over seeds",
     {"no-cache"},
     evalFewShotCommand},
    {{"bench", "allreduce"},
     "[--mb X] [--repeats N] [--device D] --nproc-per-node N | (under torchrun / srun) [--dist-backend B]",
     "all-reduce of one X MB bucket across ranks (Gloo or NCCL): median time, ms per MB",
     {},
     benchAllReduceCommand},
    {{"bench", "sgemm"},
     "[--m 4096] [--k 128] [--n 512] [--repeats N] [--device D]",
     "float32 matrix product rate at training-like shapes, GFLOP/s (the reference for model FLOP/s)",
     {},
     benchSgemmCommand},
    {{"bench", "clip-image"},
     "[--model DIR | --preset vit-b32|vit-b16|vit-l14|fmnist] [--batch N] [--repeats N] [--warmup N]\n"
     "      [--dtype float32|bf16] [--attention auto|explicit|fused] [--linear auto|torch|onednn] [--device D]\n"
     "      [--threads auto|N]",
     "CLIP image embedding throughput, images/s (median batch); --threads auto (the default): the\n"
     "      thread count the workload chooses, as in the app; N: that count",
     {},
     benchClipImageCommand},
    {{"bench", "clip-text"},
     "[--model DIR [--text T] | --preset P [--tokens N]] [--batch N] [--repeats N]\n"
     "      [--dtype float32|bf16] [--attention auto|explicit|fused] [--linear auto|torch|onednn] [--device D]\n"
     "      [--threads auto|N]",
     "CLIP text tower, ms per prompt: true length vs padded to the context, and their ratio;\n"
     "      with --batch N: N prompts of --tokens ids (default 16) per pass, prompts/s",
     {},
     benchClipTextCommand},
    {{"bench", "mae-train"},
     "[--preset fmnist|vit-b16|vit-l16|vit-h14] [--batch N] [--steps N] [--warmup N] [--ratio R]\n"
     "      [--mask-tokens-in-encoder] [--amp on|off] [--attention auto|explicit|fused] [--linear auto|torch|onednn]\n"
     "      [--device D] [--threads auto|N]",
     "MAE pretraining throughput: forward + backward + AdamW, images/s (median step)",
     {"mask-tokens-in-encoder"},
     benchMaeTrainCommand},
    {{"bench", "mae-explore"},
     "[--model DIR | --preset vit-b16|fmnist|...] [--repeats N] [--attention A] [--linear L] [--device D]\n"
     "      [--threads auto|N]",
     "one MAE explorer redraw (mask one image, encode, decode, the four pictures), ms (median)",
     {},
     benchMaeExploreCommand},
    {{"bench", "matmul"},
     "[--size N[,N...]] [--repeats N] [--threads all|N] [--device auto|cpu|cuda]",
     "float32 N x N matrix products through every kernel present (OpenBLAS, oneDNN) at 1 thread and\n"
     "      every core: GFLOP/s of each and the best, the yardstick for the model benchmarks",
     {},
     benchMatmulCommand},
    {{"bench", "memory"},
     "[--mb 256] [--repeats N] [--threads all|N]",
     "memory bandwidth, GB/s: STREAM's triad and a read of one array (what a batch-1 prompt does to\n"
     "      its weights), at 1 thread and every core",
     {},
     benchMemoryCommand},
};

} // namespace

const std::vector<Command> &commands()
{
    return kCommands;
}

} // namespace vitscope::cli
