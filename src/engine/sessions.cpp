#include "src/engine/sessions.h"
#include "src/engine/hub_models.h"
#include "src/engine/model_spec.h"
#include "src/engine/session_impl.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>

#include "models/runtime/device.h"
#include "models/error.h"
#include "models/checkpoints/model_source.h"
#include "models/checkpoints/hf_folder.h"
#include "models/image_preprocess.h"
#include "models/kernels/bf16_gemm.h"
#include "models/kernels/fast_paths.h"
#include "models/masking.h"
#include "models/runtime/data_files.h"
#include "models/zero_shot.h"
#include "trainer/clip_trainer.h"
#include "trainer/data/images.h"

namespace vitscope::engine {

namespace {

std::int64_t countParameters(torch::nn::Module &m)
{
    std::int64_t n = 0;
    for (const auto &p : m.parameters())
        n += p.numel();
    return n;
}

std::string displayName(const std::string &arg, const std::string &dir)
{
    const auto bundled = bundledModelNames();
    if (std::find(bundled.begin(), bundled.end(), arg) != bundled.end())
        return arg;
    auto name = std::filesystem::path(dir).filename().string();
    if (name.empty())
        name = std::filesystem::path(dir).parent_path().filename().string();
    return name;
}

std::string deviceName(const torch::Device &d)
{
    return d.str();
}

// The folder of a bundled name or path, after checking config.json's model_type.
std::string checkedModelDir(const std::string &dirOrName, const std::string &expectedType, const std::string &what)
{
    const std::string dir = resolveModel(dirOrName);
    const std::string type = modelTypeOf(dir);
    if (type != expectedType)
        throw FileError(dir, "holds a \"" + type + "\" model, not " + what + " (expected \"" + expectedType + "\")");
    return dir;
}

void describeOrigin(const ModelOrigin &o, ModelInfo &info)
{
    info.format = o.format;
    info.provenance.clear();
    info.provenance.push_back("config: " + o.configSource);
    info.provenance.push_back("preprocessing: " + o.processorSource);
    if (!o.tokenizerSource.empty())
        info.provenance.push_back("tokenizer: " + o.tokenizerSource);
    for (const auto &s : o.settings)
        info.provenance.push_back(s.name + " = " + s.value + " (from " + s.source + ")");
    for (const auto &n : o.notes)
        info.provenance.push_back("note: " + n);
}

// The fast paths for one request that chose its towers' weights (see TowerWeights).
FastPaths pathsFor(TowerWeights weights, bool FastPaths::*tower)
{
    FastPaths paths = fastPaths();
    if (weights != TowerWeights::Process)
        paths.*tower = weights == TowerWeights::BFloat16;
    return paths;
}

} // namespace

Masking maskingFor(const MaskRequest &request, const MaeConfig &config, torch::Device device)
{
    MaskSpec spec;
    spec.strategy = parseMaskStrategy(request.strategy);
    spec.ratio = request.ratio;
    spec.seed = request.seed;
    spec.gridCell = request.gridCell;
    for (int k : request.keep)
        spec.keep.push_back(k);
    Masking masking = makeMasking(spec, 1, config.gridSize(), config.gridSize(), device);
    if (masking.keepCount == 0)
        throw Error("every patch is masked: keep at least one patch visible");
    return masking;
}

torch::Tensor pixelsFor(const RgbImage &image, const ImageProcessorConfig &processor, std::int64_t channels)
{
    if (image.width <= 0 || image.height <= 0)
        throw Error("the image is empty (0 x 0 pixels)");
    return preprocessImage(data::rgbToTensor(image), processor, channels);
}

std::vector<std::string> bundledModels()
{
    return bundledModelNames();
}

std::string modelKind(const std::string &dirOrName)
{
    const std::string type = modelTypeOf(resolveModel(dirOrName));
    return type == "vit_mae" ? "mae" : type;
}

// ---------------------------------------------------------------------------------- MAE

MaeSession::MaeSession(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
MaeSession::~MaeSession() = default;

std::shared_ptr<MaeSession> MaeSession::load(const std::string &dirOrName, const std::string &device)
{
    const std::string dir = checkedModelDir(dirOrName, "vit_mae", "an MAE");
    auto impl = std::make_unique<Impl>();
    impl->device = parseDevice(device);
    impl->loaded = loadMae(dir, impl->device);
    requireDecoder(impl->loaded, "the MAE explorer (reconstruction)");
    std::shared_ptr<MaeSession> s(new MaeSession(std::move(impl)));
    describeOrigin(s->m_impl->loaded.origin, s->m_info);
    const MaeConfig &c = s->m_impl->loaded.model->config;
    ModelInfo &i = s->m_info;
    i.kind = "mae";
    i.dir = dir;
    i.name = displayName(dirOrName, dir);
    i.device = deviceName(s->m_impl->device);
    i.parameters = countParameters(*s->m_impl->loaded.model);
    i.imageSize = int(c.imageSize);
    i.patchSize = int(c.patchSize);
    i.grid = int(c.gridSize());
    i.channels = int(c.numChannels);
    i.normPixLoss = c.normPixLoss;
    i.defaultMaskRatio = c.maskRatio;
    i.summary = "MAE: encoder " + std::to_string(c.hiddenSize) + " wide, " + std::to_string(c.numHiddenLayers) +
                " blocks; decoder " + std::to_string(c.decoderHiddenSize) + " wide, " +
                std::to_string(c.decoderNumHiddenLayers) + " blocks; " + std::to_string(c.gridSize()) + "x" +
                std::to_string(c.gridSize()) + " patches of " + std::to_string(c.patchSize) + " px; " +
                std::to_string(c.numChannels) + (c.numChannels == 1 ? " channel" : " channels") +
                (c.normPixLoss ? "; normalized-pixel targets" : "");
    return s;
}

MaeResult MaeSession::explore(const RgbImage &image, const MaskRequest &request)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    c10::InferenceMode inference; // no autograd bookkeeping at all (issue 18)
    auto &model = m_impl->loaded.model;
    const MaeConfig &c = model->config;
    const auto &proc = m_impl->loaded.processor;

    const Masking masking = maskingFor(request, c, m_impl->device);

    const auto x = pixelsFor(image, proc, c.numChannels).unsqueeze(0).to(m_impl->device);
    const MaeVisuals v = visualize(model, x, masking, proc.imageMean, proc.imageStd,
                                   request.visibleStats ? PatchStats::Visible : PatchStats::True);
    MaeResult r;
    r.original = data::tensorToRgb(v.original[0].cpu());
    r.masked = data::tensorToRgb(v.masked[0].cpu());
    r.reconstruction = data::tensorToRgb(v.reconstruction[0].cpu());
    r.pasted = data::tensorToRgb(v.pasted[0].cpu());
    const auto err = v.patchError[0].to(torch::kCPU, torch::kFloat).contiguous();
    r.patchError.assign(err.data_ptr<float>(), err.data_ptr<float>() + err.numel());
    const auto mask = v.mask[0].to(torch::kCPU, torch::kFloat).contiguous();
    for (std::int64_t k = 0; k < mask.numel(); ++k)
        r.removed.push_back(mask.data_ptr<float>()[k] > 0.5f ? 1 : 0);
    r.grid = int(c.gridSize());
    r.keptCount = int(masking.keepCount);
    r.loss = v.loss.item<double>();
    r.strategy = maskStrategyName(parseMaskStrategy(request.strategy));
    return r;
}

// --------------------------------------------------------------------------------- CLIP

std::vector<TemplateSet> templateSets()
{
    std::vector<TemplateSet> sets;
    TemplateSet generic;
    generic.name = "Generic photo prompts";
    generic.description = "resources/templates/clip_templates.txt: prompts in the style of CLIP's ImageNet "
                          "ensemble (Radford et al. 2021, section 3.1.4)";
    try {
        generic.templates = readTemplateFile(findDataFile("templates/clip_templates.txt"));
    } catch (const Error &) {
        generic.templates = {"a photo of a {}."};
    }
    sets.push_back(generic);
    TemplateSet heldOut;
    heldOut.name = kHeldOutTemplates;
    heldOut.description = "The 8 templates the bundled fmnist-clip never saw in training (its zero-shot "
                          "evaluation uses these)";
    heldOut.templates = train::fashionMnistCaptions().heldOutTemplates;
    sets.push_back(heldOut);
    TemplateSet imagenet;
    imagenet.name = kImageNetTemplates;
    imagenet.description = "resources/templates/clip_imagenet_templates.txt: the 80 prompts of the CLIP paper's "
                           "ImageNet ensemble (OpenAI's CLIP repository, MIT licence)";
    try {
        imagenet.templates = readTemplateFile(findDataFile("templates/clip_imagenet_templates.txt"));
        sets.push_back(imagenet);
    } catch (const Error &) {
        // not installed: the set is left out
    }
    sets.push_back({kSinglePhotoTemplate, "One template, the CLIP paper's baseline prompt", {"a photo of a {}."}});
    return sets;
}

std::vector<std::string> parseClassNames(const std::string &text)
{
    return vitscope::parseClassNames(text);
}

ClipSession::ClipSession(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
ClipSession::~ClipSession() = default;

std::shared_ptr<ClipSession> ClipSession::load(const std::string &dirOrName, const std::string &device)
{
    static std::atomic<int> loads{0};
    const std::string dir = checkedModelDir(dirOrName, "clip", "a CLIP model");
    auto impl = std::make_unique<Impl>();
    impl->device = parseDevice(device);
    impl->loaded = loadClip(dir, impl->device);
    impl->classifier = std::make_unique<ZeroShotClassifier>(impl->loaded.model, impl->loaded.tokenizer,
                                                            dir + "#" + std::to_string(++loads));
    std::shared_ptr<ClipSession> s(new ClipSession(std::move(impl)));
    describeOrigin(s->m_impl->loaded.origin, s->m_info);
    auto &model = s->m_impl->loaded.model;
    const auto &v = model->config.vision;
    ModelInfo &i = s->m_info;
    i.kind = "clip";
    i.dir = dir;
    i.name = displayName(dirOrName, dir);
    i.device = deviceName(s->m_impl->device);
    i.parameters = countParameters(*model);
    i.imageSize = int(v.imageSize);
    i.patchSize = int(v.patchSize);
    i.grid = int(v.gridSize());
    i.channels = int(v.numChannels);
    i.summary = "CLIP: image tower " + std::to_string(v.hiddenSize) + " wide (" + std::to_string(v.gridSize()) +
                "x" + std::to_string(v.gridSize()) + " patches of " + std::to_string(v.patchSize) +
                " px), text tower " + std::to_string(model->config.text.hiddenSize) + " wide, vocabulary " +
                std::to_string(model->config.text.vocabSize);
    s->m_logitScale = model->scale().to(torch::kCPU, torch::kFloat).item<float>();
    return s;
}

std::vector<std::vector<float>> ClipSession::embedImages(const std::vector<RgbImage> &images, TowerWeights weights)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    c10::InferenceMode inference; // the features leave as plain floats
    const ThreadFastPathsScope precision(pathsFor(weights, &FastPaths::bf16Image)); // this request's
    if (images.empty())
        return {};
    const auto &proc = m_impl->loaded.processor;
    const auto channels = m_impl->loaded.model->config.vision.numChannels;
    std::vector<torch::Tensor> pixels;
    pixels.reserve(images.size());
    for (const auto &im : images)
        pixels.push_back(pixelsFor(im, proc, channels));
    auto f = m_impl->classifier->imageFeatures(torch::stack(pixels).to(m_impl->device));
    f = torch::nn::functional::normalize(f.to(torch::kCPU, torch::kFloat),
                                         torch::nn::functional::NormalizeFuncOptions().dim(1))
            .contiguous();
    std::vector<std::vector<float>> out(images.size());
    const auto dim = f.size(1);
    for (std::size_t b = 0; b < images.size(); ++b)
        out[b].assign(f.data_ptr<float>() + std::int64_t(b) * dim, f.data_ptr<float>() + std::int64_t(b + 1) * dim);
    return out;
}

bool ClipSession::bf16Available() const
{
    return m_impl->device.is_cpu() && bf16KernelAvailable();
}

bool ClipSession::bf16ByDefault()
{
    return fastPaths().bf16Text || fastPaths().bf16Image;
}

std::vector<std::vector<float>> ClipSession::embedClasses(const std::vector<std::string> &classNames,
                                                          const std::vector<std::string> &templates, bool ensemble,
                                                          TowerWeights weights)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    torch::NoGradGuard noGrad;
    const ThreadFastPathsScope precision(pathsFor(weights, &FastPaths::bf16Text)); // this request's
    if (classNames.empty())
        return {};
    if (templates.empty())
        throw Error("no prompt template: add at least one line holding {} (e.g. \"a photo of a {}.\")");
    for (const auto &t : templates)
        if (t.find("{}") == std::string::npos)
            throw Error("template \"" + t + "\" has no {} where the class name goes");
    const auto e = m_impl->classifier->classEmbeddings(classNames, templates, ensemble).to(torch::kCPU, torch::kFloat)
                       .contiguous();
    std::vector<std::vector<float>> out(classNames.size());
    const auto dim = e.size(1);
    for (std::size_t k = 0; k < classNames.size(); ++k)
        out[k].assign(e.data_ptr<float>() + std::int64_t(k) * dim, e.data_ptr<float>() + std::int64_t(k + 1) * dim);
    return out;
}

std::int64_t ClipSession::promptsEncoded()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_impl->classifier->promptsEncoded();
}

std::vector<float> zeroShotProbabilities(const std::vector<float> &image, const std::vector<std::vector<float>> &classes,
                                         float scale)
{
    std::vector<float> p(classes.size());
    if (classes.empty())
        return p;
    std::vector<double> logits(classes.size());
    double best = -1e300;
    for (std::size_t k = 0; k < classes.size(); ++k) {
        if (classes[k].size() != image.size())
            throw Error("zeroShotProbabilities: embedding sizes differ (" + std::to_string(classes[k].size()) +
                        " vs " + std::to_string(image.size()) + ")");
        double dot = 0;
        for (std::size_t d = 0; d < image.size(); ++d)
            dot += double(image[d]) * classes[k][d];
        logits[k] = double(scale) * dot;
        best = std::max(best, logits[k]);
    }
    double sum = 0;
    for (auto &l : logits)
        sum += (l = std::exp(l - best));
    for (std::size_t k = 0; k < classes.size(); ++k)
        p[k] = float(logits[k] / sum);
    return p;
}

} // namespace vitscope::engine
