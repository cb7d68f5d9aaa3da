#pragma once
// An advisory lock (flock) on a file of the cache's .locks folder, as huggingface_hub takes
// them, so that two processes filling one cache never write the same blob at once. Held
// from construction to destruction; a lock file that cannot be opened locks nothing.

#include <filesystem>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace vitscope::hub {

class FileLock {
public:
    explicit FileLock(const std::filesystem::path &path)
    {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
        m_fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
        if (m_fd >= 0)
            ::flock(m_fd, LOCK_EX);
    }
    ~FileLock()
    {
        if (m_fd >= 0) {
            ::flock(m_fd, LOCK_UN);
            ::close(m_fd);
        }
    }
    FileLock(const FileLock &) = delete;
    FileLock &operator=(const FileLock &) = delete;

private:
    int m_fd = -1;
};

} // namespace vitscope::hub
