#pragma once
// Loaded models for the GUI: an MAE session answers "mask this image and reconstruct it",
// a CLIP session answers "embed these images / these class prompts". Plain C++ types only
// (see engine.h). Each session owns its model and a mutex: any thread may call it, calls
// run one at a time. Failures throw vitscope::Error with a message ready for the user.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/engine/engine.h"

namespace vitscope::engine {

struct ModelInfo {
    std::string kind;        // "mae" or "clip"
    std::string name;        // bundled name or folder name
    std::string dir;         // the folder or checkpoint file it was read from
    std::string device;      // "cpu", "cuda:0"
    std::int64_t parameters = 0;
    int imageSize = 0;       // model input, pixels
    int patchSize = 0;
    int grid = 0;            // patches per side
    int channels = 0;
    bool normPixLoss = false; // MAE: trained on per-patch normalized targets
    double defaultMaskRatio = 0.75;
    std::string summary;      // one line: "ViT 192 wide, 6 blocks, 8x8 patches of 4 px, 1 channel"
    std::string format;       // "Hugging Face folder (model.safetensors)", "OpenAI CLIP release (...)", ...
    std::vector<std::string> provenance; // "setting: value (from ...)" lines, then notes
};

// The models shipped with the app ("fmnist-mae", "fmnist-clip").
std::vector<std::string> bundledModels();
// "mae", "clip" or another model_type; throws when the folder has no readable config.json.
std::string modelKind(const std::string &dirOrName);

struct MaskRequest {
    std::string strategy = "random"; // random, block, grid, custom
    double ratio = 0.75;             // fraction removed (random, block)
    std::uint64_t seed = 0;
    int gridCell = 2;                // grid: keep 1 of every cell x cell
    std::vector<int> keep;           // custom: kept patch indices, row-major
    bool visibleStats = false;       // normPixLoss models: un-normalize with the visible patches' pooled statistics
};

struct MaeResult {
    RgbImage original, masked, reconstruction, pasted; // at the model's input size
    std::vector<float> patchError;   // per patch (row-major), MSE in the model's target space
    std::vector<std::uint8_t> removed; // per patch: 1 removed
    int grid = 0;
    int keptCount = 0;
    double loss = 0;                 // mean patchError over the removed patches
    std::string strategy;
};

// What an image encoder attends to in one image: the MAE encoder (visible patches only)
// or CLIP's image tower (every patch). Token 0 is the class token; tokens 1.. are patches
// in raster order.
struct AttentionResult {
    int layers = 0, heads = 0, tokens = 0, grid = 0;
    std::vector<float> attention;      // layers x heads x tokens x tokens, rows sum to 1
    std::vector<float> rollout;        // layers x tokens x tokens: the rollout after each layer
    std::vector<int> patches;          // tokens - 1: the patch index (row-major) of tokens 1..
    std::vector<std::uint8_t> removed; // per patch: 1 when it has no token (MAE's masked patches)
    RgbImage input;                    // the image as the model saw it (normalization undone)
    double ms = 0;

    float at(int layer, int head, int from, int to) const;
    // The token of a patch, or -1 when it has none.
    int tokenOfPatch(int patch) const;
    // One token's row as a patch map (grid * grid, row-major; NaN where a patch has no
    // token): its attention in `layer` (head -1: the mean of the heads), or with `rollout`
    // the rollout up to that layer. The class token's own entry is left out.
    std::vector<float> map(int layer, int head, int fromToken, bool rollout) const;
};

// PCA to two dimensions (LibTorch's SVD): one point per row, and the fraction of the
// variance along each axis. Rows must have equal lengths; at least two rows.
struct Projection2d {
    std::vector<std::array<float, 2>> points;
    double explained[2] = {0, 0};
};
Projection2d pca2d(const std::vector<std::vector<float>> &rows);

class MaeSession {
public:
    // A folder in Hugging Face vit_mae layout, or a bundled model's name; `device` "auto",
    // "cpu", "cuda". Throws with the core's message (naming the file) when it cannot load.
    static std::shared_ptr<MaeSession> load(const std::string &dirOrName, const std::string &device = "auto");
    ~MaeSession();

    const ModelInfo &info() const { return m_info; }
    // Masks `image` (any size: resized / padded as the model's processor says) and runs the
    // model. Thread-safe (serialized).
    MaeResult explore(const RgbImage &image, const MaskRequest &request);
    // The encoder's attention on the patches `request` leaves visible. Thread-safe.
    AttentionResult attention(const RgbImage &image, const MaskRequest &request);
    // Encoder features of every patch visible: the class token, or the mean of the patch
    // tokens. One vector per image. Thread-safe.
    std::vector<std::vector<float>> features(const std::vector<RgbImage> &images, bool meanOfPatches);

private:
    struct Impl;
    explicit MaeSession(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
    ModelInfo m_info;
    std::mutex m_mutex;
};

// One named set of prompt templates.
struct TemplateSet {
    std::string name;
    std::string description;
    std::vector<std::string> templates;
};
// The generic set (resources/templates/clip_templates.txt), the Fashion-MNIST held-out set
// the bundled CLIP is evaluated with, the CLIP paper's 80-template ImageNet ensemble and
// the single "a photo of a {}.".
std::vector<TemplateSet> templateSets();
inline constexpr const char *kHeldOutTemplates = "Fashion-MNIST held-out";
inline constexpr const char *kImageNetTemplates = "CLIP ImageNet ensemble (80)";
inline constexpr const char *kSinglePhotoTemplate = "a photo of a {}.";
// What a user typed -> class names (one per line or comma-separated, trimmed, no repeats).
std::vector<std::string> parseClassNames(const std::string &text);

// The weights a CLIP tower reads for one request: the process's setting
// (VITSCOPE_FAST_PATHS), float32, or bfloat16 copies of its products' weights (the fast
// paths bf16-text and bf16-image, on a CPU with AVX512_BF16: on a 2-core machine a new
// B/32 prompt about 2.3x faster, an image batch about 1.8x; their error on the bundled
// model's test set is in docs/performance.md). Where bfloat16 is not available it runs
// float32.
enum class TowerWeights { Process, Float32, BFloat16 };

class ClipSession {
public:
    static std::shared_ptr<ClipSession> load(const std::string &dirOrName, const std::string &device = "auto");
    ~ClipSession();

    const ModelInfo &info() const { return m_info; }
    // L2-normalized image embeddings, one per image. Thread-safe; `weights` holds for
    // this call alone.
    std::vector<std::vector<float>> embedImages(const std::vector<RgbImage> &images,
                                                TowerWeights weights = TowerWeights::Process);
    // The image tower's attention. Thread-safe.
    AttentionResult attention(const RgbImage &image);
    // For each class embedding (normalized, from embedClasses), the cosine similarity of
    // every patch token through post_layernorm and the visual projection. Patch tokens
    // were never trained against text: see the zero-shot view's explanation. Thread-safe.
    struct PatchSimilarity {
        std::vector<std::vector<float>> maps; // classes x (grid * grid), row-major patches
        int grid = 0;
        RgbImage input; // the image as the model saw it
    };
    PatchSimilarity patchSimilarity(const RgbImage &image, const std::vector<std::vector<float>> &classEmbeddings);
    // L2-normalized class embeddings (prompt ensemble, or the first template alone).
    // Prompt embeddings are cached: one more class name encodes only its prompts.
    // The cache keeps float32 and bfloat16 embeddings apart. Thread-safe; the choice holds
    // for this call alone.
    std::vector<std::vector<float>> embedClasses(const std::vector<std::string> &classNames,
                                                 const std::vector<std::string> &templates, bool ensemble,
                                                 TowerWeights weights = TowerWeights::Process);
    // Whether TowerWeights::BFloat16 runs on bfloat16 here: the model on the CPU, and a CPU
    // with AVX512_BF16.
    bool bf16Available() const;
    // The process's setting (VITSCOPE_FAST_PATHS has bf16-text or bf16-image): the app's
    // switch starts there.
    static bool bf16ByDefault();
    // exp(logit_scale), clamped at 100: the softmax's inverse temperature.
    float logitScale() const { return m_logitScale; }
    // Prompts run through the text tower so far (cache misses).
    std::int64_t promptsEncoded();

private:
    struct Impl;
    explicit ClipSession(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
    ModelInfo m_info;
    float m_logitScale = 100;
    std::mutex m_mutex;
};

// softmax(scale * image . class) over the classes (plain C++; embeddings normalized).
std::vector<float> zeroShotProbabilities(const std::vector<float> &image,
                                         const std::vector<std::vector<float>> &classes, float scale);

} // namespace vitscope::engine
