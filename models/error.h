#pragma once
// The core's exception type. Thrown for foreseeable failures (missing or corrupt files,
// wrong checkpoints, bad arguments); the message names the file and says what was
// expected and what was found. The CLI prints what() on one line; GUI workers emit it.

#include <stdexcept>
#include <string>

namespace vitscope {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Error about a file: the message reads "PATH: WHAT".
class FileError : public Error {
public:
    FileError(const std::string &path, const std::string &what)
        : Error(path + ": " + what), m_path(path) {}
    const std::string &path() const { return m_path; }

private:
    std::string m_path;
};

// Runs `check` (a config's validate(), say); an Error it throws becomes a FileError
// naming `source`, the file the checked values came from.
template <typename Check>
void checkFile(const std::string &source, Check &&check)
{
    try {
        check();
    } catch (const FileError &) {
        throw;
    } catch (const Error &e) {
        throw FileError(source, e.what());
    }
}

} // namespace vitscope
