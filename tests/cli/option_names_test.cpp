// vitscope-cli's options: one concept, one spelling.
#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "common/cli_run.h"

using vitscope::test::CliRun;
using vitscope::test::runCli;

// One concept, one spelling: every option every command documents (vitscope-cli --help),
// checked against groups of spellings that would name the same thing. A renamed option's
// old spelling must be gone from the help (it is still read, with a warning).
TEST(CliOptions, OneSpellingPerConcept)
{
    const CliRun help = runCli("--help");
    ASSERT_EQ(help.status, 0) << help.err;
    const std::string text = help.out + help.err;
    std::set<std::string> options;
    for (std::size_t i = text.find("--"); i != std::string::npos; i = text.find("--", i + 2)) {
        std::size_t j = i + 2;
        while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '-'))
            ++j;
        if (j > i + 2)
            options.insert(text.substr(i + 2, j - i - 2));
    }
    ASSERT_GT(options.size(), 40u) << "the help lists the commands' options";
    for (const char *expected : {"test-limit", "limit", "model", "device", "batch", "out", "seed"})
        EXPECT_TRUE(options.count(expected)) << "--" << expected << " missing from the help";
    const std::vector<std::vector<std::string>> sameConcept = {
        {"test-limit", "eval-limit", "test-count", "eval-count"},
        {"limit", "train-limit", "max-images", "num-images"},
        {"out", "output", "out-dir", "output-dir"},
        {"batch", "batch-size", "bs"},
        {"lr", "learning-rate"},
        {"base-lr", "blr"},
        {"model", "model-dir", "checkpoint-path", "weights"},
        {"data", "dataset", "data-dir"},
        {"device", "devices"},
        {"seed", "random-seed"},
        {"epochs", "num-epochs", "n-epochs"},
        {"image", "img", "input"},
        {"repeats", "reps", "iterations", "runs"},
        {"ratio", "mask-ratio"},
        {"mask", "mask-strategy", "masking"},
        {"workers", "num-workers", "loader-threads"},
        {"labels", "classes", "class-names"},
        {"templates", "prompts"},
    };
    for (const auto &group : sameConcept) {
        std::vector<std::string> present;
        for (const auto &name : group)
            if (options.count(name))
                present.push_back(name);
        EXPECT_LE(present.size(), 1u) << "one concept, " << present.size() << " spellings: --" << present[0]
                                       << " and --" << present[1];
    }
}
