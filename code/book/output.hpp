// Where a chapter program's figure data and tables go. A program makes one
// output_sink from its --out folder; without --out the sink writes nothing,
// so the program computes and prints the same way whether or not the book
// is being built. A table is formatted once, into cells, then printed to
// the console and written as Markdown from the same cells.
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "book/plot.hpp"

/// \file
/// \brief The programs' output: a sink that writes the book's figure data
///        and tables only when `--out` is given, and tables formatted once.

namespace book {

/// \brief A table whose cells are formatted once, for the console and for
///        the Markdown that a chapter includes.
struct table {
    std::vector<std::string> header;             ///< the column titles
    std::vector<std::vector<std::string>> rows;  ///< the formatted cells
    /// Titles for the page where they differ from the console's (HTML
    /// such as `<i>y</i>`); empty: the page uses `header`.
    std::vector<std::string> page_header = {};
    /// Columns whose cells must not wrap on the page (their spaces become
    /// non-breaking), for example a tuple of weights.
    std::vector<std::size_t> nowrap = {};

    /// \brief Appends a row.
    /// \param cells one per column
    /// \throws std::invalid_argument if the count differs from the header's
    void add(std::vector<std::string> cells)
    {
        if (cells.size() != header.size()) {
            throw std::invalid_argument(
                "table::add: expected " + std::to_string(header.size())
                + " cells (one per column), got "
                + std::to_string(cells.size()));
        }
        rows.push_back(std::move(cells));
    }

    /// \brief Prints the table with aligned columns: the first left-aligned,
    ///        the others right-aligned, two spaces between columns.
    /// \param out     the stream
    /// \param lead    spaces before each line
    /// \param stacked print the first cell of each row on a line of its
    ///                own and the other cells below it, indented (for rows
    ///                too wide for 80 columns)
    void print(std::ostream& out, std::size_t lead = 2,
               bool stacked = false) const
    {
        std::vector<std::size_t> width(header.size(), 0);
        auto widen = [&](const std::vector<std::string>& cells) {
            for (std::size_t k = stacked ? 1 : 0; k < cells.size(); ++k) {
                width[k] = std::max(width[k], display_width(cells[k]));
            }
        };
        widen(header);
        for (const auto& r : rows) {
            widen(r);
        }
        auto line = [&](const std::vector<std::string>& cells) {
            std::string text(lead, ' ');
            if (stacked) {
                out << text << cells[0] << '\n';
                text += "  ";
            }
            for (std::size_t k = stacked ? 1 : 0; k < cells.size(); ++k) {
                const std::string pad(width[k] - display_width(cells[k]),
                                      ' ');
                const bool left = k == 0 || (stacked && k == 1);
                text += (k > (stacked ? 1u : 0u) ? "  " : "");
                text += left ? cells[k] + pad : pad + cells[k];
            }
            while (!text.empty() && text.back() == ' ') {
                text.pop_back();
            }
            out << text << '\n';
        };
        line(header);
        for (const auto& r : rows) {
            line(r);
        }
    }

    /// \brief Characters as a reader sees them: UTF-8 continuation bytes
    ///        do not count.
    /// \param s a cell
    /// \return its width in columns
    static std::size_t display_width(const std::string& s)
    {
        return std::size_t(std::count_if(s.begin(), s.end(), [](char c) {
            return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        }));
    }
};

/// \brief The `--out` folder of a program, or nothing: every write is
///        skipped when the folder is empty.
class output_sink {
public:
    /// \brief A sink writing into `dir`; an empty `dir` writes nothing.
    /// \param dir the `--out` folder, or empty
    explicit output_sink(std::string dir = "") : dir_(std::move(dir)) {}

    /// \brief Whether anything is written.
    /// \return true when a folder was given
    bool enabled() const { return !dir_.empty(); }

    /// \brief The path of a file in the folder.
    /// \param name a file name
    /// \return `dir/name`
    std::string path(const std::string& name) const
    {
        return (std::filesystem::path(dir_) / name).string();
    }

    /// \brief Writes a heatmap (see \ref write_heatmap_svg).
    /// \param name  the `.svg` file's name
    /// \param m     the values
    /// \param style title, labels and colour range
    void heatmap(const std::string& name, const matrix& m,
                 const heatmap_style& style) const
    {
        if (enabled()) {
            write_heatmap_svg(path(name), m, style);
        }
    }

    /// \brief Writes columns of numbers for gnuplot (see
    ///        \ref write_columns).
    /// \param name    the `.dat` file's name
    /// \param header  the column names
    /// \param columns the values, one vector per column
    void columns(const std::string& name,
                 const std::vector<std::string>& header,
                 const std::vector<std::vector<double>>& columns) const
    {
        if (enabled()) {
            write_columns(path(name), header, columns);
        }
    }

    /// \brief Writes a table as Markdown, for `\includedoc`.
    /// \param name the `.md` file's name
    /// \param t    the table
    void markdown(const std::string& name, const table& t) const
    {
        if (!enabled()) {
            return;
        }
        auto rows = t.rows;
        for (auto& r : rows) {
            for (std::size_t k : t.nowrap) {
                for (auto at = r.at(k).find(' '); at != std::string::npos;
                     at = r[k].find(' ', at)) {
                    r[k].replace(at, 1, "&nbsp;");
                }
            }
        }
        write_markdown_table(path(name),
                             t.page_header.empty() ? t.header
                                                   : t.page_header,
                             rows);
    }

    /// \brief Writes text as it is, for example a sentence a chapter
    ///        includes.
    /// \param name    the file's name
    /// \param content the text
    void text(const std::string& name, const std::string& content) const
    {
        if (enabled()) {
            open_for_writing(path(name)) << content;
        }
    }

private:
    std::string dir_;
};

}  // namespace book
