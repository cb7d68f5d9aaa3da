// Runs the built vitscope-cli as a user would and checks its output and exit status.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <sys/wait.h>

#include "common/temp_dir.h"
#include "vitscope/version.h"

namespace {

struct CliRun {
    int status = -1;
    std::string out;
    std::string err;
};

CliRun runCli(const std::string &args)
{
    vitscope::test::TempDir tmp;
    const std::string errFile = tmp.file("stderr");
    const std::string cmd = std::string("'") + VITSCOPE_CLI_PATH + "' " + args + " 2>'" + errFile + "'";
    CliRun r;
    FILE *p = popen(cmd.c_str(), "r");
    if (!p)
        return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        r.out.append(buf.data(), n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.err = vitscope::test::readBytes(errFile);
    return r;
}

} // namespace

TEST(Cli, VersionNamesVersionTorchAndDevice)
{
    const CliRun r = runCli("--version");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("vitscope-cli ") + VITSCOPE_VERSION), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("LibTorch "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("device: "), std::string::npos) << r.out;
}

TEST(Cli, HelpListsCommands)
{
    const CliRun r = runCli("--help");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("vitscope-cli data info"), std::string::npos) << r.out;
}

TEST(Cli, DataInfoPrintsJsonFromTheIdxFiles)
{
    if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist") && !std::getenv("VITSCOPE_FASHION_MNIST_DIR"))
        GTEST_SKIP() << "Fashion-MNIST absent";
    const CliRun r = runCli("data info --data fashion-mnist");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["splits"]["train"]["count"], 60000);
    EXPECT_EQ(j["splits"]["test"]["count"], 10000);
    EXPECT_EQ(j["image"]["height"], 28);
    EXPECT_EQ(j["image"]["width"], 28);
    EXPECT_EQ(j["image"]["channels"], 1);
    ASSERT_EQ(j["classes"].size(), 10u);
    EXPECT_EQ(j["classes"][0], "T-shirt/top");
    EXPECT_EQ(j["classes"][9], "Ankle boot");
    EXPECT_EQ(j["splits"]["test"]["per_class"], std::vector<int>(10, 1000));
}

TEST(Cli, MissingDataIsOneLineNamingTheFileAndExit1)
{
    const CliRun r = runCli("data info --data /nonexistent/dir");
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(r.err.rfind("vitscope-cli: error: /nonexistent/dir/train-images-idx3-ubyte.gz: missing", 0), 0u)
        << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Cli, UsageErrorsExit2WithUsage)
{
    for (const char *args : {"data info --bogus 1", "data info --data", "frobnicate", "data info extra"}) {
        const CliRun r = runCli(args);
        EXPECT_EQ(r.status, 2) << args << ": " << r.err;
        EXPECT_FALSE(r.err.empty()) << args;
    }
}
