#include "src/cli/args.h"

#include <cstdio>
#include <cstdlib>

namespace vitscope::cli {

Args::Args(std::vector<std::string> words, std::set<std::string> flags)
{
    bool optionsEnded = false;
    for (std::size_t i = 0; i < words.size(); ++i) {
        const std::string &w = words[i];
        if (!optionsEnded && w == "--") {
            optionsEnded = true;
            continue;
        }
        if (optionsEnded || w.rfind("--", 0) != 0) {
            m_positionals.push_back(w);
            continue;
        }
        std::string name = w.substr(2);
        std::optional<std::string> inlineValue;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inlineValue = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (flags.count(name)) {
            if (m_flags.count(name))
                throw UsageError("option --" + name + " given twice");
            if (inlineValue)
                throw UsageError("option --" + name + " takes no value");
            m_flags.insert(name);
            continue;
        }
        if (inlineValue) {
            m_values[name].push_back(*inlineValue);
        } else {
            if (i + 1 >= words.size())
                throw UsageError("option --" + name + " needs a value");
            m_values[name].push_back(words[++i]);
        }
    }
    for (const auto &[old, now] : kRenamedOptions) {
        auto it = m_values.find(old);
        if (it == m_values.end())
            continue;
        if (m_values.count(now))
            throw UsageError("option --" + now + " given twice (once as --" + old + ")");
        std::fprintf(stderr, "vitscope-cli: warning: --%s is now spelled --%s\n", old.c_str(), now.c_str());
        m_values[now] = it->second;
        m_values.erase(it);
    }
}

bool Args::flag(const std::string &name)
{
    m_used.insert(name);
    return m_flags.count(name) > 0;
}

std::optional<std::string> Args::value(const std::string &name)
{
    m_used.insert(name);
    auto it = m_values.find(name);
    if (it == m_values.end())
        return std::nullopt;
    if (it->second.size() > 1)
        throw UsageError("option --" + name + " given twice");
    return it->second.front();
}

std::vector<std::string> Args::values(const std::string &name)
{
    m_used.insert(name);
    auto it = m_values.find(name);
    return it == m_values.end() ? std::vector<std::string>{} : it->second;
}

std::vector<std::string> Args::positionals()
{
    m_positionalsUsed = true;
    return m_positionals;
}

std::string Args::value(const std::string &name, const std::string &fallback)
{
    return value(name).value_or(fallback);
}

std::string Args::required(const std::string &name)
{
    auto v = value(name);
    if (!v)
        throw UsageError("missing required option --" + name);
    return *v;
}

long long Args::integer(const std::string &name, long long fallback)
{
    auto v = value(name);
    if (!v)
        return fallback;
    char *end = nullptr;
    const long long n = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0')
        throw UsageError("option --" + name + " expects an integer, got '" + *v + "'");
    return n;
}

double Args::number(const std::string &name, double fallback)
{
    auto v = value(name);
    if (!v)
        return fallback;
    char *end = nullptr;
    const double x = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0')
        throw UsageError("option --" + name + " expects a number, got '" + *v + "'");
    return x;
}

void Args::finish() const
{
    if (!m_positionalsUsed && !m_positionals.empty())
        throw UsageError("unexpected argument '" + m_positionals.front() + "'");
    for (const auto &[name, value] : m_values)
        if (!m_used.count(name))
            throw UsageError("unknown option --" + name);
    for (const auto &name : m_flags)
        if (!m_used.count(name))
            throw UsageError("unknown option --" + name);
}

} // namespace vitscope::cli
