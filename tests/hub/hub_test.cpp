// The Hub client against a loopback server that answers as the Hub does (tests/common/
// fake_hub.h): the cache layout huggingface_hub uses, the weights picked from the file
// list, resume, integrity checks, retries, errors, offline mode and the token's scope.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/fake_hub.h"
#include "common/temp_dir.h"
#include "models/checkpoints/hf_folder.h"
#include "src/hub/hub.h"

using namespace vitscope;
using namespace vitscope::hub;
namespace fs = std::filesystem;

namespace {

std::string readFile(const fs::path &p)
{
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace

// A real model folder to serve: FAIR's fixture saved in Hugging Face layout. It and HubTest
// stay outside the anonymous namespace: TEST_F derives from HubTest at namespace scope.
struct ServedModel {
    test::TempDir dir;
    std::map<std::string, std::string> files;
    ServedModel()
    {
        LoadedMae m = loadMae(VITSCOPE_SOURCE_DIR "/tests/fixtures/checkpoints/mae_fair_full.pth");
        saveMaeFolder(m.model, m.processor, dir.file("hf"));
        for (const char *name : {"config.json", "model.safetensors", "preprocessor_config.json"})
            files[name] = readFile(dir.path() / "hf" / name);
    }
};

struct HubTest : ::testing::Test {
    test::FakeHub server;
    ServedModel model;
    test::TempDir cache;

    void SetUp() override
    {
        server.addFile("org/mae-tiny", "config.json", model.files["config.json"], false);
        server.addFile("org/mae-tiny", "preprocessor_config.json", model.files["preprocessor_config.json"], false);
        server.addFile("org/mae-tiny", "model.safetensors", model.files["model.safetensors"], true);
        // Files a model does not need, and a second weights format: never downloaded.
        server.addFile("org/mae-tiny", "README.md", "# tiny\n", false);
        server.addFile("org/mae-tiny", "pytorch_model.bin", std::string(1000, 'x'), true);
    }
    HubSettings settings() const
    {
        HubSettings s;
        s.endpoint = server.endpoint();
        s.cacheDir = cache.file("hub");
        s.firstBackoffSeconds = 0.01;
        s.maxAttempts = 4;
        return s;
    }
    template <typename F>
    std::string errorOf(F &&f)
    {
        try {
            f();
        } catch (const HubError &e) {
            return e.what();
        }
        return "(no error)";
    }
};

TEST(HubIds, ParseOrgNameAndRevision)
{
    auto a = parseRepoId("facebook/vit-mae-base");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->id, "facebook/vit-mae-base");
    EXPECT_EQ(a->revision, "main");
    EXPECT_EQ(a->cacheFolderName(), "models--facebook--vit-mae-base");
    auto b = parseRepoId("laion/CLIP-ViT-B-32-laion2B-s34B-b79K@refs-pr-3");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->revision, "refs-pr-3");
    for (const char *bad : {"fmnist-mae", "/abs/path", "a/b/c", "../x", "org/", "/name", "org/na me", "org/name@"})
        EXPECT_FALSE(parseRepoId(bad)) << bad;
    test::TempDir tmp; // an existing local folder named like an id stays a path
    fs::create_directories(tmp.path() / "org" / "name");
    const fs::path old = fs::current_path();
    fs::current_path(tmp.path());
    EXPECT_FALSE(parseRepoId("org/name"));
    fs::current_path(old);
}

TEST(HubIds, WeightsArePickedFromTheFileList)
{
    auto pick = [](std::vector<std::string> names) {
        RepoInfo info;
        info.repo.id = "o/n";
        for (auto &n : names)
            info.files.push_back(RepoFile{n, 1, {}, {}});
        std::vector<std::string> out;
        for (const auto &f : filesForModel(info))
            out.push_back(f.name);
        return out;
    };
    using V = std::vector<std::string>;
    EXPECT_EQ(pick({"config.json", "pytorch_model.bin", "model.safetensors", "README.md", "flax_model.msgpack"}),
              (V{"config.json", "model.safetensors"}));
    EXPECT_EQ(pick({"config.json", "pytorch_model.bin", "vocab.json", "merges.txt"}),
              (V{"config.json", "pytorch_model.bin", "vocab.json", "merges.txt"}));
    EXPECT_EQ(pick({"config.json", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin",
                    "pytorch_model-00002-of-00002.bin", "tf_model.h5"}),
              (V{"config.json", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin",
                 "pytorch_model-00002-of-00002.bin"}));
    EXPECT_EQ(pick({"open_clip_config.json", "open_clip_pytorch_model.bin", "open_clip_model.safetensors"}),
              (V{"open_clip_config.json", "open_clip_model.safetensors"}));
    EXPECT_THROW(pick({"README.md", "model.safetensors"}), HubError);
    EXPECT_THROW(pick({"config.json", "tf_model.h5"}), HubError);
}

TEST(HubIds, SettingsComeFromTheEnvironmentAsHuggingFaceHubReadsThem)
{
    test::TempDir home;
    std::ofstream(home.file("token")) << "hf_from_file\n";
    setenv("HF_HOME", home.path().c_str(), 1);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    HubSettings s = HubSettings::fromEnvironment();
    EXPECT_EQ(s.cacheDir, home.path().string() + "/hub");
    EXPECT_EQ(s.token, "hf_from_file");
    EXPECT_EQ(s.endpoint, "http://127.0.0.1:9");
    EXPECT_TRUE(s.offline);
    setenv("HF_TOKEN", "hf_env", 1);
    setenv("HF_HUB_CACHE", "/elsewhere", 1);
    s = HubSettings::fromEnvironment();
    EXPECT_EQ(s.token, "hf_env");
    EXPECT_EQ(s.cacheDir, "/elsewhere");
    for (const char *v : {"HF_HOME", "HF_TOKEN", "HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE"})
        unsetenv(v);
}

TEST_F(HubTest, PullsIntoTheHuggingFaceCacheLayoutAndTheModelLoads)
{
    HubClient client(settings());
    int calls = 0;
    const Snapshot s = client.fetchModel(*parseRepoId("org/mae-tiny"), [&](const Progress &p) {
        ++calls;
        EXPECT_LE(p.done, p.total);
        return true;
    });
    EXPECT_GT(calls, 0);
    const fs::path root = fs::path(cache.file("hub")) / "models--org--mae-tiny";
    EXPECT_EQ(s.commit, test::FakeHub::kCommit);
    EXPECT_EQ(fs::path(s.folder), root / "snapshots" / test::FakeHub::kCommit);
    EXPECT_EQ(readFile(root / "refs" / "main"), test::FakeHub::kCommit);
    // The LFS file: blobs/<sha256>, linked relatively from the snapshot.
    const std::string sha = test::digestHex(model.files["model.safetensors"], EVP_sha256());
    const fs::path link = fs::path(s.folder) / "model.safetensors";
    ASSERT_TRUE(fs::is_symlink(link));
    EXPECT_EQ(fs::read_symlink(link), fs::path("../../blobs") / sha);
    EXPECT_EQ(readFile(root / "blobs" / sha), model.files["model.safetensors"]);
    EXPECT_EQ(readFile(fs::path(s.folder) / "config.json"), model.files["config.json"]);
    // Only what the model needs.
    EXPECT_FALSE(fs::exists(fs::path(s.folder) / "README.md"));
    EXPECT_FALSE(fs::exists(fs::path(s.folder) / "pytorch_model.bin"));
    EXPECT_EQ(s.fetched.size(), 3u);
    // And it is the same model.
    LoadedMae a = loadMae(VITSCOPE_SOURCE_DIR "/tests/fixtures/checkpoints/mae_fair_full.pth");
    LoadedMae b = loadMae(s.folder);
    auto pb = b.model->named_parameters(true);
    for (const auto &p : a.model->named_parameters(true))
        EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

TEST_F(HubTest, SecondPullDownloadsNothingAndOfflineUsesTheCache)
{
    HubClient client(settings());
    client.fetchModel(*parseRepoId("org/mae-tiny"));
    const int blobs = server.blobBodies, small = server.smallBodies;
    const Snapshot again = client.fetchModel(*parseRepoId("org/mae-tiny"));
    EXPECT_TRUE(again.fetched.empty());
    EXPECT_EQ(server.blobBodies, blobs);
    EXPECT_EQ(server.smallBodies, small);

    HubSettings off = settings();
    off.offline = true;
    off.endpoint = "http://127.0.0.1:9"; // nothing listens: offline must not ask
    HubClient offline(off);
    const Snapshot s = offline.fetchModel(*parseRepoId("org/mae-tiny"));
    EXPECT_EQ(s.commit, test::FakeHub::kCommit);
    EXPECT_NO_THROW(loadMae(s.folder));
    const std::string err = errorOf([&] { offline.fetchModel(*parseRepoId("org/other")); });
    EXPECT_NE(err.find("not in the Hugging Face cache"), std::string::npos) << err;
    EXPECT_NE(err.find("HF_HUB_OFFLINE"), std::string::npos) << err;
}

TEST_F(HubTest, AnInterruptedDownloadResumesWithRange)
{
    server.cutDownloads = 1;
    HubClient client(settings());
    const Snapshot s = client.fetchModel(*parseRepoId("org/mae-tiny"));
    EXPECT_GE(server.rangeRequests, 1);
    EXPECT_EQ(readFile(fs::path(s.folder) / "model.safetensors"), model.files["model.safetensors"]);
}

TEST_F(HubTest, BytesThatDoNotMatchTheHashNeverEnterTheCache)
{
    server.wrongBytes = true;
    HubClient client(settings());
    const std::string err = errorOf([&] { client.fetchModel(*parseRepoId("org/mae-tiny")); });
    EXPECT_NE(err.find("sha256"), std::string::npos) << err;
    EXPECT_NE(err.find("/blobs/"), std::string::npos) << err; // the URL
    const fs::path root = fs::path(cache.file("hub")) / "models--org--mae-tiny";
    const std::string sha = test::digestHex(model.files["model.safetensors"], EVP_sha256());
    EXPECT_FALSE(fs::exists(root / "blobs" / sha));
    EXPECT_FALSE(fs::exists(root / "blobs" / (sha + ".incomplete")));
    EXPECT_FALSE(fs::exists(root / "snapshots" / test::FakeHub::kCommit / "model.safetensors"));
    EXPECT_FALSE(client.cachedModel(*parseRepoId("org/mae-tiny")));
}

TEST_F(HubTest, TransientFailuresAreRetriedAndLastingOnesNamed)
{
    server.serverErrors = 2;
    server.rateLimits = 1;
    HubClient client(settings());
    EXPECT_NO_THROW(client.fetchModel(*parseRepoId("org/mae-tiny")));

    server.serverErrors = 100;
    test::TempDir other;
    HubSettings s = settings();
    s.cacheDir = other.file("hub");
    std::string err = errorOf([&] { HubClient(s).fetchModel(*parseRepoId("org/mae-tiny")); });
    EXPECT_NE(err.find("server error (HTTP 503) after 4 attempts"), std::string::npos) << err;
    server.serverErrors = 0;

    err = errorOf([&] { HubClient(s).fetchModel(*parseRepoId("org/missing")); });
    EXPECT_NE(err.find("org/missing: repository not found"), std::string::npos) << err;
    EXPECT_NE(err.find("HF_TOKEN"), std::string::npos) << err;
    err = errorOf([&] { HubClient(s).fetchModel(*parseRepoId("org/mae-tiny@v9")); });
    EXPECT_NE(err.find("revision 'v9' not found"), std::string::npos) << err;
    server.gate("org/mae-tiny");
    err = errorOf([&] { HubClient(s).fetchModel(*parseRepoId("org/mae-tiny")); });
    EXPECT_NE(err.find("gated"), std::string::npos) << err;

    HubSettings nowhere = settings();
    nowhere.endpoint = "http://127.0.0.1:9";
    nowhere.maxAttempts = 2;
    err = errorOf([&] { HubClient(nowhere).fetchModel(*parseRepoId("org/mae-tiny")); });
    EXPECT_NE(err.find("http://127.0.0.1:9/api/models/org/mae-tiny"), std::string::npos) << err;
    EXPECT_NE(err.find("HF_HUB_OFFLINE"), std::string::npos) << err;
}

TEST_F(HubTest, TheTokenGoesToTheEndpointOnly)
{
    HubSettings s = settings();
    s.token = "hf_secret";
    HubClient(s).fetchModel(*parseRepoId("org/mae-tiny"));
    std::lock_guard<std::mutex> g(server.seen);
    ASSERT_FALSE(server.apiAuth.empty());
    for (const auto &a : server.apiAuth)
        EXPECT_EQ(a, "Bearer hf_secret");
    ASSERT_FALSE(server.cdnAuth.empty());
    for (const auto &a : server.cdnAuth)
        EXPECT_EQ(a, "") << "the storage host got the token";
}

TEST_F(HubTest, CancellingKeepsThePartialFileForALaterResume)
{
    HubClient client(settings());
    const std::string err = errorOf([&] {
        client.fetchModel(*parseRepoId("org/mae-tiny"), [](const Progress &p) { return p.file != "model.safetensors"; });
    });
    EXPECT_NE(err.find("cancelled"), std::string::npos) << err;
    EXPECT_FALSE(client.cachedModel(*parseRepoId("org/mae-tiny")));
    const Snapshot s = client.fetchModel(*parseRepoId("org/mae-tiny"));
    EXPECT_EQ(readFile(fs::path(s.folder) / "model.safetensors"), model.files["model.safetensors"]);
}

// A cache damaged by hand (issue 28): a truncated blob, a snapshot link whose blob is gone,
// a small file with the right size and wrong bytes, and a large one the same (found with
// verifyCached, as `pull --verify` sets it). Each is named, fetched again, and the model
// loads with the served bytes; nothing damaged is ever handed to the loader.
TEST_F(HubTest, ADamagedCacheIsRepairedBeforeTheModelLoads)
{
    HubClient client(settings());
    const auto repo = *parseRepoId("org/mae-tiny");
    const Snapshot first = client.fetchModel(repo);
    const fs::path snap(first.folder);
    const fs::path blobs = snap.parent_path().parent_path() / "blobs";
    const std::string weights = model.files["model.safetensors"];
    auto blobOf = [&](const std::string &name) { return fs::canonical(snap / name); };

    // 1. The weights' blob cut in half.
    fs::resize_file(blobOf("model.safetensors"), weights.size() / 2);
    Snapshot s = client.fetchModel(repo);
    ASSERT_EQ(s.repaired.size(), 1u);
    EXPECT_NE(s.repaired[0].find("model.safetensors: " + std::to_string(weights.size() / 2) +
                                 " bytes where the Hub announces " + std::to_string(weights.size())),
              std::string::npos)
        << s.repaired[0];
    EXPECT_EQ(s.fetched, std::vector<std::string>{"model.safetensors"});
    EXPECT_EQ(readFile(snap / "model.safetensors"), weights);

    // 2. config.json's blob deleted: the link dangles.
    fs::remove(blobOf("config.json"));
    ASSERT_TRUE(fs::is_symlink(snap / "config.json"));
    s = client.fetchModel(repo);
    EXPECT_TRUE(s.repaired.empty()) << "a dangling link is simply missing";
    EXPECT_EQ(s.fetched, std::vector<std::string>{"config.json"});
    EXPECT_EQ(readFile(snap / "config.json"), model.files["config.json"]);

    // 3. A small file with one byte changed, same size: its git blob id gives it away.
    {
        std::string bad = model.files["preprocessor_config.json"];
        bad[bad.size() / 2] ^= 0x20;
        std::ofstream(blobOf("preprocessor_config.json"), std::ios::binary | std::ios::trunc) << bad;
    }
    s = client.fetchModel(repo);
    ASSERT_EQ(s.repaired.size(), 1u);
    EXPECT_NE(s.repaired[0].find("git blob id"), std::string::npos) << s.repaired[0];
    EXPECT_EQ(readFile(snap / "preprocessor_config.json"), model.files["preprocessor_config.json"]);

    // 4. The weights with one byte changed, same size: only hashing finds it.
    {
        std::string bad = weights;
        bad[bad.size() - 3] ^= 0x01;
        std::ofstream(blobOf("model.safetensors"), std::ios::binary | std::ios::trunc) << bad;
    }
    EXPECT_TRUE(client.fetchModel(repo).repaired.empty()) << "sizes and small files only, by default";
    HubSettings verify = settings();
    verify.verifyCached = true;
    HubClient verifying(verify);
    const int blobsBefore = server.blobBodies;
    s = verifying.fetchModel(repo);
    ASSERT_EQ(s.repaired.size(), 1u);
    EXPECT_NE(s.repaired[0].find("sha256"), std::string::npos) << s.repaired[0];
    EXPECT_EQ(server.blobBodies, blobsBefore + 1);
    EXPECT_EQ(readFile(snap / "model.safetensors"), weights);
    EXPECT_TRUE(verifying.fetchModel(repo).repaired.empty());

    // Nothing left behind, and the model is the served one.
    for (const auto &e : fs::directory_iterator(blobs))
        EXPECT_EQ(e.path().extension(), "") << e.path();
    LoadedMae a = loadMae(VITSCOPE_SOURCE_DIR "/tests/fixtures/checkpoints/mae_fair_full.pth");
    LoadedMae b = loadMae(s.folder);
    auto pb = b.model->named_parameters(true);
    for (const auto &p : a.model->named_parameters(true))
        EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

// Offline the cache cannot be repaired, so a damaged file is named and never handed to
// the loader: a small file's bytes against its git blob id (its blob's name), and with
// verifyCached a large one's against its sha256. Nothing is removed; the next pull with the
// Hub repairs it.
TEST_F(HubTest, OfflineADamagedFileIsNamedAndNotLoaded)
{
    HubClient client(settings());
    const auto repo = *parseRepoId("org/mae-tiny");
    const fs::path snap(client.fetchModel(repo).folder);
    HubSettings off = settings();
    off.offline = true;
    off.endpoint = "http://127.0.0.1:9"; // nothing listens: offline must not ask
    EXPECT_NO_THROW(HubClient(off).fetchModel(repo)) << "an intact cache is answered as before";

    std::string bad = model.files["config.json"];
    bad[bad.size() / 2] ^= 0x20;
    { std::ofstream(fs::canonical(snap / "config.json"), std::ios::binary | std::ios::trunc) << bad; }
    std::string err = errorOf([&] { HubClient(off).fetchModel(repo); });
    EXPECT_NE(err.find((snap / "config.json").string() + ": damaged in the Hugging Face cache"), std::string::npos)
        << err;
    EXPECT_NE(err.find("git blob id"), std::string::npos) << err;
    EXPECT_NE(err.find("HF_HUB_OFFLINE"), std::string::npos) << err;
    EXPECT_EQ(readFile(snap / "config.json"), bad) << "nothing is removed offline";
    ASSERT_EQ(client.fetchModel(repo).repaired.size(), 1u) << "online, it is fetched again";
    EXPECT_NO_THROW(HubClient(off).fetchModel(repo));

    const std::string weights = model.files["model.safetensors"];
    fs::resize_file(fs::canonical(snap / "model.safetensors"), weights.size() / 2);
    off.verifyCached = true;
    err = errorOf([&] { HubClient(off).fetchModel(repo); });
    EXPECT_NE(err.find((snap / "model.safetensors").string()), std::string::npos) << err;
    EXPECT_NE(err.find("sha256"), std::string::npos) << err;
    // Without verifyCached the cache alone cannot tell; the loader then names the file.
    off.verifyCached = false;
    const Snapshot s = HubClient(off).fetchModel(repo);
    try {
        (void)loadMae(s.folder);
        ADD_FAILURE() << "a truncated safetensors file loaded";
    } catch (const std::exception &e) {
        EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
    }
}
