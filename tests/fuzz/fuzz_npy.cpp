// Fuzz target for the .npy reading path (libFuzzer). Any input must end in
// a loaded array or an book::npy_error: no crash, no other exception, no
// memory error under AddressSanitizer. Run: sh code/tools/fuzz_npy.sh
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include <unistd.h>

#include "book/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    static const std::string path =
        "/tmp/fuzz_npy_" + std::to_string(::getpid()) + ".npy";
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data),
                  static_cast<std::streamsize>(size));
    }
    try {
        auto t = book::load_npy<2>(path);
        (void)t;
    } catch (const book::npy_error&) {
    }
    try {
        auto t = book::load_npy<1>(path, true);
        (void)t;
    } catch (const book::npy_error&) {
    }
    try {
        auto m = book::load_mask_npy(path);
        (void)m;
    } catch (const book::npy_error&) {
    }
    return 0;
}
