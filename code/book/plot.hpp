// What the chapter programs write for the book: heatmaps of weight
// matrices as SVG, columns of numbers for gnuplot, and Markdown tables that
// a chapter includes with \includedoc, so that every figure and table in
// the text comes from the program's own output.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention/core.hpp"

/// \file
/// \brief Heatmaps, data columns and Markdown tables written by the chapter
///        programs for the book's figures (\ref ch00_introduction).

namespace book {

using attn::matrix;
using attn::shape_string;


/// \brief Opens a file for writing or throws `std::runtime_error` naming it.
/// \param file path of the file
/// \return the open stream
inline std::ofstream open_for_writing(const std::string& file)
{
    std::ofstream out(file);
    if (!out) {
        throw std::runtime_error("cannot write " + file);
    }
    return out;
}

/// \brief Formats a number with `printf`-style `format`, for tables.
/// \param x      the number
/// \param format a `printf` format for one double, default `%.4g`
/// \return the formatted number
inline std::string fmt(double x, const char* format = "%.4g")
{
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, format, x);
    return buffer;
}

/// \brief Writes a whole number with a comma between groups of three
///        digits, as in `7,502,500,000`, for tables.
/// \param x the number
/// \return the formatted number
inline std::string with_commas(std::size_t x)
{
    const std::string digits = std::to_string(x);
    std::string out;
    for (std::size_t k = 0; k < digits.size(); ++k) {
        if (k > 0 && (digits.size() - k) % 3 == 0) {
            out += ',';
        }
        out += digits[k];
    }
    return out;
}

namespace detail {

// Viridis at nine stops (matplotlib's), interpolated linearly.
inline std::string viridis(double t)
{
    static const std::array<std::array<double, 3>, 9> stops = {{
        {68, 1, 84},    {71, 44, 122},  {59, 81, 139},
        {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
        {92, 200, 99},  {170, 220, 50}, {253, 231, 37},
    }};
    t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 8.0;
    const auto k = std::min<std::size_t>(std::size_t(t), 7);
    const double f = t - double(k);
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x",
                  int(std::lround(stops[k][0] * (1 - f) + stops[k + 1][0] * f)),
                  int(std::lround(stops[k][1] * (1 - f) + stops[k + 1][1] * f)),
                  int(std::lround(stops[k][2] * (1 - f) + stops[k + 1][2] * f)));
    return buffer;
}

inline std::string xml_escape(const std::string& text)
{
    std::string out;
    for (char c : text) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

}  // namespace detail

/// \brief What a heatmap shows besides its cells.
struct heatmap_style {
    std::string title;                    ///< above the map
    std::string row_axis = "query";       ///< what the rows are
    std::string col_axis = "key";         ///< what the columns are
    std::vector<std::string> row_labels;  ///< one per row, or empty
    std::vector<std::string> col_labels;  ///< one per column, or empty
    bool annotate = true;                 ///< print each value in its cell
    double vmin = 0.0;                    ///< value drawn darkest
    double vmax = 1.0;                    ///< value drawn brightest
    /// For a matrix of 0 and 1 (a mask): what 0 and what 1 mean, drawn in
    /// two colours with a two-entry legend instead of a colour bar.
    std::vector<std::string> binary = {};
};

/// \brief Writes a matrix as an SVG heatmap with a colour bar.
/// \param file  path of the `.svg` to write
/// \param m     the values `(rows, cols)`, for example attention weights
/// \param style title, labels and colour range
inline void write_heatmap_svg(const std::string& file, const matrix& m,
                              const heatmap_style& style)
{
    const std::size_t rows = m.shape()[0], cols = m.shape()[1];
    if ((!style.row_labels.empty() && style.row_labels.size() != rows)
        || (!style.col_labels.empty() && style.col_labels.size() != cols)) {
        throw std::invalid_argument(
            "write_heatmap_svg: expected " + std::to_string(rows)
            + " row and " + std::to_string(cols) + " column labels (or none) "
            "for a matrix of shape " + shape_string(m.shape()) + ", got "
            + std::to_string(style.row_labels.size()) + " and "
            + std::to_string(style.col_labels.size()));
    }
    const double cell = std::clamp(360.0 / double(std::max(rows, cols)),
                                   6.0, 44.0);
    // Column labels too wide for their spacing are drawn at 45 degrees,
    // with room above the map for them (about 7 pixels per character).
    const std::size_t step = std::max<std::size_t>(1, std::size_t(14 / cell));
    auto label_width = [&](std::size_t j) {
        return style.col_labels.empty()
                   ? 7.0 * double(std::to_string(j).size())
                   : 7.0 * double(style.col_labels[j].size());
    };
    bool rotate = false;
    double widest = 0.0;
    for (std::size_t j = 0, last = cols; j < cols; j += step) {
        if (label_width(j) == 0.0) {
            continue;
        }
        widest = std::max(widest, label_width(j));
        if (last < cols && (label_width(last) + label_width(j)) / 2
                               > cell * double(j - last) - 4) {
            rotate = true;
        }
        last = j;
    }
    const double left = 90, bar = 16;
    const double top = rotate ? std::max(56.0, 36.0 + 0.71 * widest) : 56.0;
    std::size_t legend_chars = 4;  // the colour bar's numbers
    for (const auto& entry : style.binary) {
        legend_chars = std::max(legend_chars, entry.size());
    }
    const double width = left + cell * double(cols) + 38
                         + 7.5 * double(legend_chars);
    const double height = top + cell * double(rows) + 60;
    auto out = open_for_writing(file);
    out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
        << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << ' '
        << height << "\" font-family=\"DejaVu Sans, sans-serif\" "
        << "font-size=\"12\">\n"
        << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        << "<text x=\"" << left << "\" y=\"22\" font-size=\"14\">"
        << detail::xml_escape(style.title) << "</text>\n";
    const double span = style.vmax > style.vmin ? style.vmax - style.vmin
                                                : 1.0;
    const bool binary = style.binary.size() == 2;
    const char* binary_colour[2] = {"#e8e8e8", "#2a6fb0"};
    auto label = [&](const std::vector<std::string>& labels, std::size_t k) {
        return labels.empty() ? std::to_string(k)
                              : detail::xml_escape(labels[k]);
    };
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) {
            const double t = (m(i, j) - style.vmin) / span;
            const double x = left + cell * double(j);
            const double y = top + cell * double(i);
            // Hovering a cell names its row, its column and its value.
            const std::string value
                = binary ? detail::xml_escape(style.binary[m(i, j) != 0.0])
                         : fmt(m(i, j));
            out << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\""
                << cell << "\" height=\"" << cell << "\" fill=\""
                << (binary ? binary_colour[m(i, j) != 0.0]
                           : detail::viridis(t))
                << "\" stroke=\"white\" stroke-width=\"0.5\"><title>"
                << detail::xml_escape(style.row_axis) << ' '
                << label(style.row_labels, i) << ", "
                << detail::xml_escape(style.col_axis) << ' '
                << label(style.col_labels, j) << ": " << value
                << "</title></rect>\n";
            if (style.annotate && cell >= 26) {
                out << "<text x=\"" << x + cell / 2 << "\" y=\""
                    << y + cell / 2 + 4 << "\" text-anchor=\"middle\" "
                    << "font-size=\"10\" fill=\""
                    << (t > 0.6 ? "black" : "white") << "\">"
                    << fmt(m(i, j), "%.2f") << "</text>\n";
            }
        }
    }
    for (std::size_t i = 0; i < rows; i += step) {
        out << "<text x=\"" << left - 6 << "\" y=\""
            << top + cell * (double(i) + 0.5) + 4
            << "\" text-anchor=\"end\">" << label(style.row_labels, i)
            << "</text>\n";
    }
    for (std::size_t j = 0; j < cols; j += step) {
        const double x = left + cell * (double(j) + 0.5);
        if (rotate) {
            out << "<text transform=\"translate(" << x - 3 << ',' << top - 6
                << ") rotate(-45)\" text-anchor=\"start\">";
        } else {
            out << "<text x=\"" << x << "\" y=\"" << top - 6
                << "\" text-anchor=\"middle\">";
        }
        out << label(style.col_labels, j) << "</text>\n";
    }
    out << "<text x=\"" << left + cell * double(cols) / 2 << "\" y=\""
        << top + cell * double(rows) + 22 << "\" text-anchor=\"middle\">"
        << detail::xml_escape(style.col_axis) << " (column)</text>\n"
        << "<text transform=\"translate(16," << top + cell * double(rows) / 2
        << ") rotate(-90)\" text-anchor=\"middle\">"
        << detail::xml_escape(style.row_axis) << " (row)</text>\n";
    const double bx = left + cell * double(cols) + 14;
    const double bh = cell * double(rows);
    if (binary) {
        // Two-entry legend: a swatch and its meaning for 1, then for 0.
        for (int k = 0; k < 2; ++k) {
            const double y = top + 4 + 22.0 * k;
            out << "<rect x=\"" << bx << "\" y=\"" << y << "\" width=\""
                << bar << "\" height=\"" << bar << "\" fill=\""
                << binary_colour[1 - k] << "\" stroke=\"#999\"/>\n"
                << "<text x=\"" << bx + bar + 4 << "\" y=\"" << y + 12
                << "\">" << detail::xml_escape(style.binary[1 - k])
                << "</text>\n";
        }
        out << "</svg>\n";
        return;
    }
    // Colour bar.
    for (int k = 0; k < 32; ++k) {
        out << "<rect x=\"" << bx << "\" y=\"" << top + bh * (31 - k) / 32
            << "\" width=\"" << bar << "\" height=\"" << bh / 32 + 0.5
            << "\" fill=\"" << detail::viridis((k + 0.5) / 32) << "\"/>\n";
    }
    out << "<text x=\"" << bx + bar + 4 << "\" y=\"" << top + 10 << "\">"
        << fmt(style.vmax) << "</text>\n"
        << "<text x=\"" << bx + bar + 4 << "\" y=\"" << top + bh << "\">"
        << fmt(style.vmin) << "</text>\n</svg>\n";
}

/// \brief Writes columns of numbers with a commented header line, the
///        format gnuplot reads.
/// \param file    path of the `.dat` to write
/// \param header  the column names
/// \param columns the values, one vector per column, all of equal length
inline void write_columns(const std::string& file,
                          const std::vector<std::string>& header,
                          const std::vector<std::vector<double>>& columns)
{
    if (header.size() != columns.size()) {
        throw std::invalid_argument(
            "write_columns: expected one name per column, got "
            + std::to_string(header.size()) + " names for "
            + std::to_string(columns.size()) + " columns");
    }
    const std::size_t n = columns.empty() ? 0 : columns.front().size();
    for (std::size_t k = 0; k < columns.size(); ++k) {
        if (columns[k].size() != n) {
            throw std::invalid_argument(
                "write_columns: expected columns of equal length "
                + std::to_string(n) + ", got " + std::to_string(
                    columns[k].size()) + " in column " + std::to_string(k)
                + " (" + header[k] + ")");
        }
    }
    auto out = open_for_writing(file);
    out << '#';
    for (const auto& h : header) {
        out << ' ' << h;
    }
    out << '\n';
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t k = 0; k < columns.size(); ++k) {
            out << (k ? " " : "") << fmt(columns[k][i], "%.10g");
        }
        out << '\n';
    }
}

/// \brief Writes a Markdown table that a chapter includes with
///        `\includedoc`.
/// \param file   path of the `.md` to write
/// \param header the column titles
/// \param rows   the cells, already formatted, one vector per row
inline void write_markdown_table(
    const std::string& file, const std::vector<std::string>& header,
    const std::vector<std::vector<std::string>>& rows)
{
    for (std::size_t k = 0; k < rows.size(); ++k) {
        if (rows[k].size() != header.size()) {
            throw std::invalid_argument(
                "write_markdown_table: expected " + std::to_string(
                    header.size()) + " cells in every row (one per header), "
                "got " + std::to_string(rows[k].size()) + " in row "
                + std::to_string(k));
        }
    }
    auto out = open_for_writing(file);
    auto line = [&](const std::vector<std::string>& cells) {
        out << '|';
        for (const auto& c : cells) {
            out << ' ' << c << " |";
        }
        out << '\n';
    };
    line(header);
    out << '|';
    for (std::size_t k = 0; k < header.size(); ++k) {
        out << (k ? "--:|" : ":--|");
    }
    out << '\n';
    for (const auto& r : rows) {
        line(r);
    }
}

}  // namespace book
