// Data-file lookup: $VITSCOPE_DATA_DIR first, then the installed share folder, then the
// source tree; --model arguments that are bundled names.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "models/runtime/data_files.h"
#include "vitscope/version.h"

using namespace vitscope;
namespace fs = std::filesystem;

namespace {

// Sets VITSCOPE_DATA_DIR for one test and restores it after.
class ScopedDataDir {
public:
    explicit ScopedDataDir(const std::string &dir)
    {
        if (const char *old = std::getenv("VITSCOPE_DATA_DIR"))
            m_old = old, m_had = true;
        ::setenv("VITSCOPE_DATA_DIR", dir.c_str(), 1);
    }
    ~ScopedDataDir()
    {
        if (m_had)
            ::setenv("VITSCOPE_DATA_DIR", m_old.c_str(), 1);
        else
            ::unsetenv("VITSCOPE_DATA_DIR");
    }

private:
    std::string m_old;
    bool m_had = false;
};

} // namespace

TEST(Resources, SourceTreeIsTheLastPlaceLooked)
{
    const auto dirs = dataDirs();
    ASSERT_FALSE(dirs.empty());
    EXPECT_EQ(dirs.back(), VITSCOPE_SOURCE_RESOURCES_DIR);
    EXPECT_EQ(findDataFile("templates/clip_templates.txt"),
              (fs::path(VITSCOPE_SOURCE_RESOURCES_DIR) / "templates/clip_templates.txt").string());
}

TEST(Resources, DataDirFromTheEnvironmentWins)
{
    test::TempDir tmp;
    fs::create_directories(tmp.path() / "models" / "fmnist-mae");
    test::writeBytes((tmp.path() / "models" / "fmnist-mae" / "config.json").string(), "{}");
    ScopedDataDir env(tmp.path().string());
    EXPECT_EQ(dataDirs().front(), tmp.path().string());
    EXPECT_EQ(fs::path(resolveModelDir("fmnist-mae")), tmp.path() / "models" / "fmnist-mae");
    // Not in the override: found further down the list (the source tree has the templates).
    EXPECT_EQ(findDataFile("templates/clip_templates.txt"),
              (fs::path(VITSCOPE_SOURCE_RESOURCES_DIR) / "templates/clip_templates.txt").string());
}

TEST(Resources, BundledModelsAreInTheSourceTree)
{
    const auto names = bundledModelNames();
    EXPECT_NE(std::find(names.begin(), names.end(), "fmnist-mae"), names.end());
    EXPECT_NE(std::find(names.begin(), names.end(), "fmnist-clip"), names.end());
    EXPECT_TRUE(fs::exists(fs::path(resolveModelDir("fmnist-clip")) / "vocab.json"));
}

TEST(Resources, ModelArgumentsThatAreNeitherFolderNorBundledName)
{
    test::TempDir tmp;
    EXPECT_EQ(resolveModelDir(tmp.path().string()), tmp.path().string()) << "a folder is taken as it is";
    test::expectFileError([] { resolveModelDir("fmnist-vae"); }, "fmnist-vae", "missing: no such file or folder, and not a bundled model name (fmnist-mae, fmnist-clip)");
    test::writeBytes(tmp.file("file.pth"), "{}");
    EXPECT_EQ(resolveModelDir(tmp.file("file.pth")), tmp.file("file.pth")) << "a checkpoint file is taken as it is";
    test::expectFileError([] { findDataFile("templates/none.txt"); }, "templates/none.txt", "not found in the data folders");
}
