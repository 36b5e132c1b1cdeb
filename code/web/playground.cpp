// The playgrounds, compiled twice from this one file:
//
//  * by Emscripten (em++) into book_playground.js, the WebAssembly module
//    that the book's pages load: `book_run(name, input)` is what
//    code/web/book_playgrounds.js calls. That build has no BLAS: its
//    include path puts code/web/no_blas first (the library's products as
//    plain loops);
//  * by g++ into the native program `book_playground`, with the library as
//    the tests use it (BLAS included):
//
//        book_playground NAME [INPUT_FILE]     (the input on stdin if none)
//        book_playground --list
//
//    It prints the outputs as text, or one line `error: ...` on stderr and
//    exits 2. tests/playground_check.py compares its numbers with the page's.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "web/playground.hpp"

// One file per chapter; a chapter without a playground has none.
#include "web/pg_ch00.hpp"
#if __has_include("web/pg_ch01.hpp")
#include "web/pg_ch01.hpp"
#endif
#if __has_include("web/pg_ch02.hpp")
#include "web/pg_ch02.hpp"
#endif
#if __has_include("web/pg_ch03.hpp")
#include "web/pg_ch03.hpp"
#endif
#if __has_include("web/pg_ch04.hpp")
#include "web/pg_ch04.hpp"
#endif
#if __has_include("web/pg_ch05.hpp")
#include "web/pg_ch05.hpp"
#endif
#if __has_include("web/pg_ch06.hpp")
#include "web/pg_ch06.hpp"
#endif
#if __has_include("web/pg_ch07.hpp")
#include "web/pg_ch07.hpp"
#endif
#if __has_include("web/pg_ch08.hpp")
#include "web/pg_ch08.hpp"
#endif

#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>

extern "C" {
/// Runs playground `name` on `input` (text); the result stays valid until
/// the next call.
EMSCRIPTEN_KEEPALIVE const char* book_run(const char* name, const char* input)
{
    static std::string result;
    result = web::run(name, input);
    return result.c_str();
}
}

#else

int main(int argc, char** argv)
{
    if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
        for (const auto& entry : web::registry()) {
            std::cout << entry.first << "\n";
        }
        return 0;
    }
    if (argc < 2 || argc > 3 || argv[1][0] == '-') {
        std::cerr << "usage: book_playground NAME [INPUT_FILE] | --list "
                     "(got " << argc - 1 << " arguments)\n";
        return 2;
    }
    std::string text;
    if (argc == 3) {
        std::ifstream file(argv[2]);
        if (!file) {
            std::cerr << "book_playground: cannot read '" << argv[2] << "'\n";
            return 2;
        }
        text.assign(std::istreambuf_iterator<char>(file), {});
    } else {
        text.assign(std::istreambuf_iterator<char>(std::cin), {});
    }
    const std::string out = web::run(argv[1], text);
    if (out.rfind("error: ", 0) == 0) {
        std::cerr << "book_playground: " << out.substr(7);
        return 2;
    }
    std::cout << out;
    return 0;
}

#endif
