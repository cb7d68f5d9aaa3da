// vitscope-cli: the headless front end. Thin: parses the command word(s) and hands the
// rest to src/cli/commands.cpp.
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "models/runtime/device.h"
#include "src/cli/commands.h"
#include "src/cli/launch.h"

namespace {

using vitscope::cli::Command;

std::string usageLine(const Command &c)
{
    std::string line = "vitscope-cli";
    for (const auto &w : c.words)
        line += " " + w;
    return line + " " + c.options;
}

void printHelp(std::ostream &os)
{
    os << "vitscope-cli: explore, train and evaluate MAE and CLIP models from the command line.\n\n"
          "Usage:\n";
    for (const auto &c : vitscope::cli::commands())
        os << "  " << usageLine(c) << "\n      " << c.summary << "\n";
    os << "\nOptions:\n  -h, --help     this help\n  -v, --version  version, LibTorch and device\n\n"
          "Output is JSON on stdout; errors are one line on stderr with a non-zero exit status\n"
          "(1: the command failed, 2: the command line was wrong).\n"
          "Environment: VITSCOPE_DEVICE=cpu|cuda|cuda:N, VITSCOPE_FASHION_MNIST_DIR=DIR; for --model ORG/NAME\n"
          "and pull: HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE (as huggingface_hub).\n";
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<std::string> words(argv + 1, argv + argc);
    if (words.empty() || words[0] == "-h" || words[0] == "--help" || words[0] == "help") {
        printHelp(std::cout);
        return words.empty() ? 2 : 0;
    }
    try {
        vitscope::initTorchRuntime();
        if (words[0] == "-v" || words[0] == "--version") {
            std::cout << vitscope::cli::versionText();
            return 0;
        }
        const Command *match = nullptr;
        for (const auto &c : vitscope::cli::commands()) {
            if (words.size() >= c.words.size() && std::equal(c.words.begin(), c.words.end(), words.begin()) &&
                (!match || c.words.size() > match->words.size()))
                match = &c;
        }
        if (!match) {
            std::cerr << "vitscope-cli: unknown command '" << words[0] << "' (see vitscope-cli --help)\n";
            return 2;
        }
        std::vector<std::string> rest(words.begin() + static_cast<long>(match->words.size()), words.end());
        if (std::find(rest.begin(), rest.end(), "--help") != rest.end()) {
            std::cout << "usage: " << usageLine(*match) << "\n  " << match->summary << "\n";
            return 0;
        }
        try {
            // --nproc-per-node N: this process becomes the launcher of N local ranks.
            const auto &w = match->words;
            if (w == std::vector<std::string>{"train", "mae"} || w == std::vector<std::string>{"train", "clip"} ||
                w == std::vector<std::string>{"resume"} || w == std::vector<std::string>{"bench", "allreduce"}) {
                const int nproc = vitscope::cli::takeNprocPerNode(rest);
                if (nproc > 1 && (std::getenv("RANK") || std::getenv("WORLD_SIZE")))
                    throw vitscope::cli::UsageError("--nproc-per-node starts its own ranks, but RANK / WORLD_SIZE are set "
                                                    "(torchrun or a script launched this process): drop one of the two");
                if (nproc > 1)
                    return vitscope::cli::launchLocalRanks(w, rest, nproc);
            }
            vitscope::cli::Args args(rest, match->flags);
            return match->run(args);
        } catch (const vitscope::cli::UsageError &e) {
            std::cerr << "vitscope-cli: " << e.what() << "\nusage: " << usageLine(*match) << "\n";
            return 2;
        }
    } catch (const std::exception &e) {
        // One line: LibTorch's messages carry a multi-line backtrace after the first line.
        std::string msg = e.what();
        if (auto nl = msg.find('\n'); nl != std::string::npos)
            msg.resize(nl);
        std::cerr << "vitscope-cli: error: " << msg << "\n";
        return 1;
    }
}
