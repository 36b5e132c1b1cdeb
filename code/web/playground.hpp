// The playgrounds' plumbing: named inputs in, named outputs out, as text.
//
// A playground is a function of named arrays of doubles. The page sends
// its inputs as text, one array per line,
//
//     beta: 1
//     q: 2 0.5
//
// and gets its outputs back in the same form, every number printed with 17
// significant digits, so that it reads back as the same double (%.17g; JavaScript's
// Number() parses it exactly). The same text goes to the native program
// `book_playground NAME FILE`, which is how tests/playground_check.py
// compares what the browser shows with what the native library computes.
//
// The playgrounds themselves, one file per chapter (pg_chNN.hpp), call the
// library in code/attention/; nothing here computes attention.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "attention/core.hpp"

namespace web {

/// A wrong input to a playground: a missing array, a wrong count, a
/// value out of range. Reported as one line, `error: ...`.
struct input_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The named arrays a playground reads.
class inputs {
public:
    /// Parses `name: v v v` lines; blank lines are skipped.
    static inputs parse(const std::string& text)
    {
        inputs in;
        std::istringstream lines(text);
        std::string line;
        int number = 0;
        while (std::getline(lines, line)) {
            ++number;
            if (line.find_first_not_of(" \t\r") == std::string::npos) {
                continue;
            }
            const auto colon = line.find(':');
            if (colon == std::string::npos || colon == 0) {
                throw input_error("line " + std::to_string(number)
                                  + ": expected 'name: numbers', got '" + line
                                  + "'");
            }
            const std::string name = line.substr(0, colon);
            std::vector<double> values;
            std::istringstream words(line.substr(colon + 1));
            std::string word;
            while (words >> word) {
                errno = 0;
                char* end = nullptr;
                const double v = std::strtod(word.c_str(), &end);
                if (end == word.c_str() || *end != '\0' || errno == ERANGE) {
                    throw input_error("'" + name + "': expected a number, got '"
                                      + word + "'");
                }
                values.push_back(v);
            }
            in.values_[name] = std::move(values);
        }
        return in;
    }

    /// All the numbers of array `name`, which must hold `count` of them
    /// (any count when `count` is 0).
    const std::vector<double>& get(const std::string& name,
                                   std::size_t count = 0) const
    {
        const auto it = values_.find(name);
        if (it == values_.end()) {
            throw input_error("input '" + name + "' is missing");
        }
        if (count != 0 && it->second.size() != count) {
            throw input_error("input '" + name + "': expected "
                              + std::to_string(count) + " numbers, got "
                              + std::to_string(it->second.size()));
        }
        return it->second;
    }

    /// Array `name` as one finite number in [lo, hi].
    double number(const std::string& name, double lo, double hi) const
    {
        const double v = get(name, 1)[0];
        if (!std::isfinite(v) || v < lo || v > hi) {
            std::ostringstream m;
            m << "input '" << name << "': expected a number in [" << lo
              << ", " << hi << "], got " << v;
            throw input_error(m.str());
        }
        return v;
    }

    /// Array `name` as a whole number in [lo, hi].
    std::size_t whole(const std::string& name, std::size_t lo,
                      std::size_t hi) const
    {
        const double v = number(name, double(lo), double(hi));
        if (v != std::floor(v)) {
            throw input_error("input '" + name
                              + "': expected a whole number, got "
                              + std::to_string(v));
        }
        return std::size_t(v);
    }

    /// Array `name` as a `(rows, cols)` matrix of finite numbers, row by row.
    attn::matrix matrix(const std::string& name, std::size_t rows,
                        std::size_t cols) const
    {
        const auto& v = get(name);
        if (v.size() != rows * cols) {
            throw input_error("input '" + name + "': expected "
                              + std::to_string(rows) + " x "
                              + std::to_string(cols) + " = "
                              + std::to_string(rows * cols) + " numbers, got "
                              + std::to_string(v.size()));
        }
        attn::matrix m = attn::matrix::from_shape({rows, cols});
        for (std::size_t k = 0; k < v.size(); ++k) {
            if (!std::isfinite(v[k])) {
                throw input_error("input '" + name
                                  + "': expected finite numbers");
            }
            m.data()[k] = v[k];
        }
        return m;
    }

    /// Array `name` as a `(rows, cols)` mask: nonzero is `true` (allowed).
    attn::mask_matrix mask(const std::string& name, std::size_t rows,
                           std::size_t cols) const
    {
        const attn::matrix m = matrix(name, rows, cols);
        attn::mask_matrix b = attn::mask_matrix::from_shape({rows, cols});
        for (std::size_t k = 0; k < m.size(); ++k) {
            b.data()[k] = m.data()[k] != 0.0;
        }
        return b;
    }

private:
    std::map<std::string, std::vector<double>> values_;
};

/// The named arrays a playground returns, in the order it adds them.
class outputs {
public:
    void add(const std::string& name, std::vector<double> values)
    {
        arrays_.emplace_back(name, std::move(values));
    }
    template <class E>
    void add_tensor(const std::string& name, const E& t)
    {
        add(name, std::vector<double>(t.begin(), t.end()));
    }
    void add_number(const std::string& name, double v) { add(name, {v}); }

    std::string text() const
    {
        std::string out;
        char buf[40];
        for (const auto& [name, values] : arrays_) {
            out += name + ":";
            for (double v : values) {
                // Spelled as JavaScript's Number() and strtod both read them.
                if (std::isnan(v)) {
                    out += " NaN";
                } else if (std::isinf(v)) {
                    out += v > 0 ? " Infinity" : " -Infinity";
                } else {
                    std::snprintf(buf, sizeof buf, " %.17g", v);
                    out += buf;
                }
            }
            out += "\n";
        }
        return out;
    }

private:
    std::vector<std::pair<std::string, std::vector<double>>> arrays_;
};

using playground = std::function<outputs(const inputs&)>;

/// Every playground by name (`chapter-name`, as in the page's
/// `data-playground`).
inline std::map<std::string, playground>& registry()
{
    static std::map<std::string, playground> r;
    return r;
}

/// Registers a playground; one static object per playground.
struct define {
    define(const std::string& name, playground f)
    {
        registry()[name] = std::move(f);
    }
};

/// Runs playground `name` on `input_text`; the outputs as text, or one
/// line `error: ...` (a wrong name, a wrong input, or the library's own
/// message for an argument it refuses).
inline std::string run(const std::string& name, const std::string& input_text)
{
    const auto it = registry().find(name);
    if (it == registry().end()) {
        std::string known;
        for (const auto& entry : registry()) {
            known += (known.empty() ? "" : ", ") + entry.first;
        }
        return "error: unknown playground '" + name + "'; known: " + known
               + "\n";
    }
    try {
        return it->second(inputs::parse(input_text)).text();
    } catch (const std::exception& e) {
        return "error: " + name + ": " + e.what() + "\n";
    }
}

}  // namespace web
