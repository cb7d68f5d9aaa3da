#pragma once
// The Unicode that CLIP's tokenizer needs, without ICU: UTF-8 both ways, Python's letter,
// number and space classes, str.lower() and html.unescape. The tables are generated from
// Python (models/gen_unicode_tables.py), so the results are those of the Python original.
// Torch-free; every function is pure and thread-safe.

#include <string>

namespace vitscope {

namespace unicode {
// Invalid UTF-8 decodes to U+FFFD per bad byte.
std::u32string decodeUtf8(const std::string &text);
std::string encodeUtf8(const std::u32string &text);
std::string encodeUtf8(char32_t c);
bool isLetter(char32_t c); // general category L*
bool isNumber(char32_t c); // general category N*
bool isSpace(char32_t c);  // Python's str.isspace()
// Python's str.lower(), final sigma included (approximated: "after a letter, not before one").
std::u32string toLower(const std::u32string &text);
// Python's html.unescape (HTML5 named and numeric character references).
std::u32string htmlUnescape(const std::u32string &text);
} // namespace unicode

} // namespace vitscope
