#pragma once
// Digests of cache files (OpenSSL): what the Hub announces for a file is its sha256 (LFS
// files) or its git blob id (sha1 of "blob SIZE\0" + content), checked before a download
// enters the cache. Internal to vitscope_hub.

#include <string>

#include <openssl/evp.h>

namespace vitscope::hub {

// Hashes the bytes of `path` already on disk into `ctx` (a resumed download).
void hashExisting(EVP_MD_CTX *ctx, const std::string &path);
// Finishes `ctx` and returns its digest in lower-case hex.
std::string hexOf(EVP_MD_CTX *ctx);
// Hex digest of `path` with `md` (EVP_sha256(), EVP_sha1()), after `prefix`.
std::string fileDigest(const std::string &path, const EVP_MD *md, const std::string &prefix = {});

} // namespace vitscope::hub
