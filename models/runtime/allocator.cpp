#include "models/runtime/allocator.h"

#include <climits>
#include <cstdlib>
#include <cstring>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace vitscope {

AllocatorSetting allocatorSettingFor(const std::function<const char *(const char *)> &env, bool glibc)
{
    const auto set = [&env](const char *name) {
        const char *v = env(name);
        return v && *v;
    };
    if (!glibc)
        return {false, "the C library's own (not glibc)"};
    if (const char *v = env("VITSCOPE_MALLOC"); v && std::strcmp(v, "glibc") == 0)
        return {false, "glibc's defaults (VITSCOPE_MALLOC=glibc)"};
    for (const char *name : {"MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"})
        if (set(name))
            return {false, std::string("glibc as the environment sets it (") + name + ")"};
    if (const char *v = env("GLIBC_TUNABLES"); v && std::strstr(v, "glibc.malloc."))
        return {false, "glibc as the environment sets it (GLIBC_TUNABLES)"};
    if (const char *v = env("LD_PRELOAD"); v && std::strstr(v, "malloc"))
        return {false, "the preloaded allocator (LD_PRELOAD)"};
    return {true, "glibc, heaps kept (no mmap per block, no trim on free)"};
}

const AllocatorSetting &configureAllocator()
{
#ifdef __GLIBC__
    constexpr bool glibc = true;
#else
    constexpr bool glibc = false;
#endif
    static const AllocatorSetting setting = [] {
        AllocatorSetting s = allocatorSettingFor([](const char *name) { return std::getenv(name); }, glibc);
#ifdef __GLIBC__
        if (s.keep) {
            // Each call also turns off glibc's adaptive thresholds, so both are needed: the
            // trim threshold alone leaves every block over 128 KiB to mmap.
            const bool mmapOff = mallopt(M_MMAP_MAX, 0) == 1;
            const bool trimOff = mmapOff && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
            if (!trimOff) {
                if (mmapOff) // one without the other is neither setting: mmap back on (glibc's default count)
                    mallopt(M_MMAP_MAX, 65536);
                s = {false, "glibc's defaults (mallopt refused the setting)"};
            }
        }
#endif
        return s;
    }();
    return setting;
}

} // namespace vitscope
