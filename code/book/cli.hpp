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
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

// cxxopts reads flags with std::regex unless told not to; its regexes,
// built in every program that includes this header, cost about 6 s of
// compilation per program. Its hand-written parser, chosen here, reads
// every flag the programs have; tests/program_errors.py checks their
// answers to bad ones.
#define CXXOPTS_NO_REGEX
#include <cxxopts.hpp>

#include "book/npy.hpp"

/// \file
/// \brief The command line shared by the chapter programs.

namespace book {

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

/// \brief Joins words as English does: "a", "a and b", "a, b and c".
/// \param items the words
/// \return the joined list
inline std::string and_list(const std::vector<std::string>& items)
{
    std::string s;
    for (std::size_t k = 0; k < items.size(); ++k) {
        s += (k == 0 ? "" : k + 1 == items.size() ? " and " : ", ")
             + items[k];
    }
    return s;
}

/// \brief The one answer of a program whose results need inputs to
///        `--save` without `--load`: a usage error naming the inputs.
/// \param args   the common options
/// \param inputs the input files, for the message ("X.npy and W_q.npy")
/// \throws usage_error if `--save` came without `--load`
inline void expect_load_with_save(const common_args& args,
                                  const std::string& inputs)
{
    if (!args.save_dir.empty() && args.load_dir.empty()) {
        throw usage_error("--save needs --load DIR holding the inputs "
                          + inputs + " (see --help)");
    }
}

namespace detail {

inline void save_each(const std::string&, std::vector<std::string>&) {}

template <class T, class... Rest>
void save_each(const std::string& dir, std::vector<std::string>& written,
               const std::string& name, const T& array, const Rest&... rest)
{
    save_npy(path_in(dir, name), array);
    written.push_back(name + " " + shape_string(array.shape()));
    save_each(dir, written, rest...);
}

}  // namespace detail

/// \brief Saves arrays as `.npy` files in the `--save` folder (the current
///        folder if none was given), then prints one line naming each file
///        with its shape: `save_outputs(dir, "A.npy", a, "Y.npy", y)`.
/// \param save_dir the `--save` folder, or empty
/// \param named    pairs of arguments: a file name, then its array
/// \throws npy_error if a file cannot be written
template <class... NamesAndArrays>
void save_outputs(const std::string& save_dir,
                  const NamesAndArrays&... named)
{
    static_assert(sizeof...(named) % 2 == 0,
                  "save_outputs takes a file name, then its array, in pairs");
    const std::string dir = save_dir.empty() ? "." : save_dir;
    std::vector<std::string> written;
    detail::save_each(dir, written, named...);
    std::cout << "wrote " << and_list(written) << " to " << dir << '\n';
}

namespace detail {

// The text between cxxopts' quotes in one of its messages, for example
// "nope" in "Option \u2018nope\u2019 does not exist".
inline std::string quoted_in(const std::string& message)
{
    const std::string open = "\u2018", close = "\u2019";
    const auto start = message.find(open);
    const auto end = start == std::string::npos
                         ? std::string::npos
                         : message.find(close, start + open.size());
    if (end == std::string::npos) {
        return message;
    }
    return message.substr(start + open.size(), end - start - open.size());
}

// Does `options` accept `value` for the flag `--name`?
inline bool accepts(cxxopts::Options& options, const std::string& name,
                    const std::string& value)
{
    std::string prog = "probe", flag = "--" + name + "=" + value;
    char* args[] = {prog.data(), flag.data()};
    try {
        options.parse(2, args);
    } catch (const cxxopts::exceptions::exception&) {
        return false;
    }
    return true;
}

// Is `--name` a flag without a value, such as `--help`?
inline bool is_boolean(const cxxopts::Options& options,
                       const std::string& name)
{
    for (const auto& group : options.groups()) {
        for (const auto& o : options.group_help(group).options) {
            for (const auto& long_name : o.l) {
                if (long_name == name) {
                    return o.is_boolean;
                }
            }
        }
    }
    return false;
}

// cxxopts says "Argument 'abc' failed to parse" without naming the flag.
// Find the flag on the command line whose value it refused, and say what
// that flag expects: "--heads: expected a whole number, 0 or more, got
// '-1'".
inline std::string bad_value_message(cxxopts::Options& options, int argc,
                                     char** argv, const std::string& what)
{
    for (int k = 1; k < argc; ++k) {
        const std::string token = argv[k];
        if (token.size() < 3 || token.compare(0, 2, "--") != 0) {
            continue;
        }
        const auto eq = token.find('=');
        const std::string name = token.substr(2, eq == std::string::npos
                                                     ? std::string::npos
                                                     : eq - 2);
        std::string value;
        if (eq != std::string::npos) {
            value = token.substr(eq + 1);
        } else if (k + 1 < argc) {
            value = argv[k + 1];
        }
        if ((eq == std::string::npos && is_boolean(options, name))
            || accepts(options, name, value)) {
            continue;
        }
        std::string expected = "a valid value";
        if (is_boolean(options, name)) {
            expected = "true or false";
        } else if (accepts(options, name, "1.5")) {
            expected = "a number";
        } else if (accepts(options, name, "-1")) {
            expected = "a whole number";
        } else if (accepts(options, name, "1")) {
            const bool digits = !value.empty()
                                && value.find_first_not_of("0123456789")
                                       == std::string::npos;
            expected = digits ? "a whole number below 2^64"
                              : "a whole number, 0 or more";
        }
        return "--" + name + ": expected " + expected + ", got '" + value
               + "' (see --help)";
    }
    return "bad value '" + quoted_in(what) + "' (see --help)";
}

// One line, in plain ASCII, for each way cxxopts can refuse a command line.
inline std::string parse_error_message(cxxopts::Options& options, int argc,
                                       char** argv,
                                       const cxxopts::exceptions::exception& e)
{
    const std::string what = e.what();
    if (dynamic_cast<const cxxopts::exceptions::incorrect_argument_type*>(
            &e)) {
        return bad_value_message(options, argc, argv, what);
    }
    if (dynamic_cast<const cxxopts::exceptions::no_such_option*>(&e)) {
        const std::string name = quoted_in(what);
        std::string typed = "--" + name;
        for (int k = 1; k < argc; ++k) {
            const std::string token = argv[k];
            if (token == "-" + name || token.rfind("-" + name + "=", 0) == 0) {
                typed = "-" + name;
            }
        }
        return "unknown flag '" + typed + "' (see --help)";
    }
    if (dynamic_cast<const cxxopts::exceptions::missing_argument*>(&e)) {
        return "--" + quoted_in(what) + ": expected a value after it (see "
               "--help)";
    }
    return what + " (see --help)";
}

}  // namespace detail

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
            throw usage_error(
                detail::parse_error_message(options, argc, argv, e));
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
        for (auto [flag, dir] : {std::pair{"save", &args.save_dir},
                                 std::pair{"out", &args.out_dir}}) {
            if (dir->empty()) {
                continue;
            }
            if (std::filesystem::exists(*dir)
                && !std::filesystem::is_directory(*dir)) {
                throw usage_error(std::string("--") + flag + " " + *dir
                                  + ": expected a directory, found a file");
            }
            std::error_code error;
            std::filesystem::create_directories(*dir, error);
            if (error) {
                throw usage_error(std::string("--") + flag + " " + *dir
                                  + ": expected a directory, cannot create "
                                    "it (" + error.message() + ")");
            }
            // Find out now, not after the work, whether files can be
            // written there.
            const auto probe = std::filesystem::path(*dir)
                               / ".write-test.tmp";
            if (!std::ofstream(probe)) {
                throw usage_error(std::string("--") + flag + " " + *dir
                                  + ": expected a writable directory, "
                                    "cannot create files in it");
            }
            std::filesystem::remove(probe);
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

}  // namespace book
