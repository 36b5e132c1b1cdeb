// Replays every file of the given folders through the fuzz target, so that
// what the fuzzer once found stays fixed: a regression test of the normal
// build (tests/fuzz/regressions) and a smoke test of the seed corpus.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);

int main(int argc, char** argv)
{
    std::size_t count = 0;
    for (int k = 1; k < argc; ++k) {
        for (const auto& entry : std::filesystem::directory_iterator(argv[k])) {
            std::ifstream in(entry.path(), std::ios::binary);
            std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
            LLVMFuzzerTestOneInput(
                reinterpret_cast<const std::uint8_t*>(bytes.data()),
                bytes.size());
            ++count;
        }
    }
    std::cout << "replayed " << count << " inputs: no crash, no stray "
              << "exception\n";
    return count > 0 ? 0 : 1;
}
