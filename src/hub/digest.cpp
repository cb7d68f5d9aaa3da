#include "src/hub/digest.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

namespace vitscope::hub {

void hashExisting(EVP_MD_CTX *ctx, const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), std::streamsize(buf.size()));
        if (in.gcount() > 0)
            EVP_DigestUpdate(ctx, buf.data(), std::size_t(in.gcount()));
    }
}

std::string hexOf(EVP_MD_CTX *ctx)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, out, &len);
    std::string hex;
    char two[3];
    for (unsigned int i = 0; i < len; ++i) {
        std::snprintf(two, sizeof two, "%02x", out[i]);
        hex += two;
    }
    return hex;
}

// Hex digest of `path` with `md` ("sha256", "sha1"), after `prefix`.
std::string fileDigest(const std::string &path, const EVP_MD *md, const std::string &prefix)
{
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX *)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestInit_ex(ctx.get(), md, nullptr);
    EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size());
    hashExisting(ctx.get(), path);
    return hexOf(ctx.get());
}

} // namespace vitscope::hub
