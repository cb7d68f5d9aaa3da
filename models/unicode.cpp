#include "models/unicode.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>

namespace vitscope {
namespace unicode {
namespace {

struct CodeRange {
    char32_t first, last;
};
struct LowerPair {
    char32_t from, to;
};
struct LowerText {
    char32_t from;
    const char *utf8;
};
struct HtmlEntity {
    const char *name; // may end in ';'
    const char *utf8;
};

#include "models/unicode_tables.inc"

template <std::size_t N>
bool inRanges(const CodeRange (&table)[N], char32_t c)
{
    auto it = std::upper_bound(std::begin(table), std::end(table), c,
                               [](char32_t v, const CodeRange &r) { return v < r.first; });
    return it != std::begin(table) && c <= std::prev(it)->last;
}

const HtmlEntity *findEntity(const std::string &name)
{
    auto it = std::lower_bound(std::begin(kHtmlEntities), std::end(kHtmlEntities), name,
                               [](const HtmlEntity &e, const std::string &n) { return std::strcmp(e.name, n.c_str()) < 0; });
    return it != std::end(kHtmlEntities) && name == it->name ? it : nullptr;
}

bool isHexDigit(char32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

} // namespace

std::u32string decodeUtf8(const std::string &text)
{
    std::u32string out;
    out.reserve(text.size());
    const auto *s = reinterpret_cast<const unsigned char *>(text.data());
    const std::size_t n = text.size();
    for (std::size_t i = 0; i < n;) {
        const unsigned char b = s[i];
        int len = 0;
        char32_t cp = 0, min = 0;
        if (b < 0x80) {
            out.push_back(b);
            ++i;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            len = 2, cp = b & 0x1F, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3, cp = b & 0x0F, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4, cp = b & 0x07, min = 0x10000;
        }
        bool ok = len > 0 && i + std::size_t(len) <= n;
        for (int k = 1; ok && k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80)
                ok = false;
            else
                cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = false;
        if (ok) {
            out.push_back(cp);
            i += std::size_t(len);
        } else {
            out.push_back(0xFFFD);
            ++i;
        }
    }
    return out;
}

std::string encodeUtf8(char32_t c)
{
    std::string out;
    if (c < 0x80) {
        out += char(c);
    } else if (c < 0x800) {
        out += char(0xC0 | (c >> 6));
        out += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += char(0xE0 | (c >> 12));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    } else {
        out += char(0xF0 | (c >> 18));
        out += char(0x80 | ((c >> 12) & 0x3F));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    }
    return out;
}

std::string encodeUtf8(const std::u32string &text)
{
    std::string out;
    out.reserve(text.size());
    for (char32_t c : text)
        out += encodeUtf8(c);
    return out;
}

bool isLetter(char32_t c) { return inRanges(kLetterRanges, c); }
bool isNumber(char32_t c) { return inRanges(kNumberRanges, c); }
bool isSpace(char32_t c) { return inRanges(kSpaceRanges, c); }

std::u32string toLower(const std::u32string &text)
{
    std::u32string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char32_t c = text[i];
        // Final sigma (Python's str.lower): capital sigma after a letter and not before one.
        if (c == 0x3A3) {
            const bool after = i > 0 && isLetter(text[i - 1]);
            const bool before = i + 1 < text.size() && isLetter(text[i + 1]);
            out.push_back(after && !before ? 0x3C2 : 0x3C3);
            continue;
        }
        if (c < 0x80) {
            out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
            continue;
        }
        auto it = std::lower_bound(std::begin(kLowerSingle), std::end(kLowerSingle), c,
                                   [](const LowerPair &p, char32_t v) { return p.from < v; });
        if (it != std::end(kLowerSingle) && it->from == c) {
            out.push_back(it->to);
            continue;
        }
        bool multi = false;
        for (const auto &m : kLowerMulti)
            if (m.from == c) {
                out += decodeUtf8(m.utf8);
                multi = true;
                break;
            }
        if (!multi)
            out.push_back(c);
    }
    return out;
}

// Python's html.unescape: the pattern &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// and html._replace_charref's rules, over code points.
std::u32string htmlUnescape(const std::u32string &s)
{
    if (s.find(U'&') == std::u32string::npos)
        return s;
    std::u32string out;
    out.reserve(s.size());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        if (s[i] != U'&' || i + 1 >= n) {
            out.push_back(s[i++]);
            continue;
        }
        std::size_t j = i + 1;
        if (s[j] == U'#') {
            const bool hex = j + 1 < n && (s[j + 1] == U'x' || s[j + 1] == U'X');
            std::size_t k = j + (hex ? 2 : 1), start = k;
            while (k < n && (hex ? isHexDigit(s[k]) : (s[k] >= U'0' && s[k] <= U'9')))
                ++k;
            if (k == start) { // no digits: not a reference
                out.push_back(s[i++]);
                continue;
            }
            // Arbitrarily long digit runs: anything past 0x10FFFF is U+FFFD anyway.
            uint64_t num = 0;
            for (std::size_t d = start; d < k; ++d) {
                const char32_t c = s[d];
                const uint64_t v = c <= U'9' ? c - U'0' : (c | 0x20) - U'a' + 10;
                num = std::min<uint64_t>(num * (hex ? 16 : 10) + v, uint64_t(0x7FFFFFFF));
            }
            if (k < n && s[k] == U';')
                ++k;
            i = k;
            bool done = false;
            for (const auto &r : kHtmlInvalidCharrefs)
                if (r.from == num) {
                    out.push_back(r.to);
                    done = true;
                    break;
                }
            if (done)
                continue;
            if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
                out.push_back(0xFFFD);
                continue;
            }
            if (std::find(std::begin(kHtmlInvalidCodepoints), std::end(kHtmlInvalidCodepoints), char32_t(num)) !=
                std::end(kHtmlInvalidCodepoints))
                continue;
            out.push_back(char32_t(num));
            continue;
        }
        // Named reference: up to 32 characters other than \t \n \f space < & # ;
        std::size_t k = j;
        while (k < n && k - j < 32 && s[k] != U'\t' && s[k] != U'\n' && s[k] != U'\f' && s[k] != U' ' &&
               s[k] != U'<' && s[k] != U'&' && s[k] != U'#' && s[k] != U';')
            ++k;
        if (k == j) {
            out.push_back(s[i++]);
            continue;
        }
        if (k < n && s[k] == U';')
            ++k;
        const std::u32string name = s.substr(j, k - j);
        i = k;
        if (const HtmlEntity *e = findEntity(encodeUtf8(name))) {
            out += decodeUtf8(e->utf8);
            continue;
        }
        bool replaced = false;
        for (std::size_t x = name.size() - 1; x > 1; --x) {
            if (const HtmlEntity *e = findEntity(encodeUtf8(name.substr(0, x)))) {
                out += decodeUtf8(e->utf8);
                out += name.substr(x);
                replaced = true;
                break;
            }
        }
        if (!replaced) {
            out.push_back(U'&');
            out += name;
        }
    }
    return out;
}

} // namespace unicode

} // namespace vitscope
