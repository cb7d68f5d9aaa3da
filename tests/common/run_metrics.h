#pragma once
// Reading a run folder's metrics.jsonl in tests.
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vitscope::test {

// The "loss" of every "step" record, in order. Throws on a torn line: none may remain.
inline std::vector<double> stepLosses(const std::string &run)
{
    std::vector<double> losses;
    std::ifstream in(run + "/metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        if (j["type"] == "step")
            losses.push_back(j["loss"]);
    }
    return losses;
}

} // namespace vitscope::test
