#pragma once
// Reading a buffer of untrusted bytes front to back: every length is checked against the
// bytes left, and every failure is a FileError naming the file, the byte offset and what
// was wrong. The unpickler reads through one; not thread-safe (one reader, one cursor).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "models/error.h"

namespace vitscope {

class ByteCursor {
public:
    // `data` must outlive the cursor; `what` names the format in messages ("pickle").
    ByteCursor(const char *data, std::size_t size, const std::string &source, std::string what = "pickle")
        : m_p(reinterpret_cast<const unsigned char *>(data)), m_end(m_p + size), m_begin(m_p), m_source(source),
          m_what(std::move(what))
    {
    }

    [[noreturn]] void fail(const std::string &what) const
    {
        throw FileError(m_source, m_what + " at byte " + std::to_string(m_p - m_begin) + ": " + what);
    }

    const unsigned char *take(std::size_t n)
    {
        if (std::size_t(m_end - m_p) < n)
            fail("wants " + std::to_string(n) + " bytes, " + std::to_string(m_end - m_p) + " left (truncated?)");
        const unsigned char *at = m_p;
        m_p += n;
        return at;
    }
    uint64_t readLe(std::size_t n)
    {
        const unsigned char *b = take(n);
        uint64_t v = 0;
        for (std::size_t i = n; i-- > 0;)
            v = (v << 8) | b[i];
        return v;
    }
    std::string readBytes(uint64_t n)
    {
        if (n > uint64_t(m_end - m_p))
            fail("a string of " + std::to_string(n) + " bytes, only " + std::to_string(m_end - m_p) + " left");
        const unsigned char *b = take(std::size_t(n));
        return std::string(reinterpret_cast<const char *>(b), std::size_t(n));
    }
    std::string readLine()
    {
        const unsigned char *nl = static_cast<const unsigned char *>(std::memchr(m_p, '\n', std::size_t(m_end - m_p)));
        if (!nl)
            fail("a text argument without its newline");
        std::string s(reinterpret_cast<const char *>(m_p), std::size_t(nl - m_p));
        m_p = nl + 1;
        return s;
    }

protected:
    const unsigned char *m_p, *m_end, *m_begin;
    const std::string &m_source;
    std::string m_what;
};

} // namespace vitscope
