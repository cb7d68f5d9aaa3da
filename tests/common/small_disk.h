#pragma once
// A small tmpfs for the full-disk tests (issue 28): mounted on `path` (created), detached
// when the object goes. mount(2) needs root; elsewhere mounted() is false and why() says
// so, for GTEST_SKIP.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace vitscope::test {

class SmallDisk {
public:
    // `size` as tmpfs takes it: "4m", "96m".
    SmallDisk(std::string path, const std::string &size) : m_path(std::move(path))
    {
        std::filesystem::create_directories(m_path);
        if (::geteuid() != 0)
            m_why = "cannot mount a tmpfs here: needs root";
        else if (::mount("tmpfs", m_path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0)
            m_why = std::string("cannot mount a tmpfs here: ") + std::strerror(errno);
        else
            m_mounted = true;
    }
    ~SmallDisk()
    {
        if (m_mounted)
            ::umount2(m_path.c_str(), MNT_DETACH);
    }
    SmallDisk(const SmallDisk &) = delete;
    SmallDisk &operator=(const SmallDisk &) = delete;

    bool mounted() const { return m_mounted; }
    const std::string &why() const { return m_why; }
    const std::string &path() const { return m_path; }

    // Bytes an unprivileged writer may still use; 0 when statvfs fails.
    std::uint64_t available() const
    {
        struct statvfs st {};
        return ::statvfs(m_path.c_str(), &st) == 0 ? std::uint64_t(st.f_bavail) * st.f_frsize : 0;
    }

    // Writes PATH/filler until `leave` bytes are left. False when fewer than that were
    // free or a write failed.
    bool fillLeaving(std::uint64_t leave) const
    {
        const std::uint64_t free = available();
        if (free <= leave)
            return false;
        std::ofstream filler(m_path + "/filler", std::ios::binary);
        const std::string block(1 << 16, '\0');
        for (std::uint64_t left = free - leave; left > 0 && filler;) {
            const auto n = std::min<std::uint64_t>(left, block.size());
            filler.write(block.data(), std::streamsize(n));
            left -= n;
        }
        filler.close();
        return !filler.fail();
    }

private:
    std::string m_path;
    std::string m_why;
    bool m_mounted = false;
};

} // namespace vitscope::test
