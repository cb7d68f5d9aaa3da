#pragma once
// The JSON helpers of every file format here: whole files read and written (atomically),
// and numbers read from untrusted JSON.
//
// Reading numbers from untrusted JSON (config.json, preprocessor_config.json) without
// undefined behaviour: nlohmann's get<int64_t>() on 1e89 or get<float>() on 1e300 is an
// out-of-range conversion (UB; found by fuzz_config). These check the range first and
// throw FileError naming the file and the field.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/error.h"

namespace vitscope {

// Reads and parses a JSON file; FileError naming it when missing or malformed.
nlohmann::json readJsonFile(const std::string &path);
// Writes JSON (indented) atomically: a temporary file renamed over the target.
void writeJsonFile(const std::string &path, const nlohmann::json &j);

template <typename T>
void readJsonValue(const nlohmann::json &v, T &out, const std::string &source, const std::string &key)
{
    auto wrong = [&](const char *what) {
        throw FileError(source, "field " + key + " " + what + ": " + v.dump().substr(0, 80));
    };
    if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean())
            wrong("is not true or false");
        out = v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
        if (v.is_number_integer()) {
            if (v.is_number_unsigned() ? v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<T>::max())
                                       : (v.get<std::int64_t>() < std::int64_t(std::numeric_limits<T>::min()) ||
                                          v.get<std::int64_t>() > std::int64_t(std::numeric_limits<T>::max())))
                wrong("is out of range");
            out = v.is_number_unsigned() ? T(v.get<std::uint64_t>()) : T(v.get<std::int64_t>());
        } else if (v.is_number_float()) {
            const double d = v.get<double>();
            if (!std::isfinite(d) || d != std::floor(d) || d < double(std::numeric_limits<T>::min()) ||
                d >= std::ldexp(1.0, std::numeric_limits<T>::digits)) // max + 1, exact in a double
                wrong("is not an integer in range");
            out = T(d);
        } else {
            wrong("is not a number");
        }
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!v.is_number())
            wrong("is not a number");
        const double d = v.get<double>();
        if (!std::isfinite(d) || std::fabs(d) > double(std::numeric_limits<T>::max()))
            wrong("is out of range");
        out = T(d);
    } else if constexpr (std::is_same_v<T, std::vector<float>>) {
        if (!v.is_array())
            wrong("is not a list of numbers");
        std::vector<float> values(v.size());
        for (std::size_t i = 0; i < v.size(); ++i)
            readJsonValue(v[i], values[i], source, key + "[" + std::to_string(i) + "]");
        out = std::move(values);
    } else {
        try {
            v.get_to(out);
        } catch (const nlohmann::json::exception &) {
            wrong("has the wrong type");
        }
    }
}

// Reads j[key] into `out` when present and not null; leaves `out` alone otherwise.
template <typename T>
void readJsonField(const nlohmann::json &j, const char *key, T &out, const std::string &source)
{
    if (j.is_object() && j.contains(key) && !j[key].is_null())
        readJsonValue(j[key], out, source, key);
}

} // namespace vitscope
