// One resolver for a model spec (src/engine/model_spec.h): the CLI's --model and the
// app's sessions (the engine) must turn the same spec into the same model folder, for each
// kind of spec: a bundled name, a local folder whose path looks like a Hub id, and a Hub id
// answered from the Hugging Face cache (no network: HF_HUB_OFFLINE=1, a cache laid out by
// hand as huggingface_hub lays it out).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "common/cli_run.h"
#include "common/temp_dir.h"
#include "models/error.h"
#include "models/runtime/data_files.h"
#include "src/engine/model_spec.h"
#include "src/engine/sessions.h"

namespace fs = std::filesystem;
using vitscope::engine::ModelSpecKind;
using vitscope::engine::modelSpecKind;
using vitscope::engine::resolveModel;
using vitscope::test::runCli;

namespace {

// The folder `vitscope-cli info --model SPEC` reports, run with `env` and the test's cwd.
std::string cliFolder(const std::string &spec, const std::string &env = {})
{
    const auto r = runCli("info --model '" + spec + "'", env);
    EXPECT_EQ(r.status, 0) << r.err;
    return r.status == 0 ? nlohmann::json::parse(r.out).at("model").get<std::string>() : std::string();
}

// The folder the app's session reports for SPEC.
std::string appFolder(const std::string &spec)
{
    return vitscope::engine::MaeSession::load(spec, "cpu")->info().dir;
}

void copyModel(const fs::path &from, const fs::path &to)
{
    fs::create_directories(to);
    for (const char *name : {"config.json", "model.safetensors", "preprocessor_config.json"})
        fs::copy_file(from / name, to / name, fs::copy_options::overwrite_existing);
}

// Changes the working directory for the test's lifetime.
struct InDirectory {
    explicit InDirectory(const fs::path &dir) : before(fs::current_path()) { fs::current_path(dir); }
    ~InDirectory() { fs::current_path(before); }
    fs::path before;
};

} // namespace

TEST(ModelSpec, BundledNameResolvesToItsFolderInBothFrontEnds)
{
    const std::string dir = vitscope::resolveModelDir("fmnist-mae");
    EXPECT_EQ(modelSpecKind("fmnist-mae"), ModelSpecKind::Bundled);
    EXPECT_EQ(resolveModel("fmnist-mae"), dir);
    EXPECT_EQ(fs::path(dir).filename(), "fmnist-mae");
    EXPECT_EQ(cliFolder("fmnist-mae"), dir);
    EXPECT_EQ(appFolder("fmnist-mae"), dir);
}

TEST(ModelSpec, LocalFolderThatLooksLikeAHubIdIsTakenAsAPath)
{
    vitscope::test::TempDir tmp;
    copyModel(vitscope::resolveModelDir("fmnist-mae"), tmp.path() / "org" / "name");
    InDirectory cwd(tmp.path());
    // No Hub is asked: the endpoint is unreachable, and the cache is empty and offline.
    const std::string env = "HF_ENDPOINT=http://127.0.0.1:9 HF_HUB_OFFLINE=1 HF_HUB_CACHE='" +
                            (tmp.path() / "empty-cache").string() + "' ";
    EXPECT_EQ(modelSpecKind("org/name"), ModelSpecKind::Path);
    EXPECT_EQ(resolveModel("org/name"), "org/name");
    EXPECT_EQ(cliFolder("org/name", env), "org/name");
    EXPECT_EQ(appFolder("org/name"), "org/name");
}

TEST(ModelSpec, CachedHubIdResolvesToItsSnapshotWithoutTheNetwork)
{
    vitscope::test::TempDir tmp;
    const std::string commit = "0123456789abcdef0123456789abcdef01234567";
    const fs::path repo = tmp.path() / "hub" / "models--org--cached";
    const fs::path snapshot = repo / "snapshots" / commit;
    copyModel(vitscope::resolveModelDir("fmnist-mae"), snapshot);
    fs::create_directories(repo / "refs");
    std::ofstream(repo / "refs" / "main") << commit;
    setenv("HF_HUB_CACHE", (tmp.path() / "hub").c_str(), 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    const std::string env = "HF_HUB_CACHE='" + (tmp.path() / "hub").string() + "' HF_HUB_OFFLINE=1 ";
#ifdef VITSCOPE_WITH_HUB
    EXPECT_EQ(modelSpecKind("org/cached"), ModelSpecKind::HubId);
    EXPECT_EQ(resolveModel("org/cached"), snapshot.string());
    EXPECT_EQ(resolveModel("org/cached@" + commit), snapshot.string());
    EXPECT_EQ(cliFolder("org/cached", env), snapshot.string());
    EXPECT_EQ(appFolder("org/cached"), snapshot.string());
#else
    EXPECT_EQ(modelSpecKind("org/cached"), ModelSpecKind::HubId);
    try {
        resolveModel("org/cached");
        ADD_FAILURE() << "a build without the Hub client resolved a Hub id";
    } catch (const std::exception &e) {
        EXPECT_NE(std::string(e.what()).find("no Hugging Face Hub client"), std::string::npos) << e.what();
    }
#endif
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HUB_OFFLINE");
}

TEST(ModelSpec, NoneOfTheThreeIsOneLineNamingTheSpecAndTheKinds)
{
    EXPECT_EQ(modelSpecKind("no-such-model"), ModelSpecKind::Unknown);
    EXPECT_EQ(modelSpecKind(""), ModelSpecKind::Unknown);
    try {
        resolveModel("no-such-model");
        ADD_FAILURE() << "no error";
    } catch (const vitscope::FileError &e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("no-such-model"), std::string::npos) << m;
        EXPECT_NE(m.find("fmnist-mae, fmnist-clip"), std::string::npos) << m;
        EXPECT_NE(m.find("org/name or org/name@revision"), std::string::npos) << m;
    }
}
