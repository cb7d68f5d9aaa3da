#include "models/zero_shot.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "models/error.h"

namespace vitscope {

namespace {

std::string trim(const std::string &s)
{
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

} // namespace

std::vector<std::string> readTemplateFile(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        throw FileError(path, std::filesystem::exists(path) ? std::string("cannot open: ") + std::strerror(errno)
                                                            : "missing");
    std::vector<std::string> templates;
    std::string line;
    int lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        line = trim(line);
        if (line.empty() || line[0] == '#')
            continue;
        if (line.find("{}") == std::string::npos)
            throw FileError(path, "line " + std::to_string(lineNo) + ": a template needs {} where the class name goes");
        templates.push_back(line);
    }
    if (templates.empty())
        throw FileError(path, "holds no templates");
    return templates;
}

std::string fillTemplate(const std::string &templ, const std::string &className)
{
    std::string out;
    std::size_t at = 0;
    for (std::size_t hit; (hit = templ.find("{}", at)) != std::string::npos; at = hit + 2)
        out += templ.substr(at, hit - at) + className;
    return out + templ.substr(at);
}

std::vector<std::string> parseClassNames(const std::string &text)
{
    const char sep = text.find('\n') != std::string::npos ? '\n' : ',';
    std::vector<std::string> names;
    std::set<std::string> seen;
    std::size_t at = 0;
    while (at <= text.size()) {
        std::size_t end = text.find(sep, at);
        if (end == std::string::npos)
            end = text.size();
        std::string name = trim(text.substr(at, end - at));
        if (!name.empty() && seen.insert(name).second)
            names.push_back(name);
        at = end + 1;
    }
    return names;
}

std::optional<torch::Tensor> TextEmbeddingCache::find(const std::string &modelKey, const std::string &text) const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    auto it = m_map.find(modelKey + '\0' + text);
    if (it == m_map.end())
        return std::nullopt;
    return it->second;
}

void TextEmbeddingCache::insert(const std::string &modelKey, const std::string &text, const torch::Tensor &feature)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_map.size() >= m_capacity)
        m_map.clear();
    m_map[modelKey + '\0' + text] = feature.detach().to(torch::kCPU, torch::kFloat32).clone();
}

std::size_t TextEmbeddingCache::size() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_map.size();
}

void TextEmbeddingCache::clear()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_map.clear();
}

ZeroShotClassifier::ZeroShotClassifier(Clip model, std::shared_ptr<const ClipTokenizer> tokenizer,
                                       std::string modelKey, std::shared_ptr<TextEmbeddingCache> cache)
    : m_model(std::move(model)), m_tokenizer(std::move(tokenizer)), m_key(std::move(modelKey)),
      m_cache(std::move(cache))
{
    if (!m_model || !m_tokenizer || !m_cache)
        throw Error("zero-shot classifier: model, tokenizer and cache are required");
}

torch::Tensor ZeroShotClassifier::textFeatures(const std::vector<std::string> &texts)
{
    torch::NoGradGuard noGrad;
    // Embeddings made on bfloat16 weights (bf16-text) are kept apart from float32 ones.
    const std::string key = m_model->textModel->usesBf16Weights() ? m_key + "\x1f" "bf16-text" : m_key;
    std::vector<torch::Tensor> rows(texts.size());
    std::vector<std::size_t> missing;
    std::vector<std::vector<int64_t>> ids;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        if (auto hit = m_cache->find(key, texts[i]))
            rows[i] = *hit;
        else {
            missing.push_back(i);
            ids.push_back(m_tokenizer->encode(texts[i]));
        }
    }
    if (!missing.empty()) {
        auto features = m_model->textFeatures(ids).to(torch::kCPU, torch::kFloat32);
        m_promptsEncoded += int64_t(missing.size());
        for (std::size_t j = 0; j < missing.size(); ++j) {
            rows[missing[j]] = features[int64_t(j)];
            m_cache->insert(key, texts[missing[j]], features[int64_t(j)]);
        }
    }
    if (rows.empty())
        return torch::empty({0, m_model->config.projectionDim});
    return torch::stack(rows);
}

torch::Tensor ZeroShotClassifier::classEmbeddings(const std::vector<std::string> &classNames,
                                                  const std::vector<std::string> &templates, bool ensemble)
{
    namespace F = torch::nn::functional;
    if (classNames.empty())
        throw Error("zero-shot needs at least one class name");
    if (templates.empty())
        throw Error("zero-shot needs at least one template");
    const std::size_t T = ensemble ? templates.size() : 1;
    std::vector<std::string> prompts;
    prompts.reserve(classNames.size() * T);
    for (const auto &name : classNames)
        for (std::size_t t = 0; t < T; ++t)
            prompts.push_back(fillTemplate(templates[t], name));
    auto f = F::normalize(textFeatures(prompts), F::NormalizeFuncOptions().dim(1)); // (K*T, P)
    f = f.view({int64_t(classNames.size()), int64_t(T), -1}).mean(1);
    return F::normalize(f, F::NormalizeFuncOptions().dim(1));
}

torch::Tensor ZeroShotClassifier::imageFeatures(const torch::Tensor &pixels)
{
    torch::NoGradGuard noGrad;
    const auto device = m_model->logitScale.device();
    return m_model->imageFeatures(pixels.to(device)).to(torch::kCPU, torch::kFloat32);
}

torch::Tensor ZeroShotClassifier::probabilities(const torch::Tensor &imageFeatures, const torch::Tensor &classEmb)
{
    namespace F = torch::nn::functional;
    torch::NoGradGuard noGrad;
    auto img = F::normalize(imageFeatures.to(torch::kCPU, torch::kFloat32), F::NormalizeFuncOptions().dim(1));
    const float scale = m_model->scale().item<float>();
    return torch::softmax(scale * torch::matmul(img, classEmb.t()), 1);
}

std::vector<ClassScore> topK(const torch::Tensor &probabilities, int64_t k)
{
    auto p = probabilities.to(torch::kCPU, torch::kFloat32).contiguous();
    TORCH_CHECK(p.dim() == 1, "topK expects one row of probabilities");
    std::vector<ClassScore> scores;
    for (int64_t i = 0; i < p.size(0); ++i)
        scores.push_back({i, p[i].item<float>()});
    std::stable_sort(scores.begin(), scores.end(),
                     [](const ClassScore &a, const ClassScore &b) { return a.probability > b.probability; });
    scores.resize(std::size_t(std::min<int64_t>(std::max<int64_t>(k, 0), int64_t(scores.size()))));
    return scores;
}

} // namespace vitscope
