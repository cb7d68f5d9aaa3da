#pragma once
// A small command-line reader for vitscope-cli: `--name value`, `--name=value` and
// boolean `--flag`s after a command word. Unknown or repeated options and missing
// values throw UsageError, which main() reports with the command's usage (exit 2).

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace vitscope::cli {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Args {
public:
    // `words` are the arguments after the command word(s). `flags` names the options
    // that take no value; every other --option takes one.
    Args(std::vector<std::string> words, std::set<std::string> flags);

    bool flag(const std::string &name);
    std::optional<std::string> value(const std::string &name);
    std::string value(const std::string &name, const std::string &fallback);
    std::string required(const std::string &name);
    long long integer(const std::string &name, long long fallback);
    double number(const std::string &name, double fallback);

    // Throws UsageError naming any option that was given but never asked for.
    void finish() const;

private:
    std::map<std::string, std::string> m_values;
    std::set<std::string> m_flags;
    std::set<std::string> m_used;
};

} // namespace vitscope::cli
