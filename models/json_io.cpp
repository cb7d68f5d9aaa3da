#include "models/json_io.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace vitscope {

using nlohmann::json;

json readJsonFile(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        throw FileError(path, fs::exists(path) ? std::string("cannot open: ") + std::strerror(errno) : "missing");
    try {
        return json::parse(in);
    } catch (const json::parse_error &e) {
        throw FileError(path, std::string("not valid JSON: ") + e.what());
    }
}

void writeJsonFile(const std::string &path, const json &j)
{
    const std::string tmp = path + ".partial";
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out)
            throw FileError(path, std::string("cannot create: ") + std::strerror(errno));
        out << j.dump(2) << "\n";
        out.flush();
        if (!out) {
            const int err = errno; // what write(2) said: ENOSPC, EFBIG, EDQUOT, EIO...
            throw FileError(path, std::string("write failed (") + (err ? std::strerror(err) : "unknown error") + ")");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec)
        throw FileError(path, "cannot replace: " + ec.message());
}

} // namespace vitscope
