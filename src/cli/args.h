#pragma once
// A small command-line reader for vitscope-cli: `--name value`, `--name=value`,
// boolean `--flag`s and plain positional words after a command word. Unknown options,
// options repeated where one value is expected, positional words a command does not
// take and missing values throw UsageError, which main() reports with the command's
// usage (exit 2).

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace vitscope::cli {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Options renamed so that one concept has one spelling: {old, new}. The old spelling is
// still read as the new one, with a warning on stderr.
inline const std::vector<std::pair<std::string, std::string>> kRenamedOptions = {
    {"eval-limit", "test-limit"},
};

class Args {
public:
    // `words` are the arguments after the command word(s). `flags` names the options
    // that take no value; every other --option takes one.
    Args(std::vector<std::string> words, std::set<std::string> flags);

    bool flag(const std::string &name);
    // The single value of an option (UsageError when it was given more than once).
    std::optional<std::string> value(const std::string &name);
    // Every value of a repeatable option, in command-line order.
    std::vector<std::string> values(const std::string &name);
    // The words that are not options, in order (`--` ends options).
    std::vector<std::string> positionals();
    std::string value(const std::string &name, const std::string &fallback);
    std::string required(const std::string &name);
    long long integer(const std::string &name, long long fallback);
    double number(const std::string &name, double fallback);

    // Throws UsageError naming any option or positional word that was never asked for.
    void finish() const;

private:
    std::map<std::string, std::vector<std::string>> m_values;
    std::vector<std::string> m_positionals;
    std::set<std::string> m_flags;
    std::set<std::string> m_used;
    bool m_positionalsUsed = false;
};

} // namespace vitscope::cli
