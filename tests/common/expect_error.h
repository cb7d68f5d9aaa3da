#pragma once
// Expects `f` to throw vitscope::FileError whose message starts with "PATH: " and
// contains `needle`.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "models/error.h"

namespace vitscope::test {

inline void expectFileError(const std::function<void()> &f, const std::string &path, const std::string &needle)
{
    try {
        f();
        ADD_FAILURE() << "no error for " << path;
    } catch (const vitscope::FileError &e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
        EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
    }
}

} // namespace vitscope::test
