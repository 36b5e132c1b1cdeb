// The command line every chapter program shares, built on cxxopts:
//   --help        print the usage and exit 0
//   --seed N      seed of the program's random numbers (default 1)
//   --load DIR    read the chapter's inputs from DIR/<symbol>.npy
//   --save DIR    write what the program computes to DIR/<symbol>.npy
//   --out DIR     write the data behind the chapter's figures and tables
// A bad flag, a bad value, a wrong shape or a damaged file ends the program
// with one line on standard error and exit status 2.
#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>

#include <cxxopts.hpp>

#include "attention/npy.hpp"

/// \file
/// \brief The command line shared by the chapter programs.

namespace attn {

/// \brief A bad command line: an unknown flag, a bad value, a missing
///        companion flag. Programs report it and exit 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// \brief The options every chapter program has.
struct common_args {
    std::uint64_t seed = 1;  ///< `--seed N`
    std::string load_dir;    ///< `--load DIR`, empty if not given
    std::string save_dir;    ///< `--save DIR`, empty if not given
    std::string out_dir;     ///< `--out DIR`, empty if not given
};

/// \brief `dir/name`, as a string.
/// \param dir  a directory
/// \param name a file name inside it
/// \return the joined path
inline std::string path_in(const std::string& dir, const std::string& name)
{
    return (std::filesystem::path(dir) / name).string();
}

/// \brief Parses the common options plus the program's own, runs `body`,
///        and turns every error into one line on standard error.
///
/// \param argc  from `main`
/// \param argv  from `main`
/// \param name  the program's name, which starts every error line
/// \param about one sentence on what the program does, for `--help`
/// \param add_options called with the `cxxopts::Options` to add the
///        program's own flags
/// \param body  called with the parse result and the common options; its
///        return value is the exit status
/// \return the exit status: `body`'s, 0 after `--help`, 2 for bad input
///         (usage, shapes, files), 1 for anything unexpected
template <class AddOptions, class Body>
int run_program(int argc, char** argv, const std::string& name,
                const std::string& about, AddOptions add_options, Body body)
{
    try {
        cxxopts::Options options(name, about);
        options.add_options()
            ("h,help", "print this help and exit")
            ("seed", "seed of the random numbers",
             cxxopts::value<std::uint64_t>()->default_value("1"))
            ("load", "read the inputs from DIR/<symbol>.npy",
             cxxopts::value<std::string>(), "DIR")
            ("save", "write the results to DIR/<symbol>.npy",
             cxxopts::value<std::string>(), "DIR")
            ("out", "write the data of the chapter's figures and tables to "
             "DIR", cxxopts::value<std::string>(), "DIR");
        add_options(options);
        cxxopts::ParseResult result;
        try {
            result = options.parse(argc, argv);
        } catch (const cxxopts::exceptions::exception& e) {
            throw usage_error(std::string(e.what()) + " (see --help)");
        }
        if (!result.unmatched().empty()) {
            throw usage_error("unexpected argument '" + result.unmatched()[0]
                              + "' (see --help)");
        }
        if (result.count("help")) {
            std::cout << options.help() << '\n';
            return 0;
        }
        common_args args;
        try {
            args.seed = result["seed"].as<std::uint64_t>();
        } catch (const cxxopts::exceptions::exception& e) {
            throw usage_error(std::string(e.what()) + " (see --help)");
        }
        for (auto [flag, dir] : {std::pair{"load", &args.load_dir},
                                 std::pair{"save", &args.save_dir},
                                 std::pair{"out", &args.out_dir}}) {
            if (result.count(flag)) {
                *dir = result[flag].template as<std::string>();
                if (dir->empty()) {
                    throw usage_error(std::string("--") + flag
                                      + " needs a directory");
                }
            }
        }
        if (!args.load_dir.empty()
            && !std::filesystem::is_directory(args.load_dir)) {
            throw usage_error("--load " + args.load_dir
                              + ": expected a directory, found none");
        }
        for (const auto* dir : {&args.save_dir, &args.out_dir}) {
            if (!dir->empty()) {
                std::filesystem::create_directories(*dir);
            }
        }
        return body(result, args);
    } catch (const usage_error& e) {
        std::cerr << name << ": error: " << e.what() << '\n';
    } catch (const npy_error& e) {
        std::cerr << name << ": error: " << e.what() << '\n';
    } catch (const std::invalid_argument& e) {
        std::cerr << name << ": error: " << e.what() << '\n';
    } catch (const cxxopts::exceptions::exception& e) {
        std::cerr << name << ": error: " << e.what() << " (see --help)\n";
    } catch (const std::filesystem::filesystem_error& e) {
        std::cerr << name << ": error: " << e.what() << '\n';
    } catch (const std::exception& e) {
        std::cerr << name << ": internal error: " << e.what() << '\n';
        return 1;
    }
    return 2;
}

}  // namespace attn
