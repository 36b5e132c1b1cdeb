// Reading and writing the `.npy` files through which the chapter programs
// exchange arrays with NumPy (float64, C order, one token per row).
//
// xtensor's own xt::load_npy trusts its input: a truncated file loads
// garbage, and its errors do not name the file. So the header is read and
// checked here, the data read straight into a tensor of the checked shape,
// and every problem becomes one book::npy_error whose message names the
// file, what was expected and what was found. (Writing uses xt::dump_npy.)
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include "attention/core.hpp"

/// \file
/// \brief Checked `.npy` input and output (\ref ch00_introduction, section
///        "Check your own numbers").

namespace book {

using attn::matrix;
using attn::shape_string;
using attn::expect_finite;


/// \brief A file that is missing, unreadable, corrupt, or holds an array of
///        the wrong type or shape. Programs report its message and exit 2.
struct npy_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// \brief What a `.npy` header says about the array behind it.
struct npy_header {
    std::string descr;               ///< type string, for example `<f8`
    bool fortran_order = false;      ///< column-major data
    std::vector<std::size_t> shape;  ///< the array's shape
    std::size_t data_offset = 0;     ///< bytes before the data
};

namespace detail {

inline std::string npy_value(const std::string& dict, const std::string& key,
                             const std::string& file)
{
    const auto at = dict.find("'" + key + "'");
    if (at == std::string::npos) {
        throw npy_error(file + ": corrupt .npy header: no '" + key + "' key");
    }
    if (dict.find("'" + key + "'", at + 1) != std::string::npos) {
        throw npy_error(file + ": corrupt .npy header: '" + key
                        + "' key given twice");
    }
    auto colon = dict.find(':', at);
    if (colon == std::string::npos) {
        throw npy_error(file + ": corrupt .npy header near '" + key + "'");
    }
    auto start = dict.find_first_not_of(' ', colon + 1);
    std::size_t end = std::string::npos;
    if (start != std::string::npos && dict[start] == '\'') {
        end = dict.find('\'', start + 1);
        if (end != std::string::npos) {
            return dict.substr(start + 1, end - start - 1);
        }
    } else if (start != std::string::npos && dict[start] == '(') {
        end = dict.find(')', start);
        if (end != std::string::npos) {
            return dict.substr(start, end - start + 1);
        }
    } else if (start != std::string::npos) {
        end = dict.find_first_of(",}", start);
        if (end != std::string::npos) {
            return dict.substr(start, end - start);
        }
    }
    throw npy_error(file + ": corrupt .npy header: bad value for '" + key
                    + "'");
}

inline std::vector<std::size_t> npy_shape(const std::string& text,
                                          const std::string& file)
{
    // text looks like "(3, 4)", "(5,)" or "()"
    std::vector<std::size_t> shape;
    std::size_t k = 1;
    while (k < text.size() && text[k] != ')') {
        while (k < text.size() && (text[k] == ' ' || text[k] == ',')) {
            ++k;
        }
        if (k >= text.size() || text[k] == ')') {
            break;
        }
        if (text[k] < '0' || text[k] > '9') {
            throw npy_error(file + ": corrupt .npy header: bad shape "
                            + text);
        }
        std::size_t value = 0;
        while (k < text.size() && text[k] >= '0' && text[k] <= '9') {
            if (value > (std::size_t(1) << 40)) {
                throw npy_error(file + ": corrupt .npy header: shape "
                                + text + " is too large");
            }
            value = value * 10 + std::size_t(text[k] - '0');
            ++k;
        }
        shape.push_back(value);
    }
    return shape;
}

}  // namespace detail

/// \brief Reads and checks the header of a `.npy` file.
/// \param file path of the file
/// \return the header, after checking that the file holds exactly the
///         bytes the header promises
/// \throws npy_error if the file is missing, not `.npy`, or truncated
inline npy_header read_npy_header(const std::string& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw npy_error(file + ": cannot open (missing file?)");
    }
    char magic[8] = {};
    in.read(magic, 8);
    if (in.gcount() != 8 || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
        throw npy_error(file + ": not a .npy file (bad magic string)");
    }
    const int major = static_cast<unsigned char>(magic[6]);
    std::size_t header_len = 0;
    std::size_t prefix = 0;
    if (major == 1) {
        unsigned char b[2] = {};
        in.read(reinterpret_cast<char*>(b), 2);
        header_len = std::size_t(b[0]) | (std::size_t(b[1]) << 8);
        prefix = 10;
    } else if (major == 2 || major == 3) {
        unsigned char b[4] = {};
        in.read(reinterpret_cast<char*>(b), 4);
        header_len = std::size_t(b[0]) | (std::size_t(b[1]) << 8)
                     | (std::size_t(b[2]) << 16) | (std::size_t(b[3]) << 24);
        prefix = 12;
    } else {
        throw npy_error(file + ": unsupported .npy format version "
                        + std::to_string(major));
    }
    if (!in || header_len > (std::size_t(1) << 20)) {
        throw npy_error(file + ": corrupt .npy header (bad length)");
    }
    std::string dict(header_len, '\0');
    in.read(dict.data(), std::streamsize(header_len));
    if (std::size_t(in.gcount()) != header_len) {
        throw npy_error(file + ": corrupt .npy header (truncated)");
    }
    if (dict.find('{') == std::string::npos
        || dict.find('}') == std::string::npos) {
        throw npy_error(file + ": corrupt .npy header (no {...} dictionary)");
    }
    npy_header h;
    h.descr = detail::npy_value(dict, "descr", file);
    const auto fortran = detail::npy_value(dict, "fortran_order", file);
    if (fortran != "False" && fortran != "True") {
        throw npy_error(file + ": corrupt .npy header: fortran_order is "
                        + fortran);
    }
    h.fortran_order = fortran == "True";
    const auto shape_text = detail::npy_value(dict, "shape", file);
    if (shape_text.empty() || shape_text.front() != '(') {
        throw npy_error(file + ": corrupt .npy header: bad shape "
                        + shape_text);
    }
    h.shape = detail::npy_shape(shape_text, file);
    h.data_offset = prefix + header_len;

    std::size_t itemsize = 0;
    if (h.descr.size() >= 3) {
        itemsize = std::size_t(std::atoi(h.descr.c_str() + 2));
    }
    std::size_t count = 1;
    for (auto extent : h.shape) {
        if (extent != 0 && count > (std::size_t(1) << 48) / extent) {
            throw npy_error(file + ": corrupt .npy header: shape "
                            + shape_string(h.shape) + " is too large");
        }
        count *= extent;
    }
    const auto size = std::filesystem::file_size(file);
    if (itemsize > 0 && size != h.data_offset + count * itemsize) {
        throw npy_error(file + ": truncated or padded: header promises "
                        + std::to_string(count * itemsize)
                        + " bytes of data, file holds "
                        + std::to_string(size - h.data_offset));
    }
    return h;
}

namespace detail {

inline void expect_layout(const std::string& file, const npy_header& h,
                          const std::string& descr, const char* type_name)
{
    if (h.descr != descr) {
        std::string found = h.descr;
        if (!found.empty() && found[0] == '>') {
            found += " (big-endian)";
        }
        throw npy_error(file + ": expected dtype " + type_name + " ('"
                        + descr + "'), found '" + found + "'");
    }
    if (h.fortran_order) {
        throw npy_error(file + ": expected C order, found Fortran order "
                        "(save it with np.ascontiguousarray)");
    }
}

inline bool host_is_little_endian()
{
    const std::uint16_t one = 1;
    unsigned char first = 0;
    std::memcpy(&first, &one, 1);
    return first == 1;
}

inline void reverse_bytes(double& x)
{
    unsigned char b[sizeof(double)];
    std::memcpy(b, &x, sizeof b);
    std::reverse(b, b + sizeof b);
    std::memcpy(&x, b, sizeof b);
}

inline void expect_rank(const std::string& file, const npy_header& h,
                        std::size_t rank)
{
    if (h.shape.size() != rank) {
        throw npy_error(file + ": expected an array of rank "
                        + std::to_string(rank) + ", found shape "
                        + shape_string(h.shape));
    }
}

}  // namespace detail

/// \brief Loads a float64 array of rank `N` from a `.npy` file.
///
/// Checks the header, the dtype (`<f8`), C order, the rank and the file's
/// length; then, unless `allow_non_finite`, that every value is finite.
/// \param file path of the file
/// \param allow_non_finite accept NaN and infinities
/// \return the array, with the shape the file gives
/// \throws npy_error naming the file, what was expected and what was found
template <std::size_t N>
xt::xtensor<double, N> load_npy(const std::string& file,
                                bool allow_non_finite = false)
{
    const auto h = read_npy_header(file);
    detail::expect_layout(file, h, "<f8", "float64");
    detail::expect_rank(file, h, N);
    // The header is checked and the file holds exactly its bytes: read
    // them straight into a tensor of the header's shape. (Going through
    // xt::load_npy and an xt::xarray made GCC 12 warn, wrongly, about an
    // uninitialised shape inside xtl.)
    static_assert(sizeof(double) == 8, "a .npy float64 is 8 bytes");
    std::array<std::size_t, N> shape{};
    std::copy(h.shape.begin(), h.shape.end(), shape.begin());
    xt::xtensor<double, N> t = xt::empty<double>(shape);
    std::ifstream in(file, std::ios::binary);
    in.seekg(std::streamoff(h.data_offset));
    in.read(reinterpret_cast<char*>(t.data()),
            std::streamsize(t.size() * sizeof(double)));
    if (std::size_t(in.gcount()) != t.size() * sizeof(double)) {
        throw npy_error(file + ": truncated data");
    }
    if (!detail::host_is_little_endian()) {
        for (double& x : t) {
            detail::reverse_bytes(x);
        }
    }
    if (!allow_non_finite) {
        try {
            expect_finite("load_npy", "value", t);
        } catch (const std::invalid_argument& e) {
            throw npy_error(file + ": " + std::string(e.what()).substr(10));
        }
    }
    return t;
}

/// \brief Loads token ids, stored as NumPy `int64` of rank 1.
/// \param file  path of the file
/// \param vocab the vocabulary size: every id must lie in 0 .. vocab - 1
/// \return the ids `(n,)`
/// \throws npy_error for another dtype or rank, a damaged file, or an id
///         out of range
inline std::vector<std::size_t> load_tokens_npy(const std::string& file,
                                                std::size_t vocab)
{
    const auto h = read_npy_header(file);
    detail::expect_layout(file, h, "<i8", "int64");
    detail::expect_rank(file, h, 1);
    std::vector<std::int64_t> ids(h.shape[0]);
    std::ifstream in(file, std::ios::binary);
    in.seekg(std::streamoff(h.data_offset));
    in.read(reinterpret_cast<char*>(ids.data()),
            std::streamsize(ids.size() * sizeof(std::int64_t)));
    if (std::size_t(in.gcount()) != ids.size() * sizeof(std::int64_t)) {
        throw npy_error(file + ": truncated data");
    }
    std::vector<std::size_t> tokens;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        std::int64_t id = ids[i];
        if (!detail::host_is_little_endian()) {
            id = std::int64_t(__builtin_bswap64(std::uint64_t(id)));
        }
        if (id < 0 || std::uint64_t(id) >= vocab) {
            throw npy_error(file + ": expected token ids in 0 .. "
                            + std::to_string(vocab) + " - 1 (the rows of "
                            "W_E), found " + std::to_string(id)
                            + " at index " + std::to_string(i));
        }
        tokens.push_back(std::size_t(id));
    }
    return tokens;
}

/// \brief Loads a boolean mask, stored as NumPy `bool` or `uint8`, where
///        true (nonzero) means "may attend".
/// \param file path of the file
/// \return the mask `(n_q, n_k)`
/// \throws npy_error for any other dtype, rank or a damaged file
inline attn::mask_matrix load_mask_npy(const std::string& file)
{
    const auto h = read_npy_header(file);
    if (h.descr != "|b1" && h.descr != "|u1") {
        throw npy_error(file + ": expected dtype bool ('|b1') or uint8 "
                        "('|u1'), found '" + h.descr + "'");
    }
    if (h.fortran_order) {
        throw npy_error(file + ": expected C order, found Fortran order");
    }
    detail::expect_rank(file, h, 2);
    // Read the bytes directly: a bool array whose bytes are not 0 or 1
    // would be undefined behaviour if loaded as bool.
    attn::mask_matrix mask = xt::zeros<bool>({h.shape[0], h.shape[1]});
    std::ifstream in(file, std::ios::binary);
    in.seekg(std::streamoff(h.data_offset));
    for (std::size_t i = 0; i < mask.size(); ++i) {
        const int byte = in.get();
        if (byte == std::char_traits<char>::eof()) {
            throw npy_error(file + ": truncated data");
        }
        if (h.descr == "|b1" && byte > 1) {
            throw npy_error(file + ": corrupt bool value "
                            + std::to_string(byte) + " at index "
                            + shape_string(xt::unravel_index(i, mask.shape())));
        }
        mask.data()[i] = byte != 0;
    }
    return mask;
}

/// \brief Saves an array as a float64, C-order `.npy` file.
/// \param file path of the file to write
/// \param t    the array, any rank
/// \throws npy_error if the file cannot be written
template <class T>
void save_npy(const std::string& file, const T& t)
{
    try {
        xt::dump_npy(file, t);
    } catch (const std::exception& e) {
        throw npy_error(file + ": cannot write: " + e.what());
    }
}

}  // namespace book
