// Tests of chapter 0: the row softmax (Eq. 0.1), attention as a soft
// look-up (Eq. 0.2), and the column form of the author's notes (Eq. 0.3).
#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "attention/attend.hpp"
#include "book/cli.hpp"
#include "attention/core.hpp"
#include "book/npy.hpp"
#include "book/plot.hpp"
#include "test_helpers.hpp"
#include "web/no_blas/no_blas_products.hpp"

using attn::matrix;
using book_test::inf;
using book_test::IsCloseTo;
using book_test::random_matrix;
using book_test::random_qkv;

TEST_CASE("Eq. 0.1: row softmax, hand-worked", "[ch00][eq_softmax]")
{
    // Row 0: exp(0), exp(ln 2), exp(ln 3) = 1, 2, 3; sum 6.
    // Row 1: equal logits of 1000: 1/2 each (exp(1000) alone overflows).
    // Row 2: exp(-1000) and exp(-1000 + ln 3) are 1 : 3 -> 1/4, 3/4.
    // Row 3: 1000 against -1000: exp(-2000) underflows to 0 -> (1, 0).
    const matrix s = {{0.0, std::log(2.0), std::log(3.0)},
                      {1000.0, 1000.0, -inf},
                      {-1000.0, -1000.0 + std::log(3.0), -inf},
                      {1000.0, -1000.0, -inf}};
    const matrix expected = {{1.0 / 6, 2.0 / 6, 3.0 / 6},
                             {0.5, 0.5, 0.0},
                             {0.25, 0.75, 0.0},
                             {1.0, 0.0, 0.0}};
    REQUIRE_THAT(attn::softmax_rows(s), IsCloseTo(expected, 1e-12, 1e-15));
    REQUIRE_THAT(attn::softmax_rows_reference(s),
                 IsCloseTo(expected, 1e-12, 1e-15));
}

TEST_CASE("Eq. 0.1: row softmax equals its literal loops",
          "[ch00][eq_softmax]")
{
    for (std::uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
        CAPTURE(seed);
        // Scale 300 makes logits in the hundreds, where exp overflows.
        const matrix s = random_matrix(6, 9, seed, seed == 5 ? 300.0 : 2.0);
        const matrix a = attn::softmax_rows(s);
        REQUIRE_THAT(a, IsCloseTo(attn::softmax_rows_reference(s), 1e-13,
                                  1e-300));
        // Properties: every weight in [0, 1], every row sums to 1.
        REQUIRE(xt::all(a >= 0.0 && a <= 1.0));
        const matrix sums = xt::sum(a, {1}, xt::keep_dims);
        REQUIRE_THAT(sums, IsCloseTo(xt::ones<double>({6, 1}), 1e-14));
        // The identity behind the stable form: shifting a row changes
        // nothing (Eq. 0.1, second fraction).
        const matrix shifted = s + 123.0;
        REQUIRE_THAT(attn::softmax_rows(shifted), IsCloseTo(a, 1e-12,
                                                            1e-300));
    }
}

TEST_CASE("Eq. 0.1: masked keys get weight 0, a fully masked row is zero",
          "[ch00][eq_softmax]")
{
    // Row 0: keys 0 and 2 masked; the other two share the weight as
    // exp(1) : exp(2). Row 1: every key masked: zero weights, not NaN.
    const matrix s = {{-inf, 1.0, -inf, 2.0}, {-inf, -inf, -inf, -inf}};
    const double e1 = std::exp(1.0), e2 = std::exp(2.0);
    const matrix expected = {{0.0, e1 / (e1 + e2), 0.0, e2 / (e1 + e2)},
                             {0.0, 0.0, 0.0, 0.0}};
    const matrix a = attn::softmax_rows(s);
    REQUIRE_THAT(a, IsCloseTo(expected, 1e-14, 0.0));
    REQUIRE(a(0, 0) == 0.0);
    REQUIRE(a(1, 3) == 0.0);
    REQUIRE_THAT(attn::softmax_rows_reference(s), IsCloseTo(expected, 1e-14,
                                                            0.0));
}

TEST_CASE("Eq. 0.1: the naive softmax agrees for small scores and is NaN "
          "at 1000", "[ch00][eq_softmax]")
{
    // Small scores: the first fraction of Eq. 0.1 equals the second.
    const matrix s = {{2.0, 1.0, 0.5, -1.0}, {0.0, 0.0, 0.0, 0.0}};
    CHECK_THAT(attn::softmax_rows_naive(s),
               IsCloseTo(attn::softmax_rows(s), 1e-15));
    // Scores (1000, 999): e^1000 overflows to inf and inf/inf is NaN,
    // while the stable form gives 1/(1+e^-1) and e^-1/(1+e^-1).
    const matrix big = {{1000.0, 999.0}};
    const matrix naive = attn::softmax_rows_naive(big);
    CHECK(std::isnan(naive(0, 0)));
    CHECK(std::isnan(naive(0, 1)));
    CHECK(attn::softmax_rows(big)(0, 0)
          == Approx(1.0 / (1.0 + std::exp(-1.0))).epsilon(1e-15));
    // 709 is below the overflow of exp (about 709.78), 710 above.
    CHECK(std::isfinite(attn::softmax_rows_naive(matrix{{709.0}})(0, 0)));
    CHECK(std::isnan(attn::softmax_rows_naive(matrix{{710.0}})(0, 0)));
    CHECK_THROWS_WITH(attn::softmax_rows_naive(matrix{{-inf, 0.0}}),
                      Catch::Contains("must be finite"));
}

TEST_CASE("Playgrounds: the products without BLAS agree with BLAS",
          "[ch00][web]")
{
    // The browser build's loops (code/web/no_blas) against xtensor-blas,
    // for every form the library uses: each product compared entry by
    // entry, and one 2 x 2 product worked by hand.
    const matrix a = random_matrix(5, 3, 1), b = random_matrix(3, 4, 2);
    const attn::vector u = xt::view(random_matrix(1, 3, 3), 0, xt::all());
    const attn::vector w = xt::view(random_matrix(1, 5, 4), 0, xt::all());
    const matrix ab = book_no_blas::dot(a, b);
    CHECK_THAT(ab, IsCloseTo(matrix(xt::linalg::dot(a, b)), 1e-14));
    const attn::vector au = book_no_blas::dot(a, u);
    CHECK(xt::allclose(au, attn::vector(xt::linalg::dot(a, u)), 1e-14));
    const attn::vector wa = book_no_blas::dot(w, a);
    CHECK(xt::allclose(wa, attn::vector(xt::linalg::dot(w, a)), 1e-14));
    CHECK(book_no_blas::dot(u, u)(0) == Approx(xt::linalg::vdot(u, u)));
    const matrix at_b = book_no_blas::dot(xt::transpose(a), a);
    CHECK_THAT(at_b, IsCloseTo(matrix(xt::linalg::dot(xt::transpose(a), a)),
                               1e-14));
    // (1 2; 3 4)(5 6; 7 8) = (19 22; 43 50), by hand.
    const matrix p = {{1.0, 2.0}, {3.0, 4.0}}, q = {{5.0, 6.0}, {7.0, 8.0}};
    const bool by_hand = matrix(book_no_blas::dot(p, q))
                         == matrix{{19.0, 22.0}, {43.0, 50.0}};
    CHECK(by_hand);
    // gemm_rows: C = 2 A^T B^T + C, both transposes read in place.
    const matrix a2 = random_matrix(5, 3, 7);                  // A (5, 3)
    const matrix b2 = random_matrix(4, 5, 8);                  // B (4, 5)
    matrix c = random_matrix(3, 4, 9);                         // C (3, 4)
    const matrix expected =
        2.0 * xt::linalg::dot(xt::transpose(a2), xt::transpose(b2)) + c;
    book_no_blas::gemm_rows(true, true, 3, 4, 5, 2.0, a2.data(), 3,
                            b2.data(), 5, 1.0, c.data(), 4);
    CHECK_THAT(c, IsCloseTo(expected, 1e-14));
    CHECK_THROWS_WITH(book_no_blas::dot(a, a),
                      Catch::Contains("shape mismatch"));
}

TEST_CASE("Errors: NaN and +inf logits are refused", "[ch00][errors]")
{
    const double nan = std::numeric_limits<double>::quiet_NaN();
    REQUIRE_THROWS_WITH(attn::softmax_rows(matrix{{0.0, nan}}),
                        Catch::Contains("softmax_rows")
                            && Catch::Contains("finite or -inf"));
    REQUIRE_THROWS_AS(attn::softmax_rows(matrix{{inf, 0.0}}),
                      std::invalid_argument);
}

namespace {
// Eq. 0.2 as literal loops, the independent reference of the tests below.
matrix attention_loops(const matrix& q, const matrix& k, const matrix& v)
{
    const std::size_t n_q = q.shape()[0], n_k = k.shape()[0];
    const std::size_t d_k = q.shape()[1], d_v = v.shape()[1];
    matrix y = xt::zeros<double>({n_q, d_v});
    for (std::size_t i = 0; i < n_q; ++i) {
        std::vector<double> s(n_k);
        double m = -inf, z = 0.0;
        for (std::size_t j = 0; j < n_k; ++j) {
            s[j] = 0.0;
            for (std::size_t c = 0; c < d_k; ++c) {
                s[j] += q(i, c) * k(j, c);
            }
            s[j] /= std::sqrt(double(d_k));
            m = std::max(m, s[j]);
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            z += std::exp(s[j] - m);
        }
        for (std::size_t j = 0; j < n_k; ++j) {
            for (std::size_t c = 0; c < d_v; ++c) {
                y(i, c) += std::exp(s[j] - m) / z * v(j, c);
            }
        }
    }
    return y;
}
}  // namespace

TEST_CASE("Eq. 0.2: attention Y = softmax(QK^T / sqrt(d_k)) V, hand-worked",
          "[ch00][eq_attention]")
{
    // d_k = 2. Query 0 is (sqrt(2) ln 3, 0): its scaled scores against the
    // keys (1, 0) and (0, 1) are (ln 3, 0), so its weights are
    // (3/4, 1/4) and its output 3/4 * 4 + 1/4 * 8 = 5.
    // Query 1 is zero: equal scores, weights (1/2, 1/2), output 6.
    const matrix q = {{std::sqrt(2.0) * std::log(3.0), 0.0}, {0.0, 0.0}};
    const matrix k = {{1.0, 0.0}, {0.0, 1.0}};
    const matrix v = {{4.0}, {8.0}};
    const auto r = attn::attend(q, k, v);
    REQUIRE_THAT(r.s, IsCloseTo(matrix{{std::log(3.0), 0.0}, {0.0, 0.0}}));
    REQUIRE_THAT(r.a, IsCloseTo(matrix{{0.75, 0.25}, {0.5, 0.5}}));
    REQUIRE_THAT(r.y, IsCloseTo(matrix{{5.0}, {6.0}}));
}

TEST_CASE("Eq. 0.2: attention equals its literal loops",
          "[ch00][eq_attention]")
{
    for (std::uint64_t seed : {11u, 12u, 13u}) {
        CAPTURE(seed);
        const auto [q, k, v] = random_qkv(4, 7, 8, 3, seed, 100);
        REQUIRE_THAT(attn::attend(q, k, v).y,
                     IsCloseTo(attention_loops(q, k, v), 1e-12));
    }
}

TEST_CASE("Errors: attention refuses inconsistent shapes",
          "[ch00][errors]")
{
    const matrix q = xt::zeros<double>({2, 3});
    const matrix k = xt::zeros<double>({4, 5});
    const matrix v = xt::zeros<double>({4, 2});
    REQUIRE_THROWS_WITH(attn::attend(q, k, v),
                        "attend: k must have shape (n_k, d_k) = (4, 3), "
                        "got (4, 5)");
    REQUIRE_THROWS_WITH(attn::attend(q, xt::zeros<double>({4, 3}),
                                     xt::zeros<double>({3, 2})),
                        Catch::Contains("v must have shape (n_k, d_v)"));
    REQUIRE_THROWS_WITH(attn::attend(xt::zeros<double>({0, 3}), k, v),
                        Catch::Contains("q must not be empty"));
}

TEST_CASE("Eq. 0.3: the column form, hand-worked", "[ch00][eq_column_form]")
{
    // The case of Eq. 0.2's hand-worked test, with tokens as columns:
    // query columns (sqrt(2) ln 3, 0) and (0, 0), key columns (1, 0) and
    // (0, 1), values 4 and 8 in one row. S = K^T Q / sqrt(2) has the
    // columns (ln 3, 0) and (0, 0); their softmaxes are (3/4, 1/4) and
    // (1/2, 1/2); V~ = V A = (4 * 3/4 + 8 * 1/4, 4/2 + 8/2) = (5, 6).
    const matrix q_cols = {{std::sqrt(2.0) * std::log(3.0), 0.0},
                           {0.0, 0.0}};
    const matrix k_cols = {{1.0, 0.0}, {0.0, 1.0}};
    const matrix v_cols = {{4.0, 8.0}};
    REQUIRE_THAT(attn::attend_columns(q_cols, k_cols, v_cols),
                 IsCloseTo(matrix{{5.0, 6.0}}));
}

TEST_CASE("Eq. 0.3: the column form equals the row form transposed",
          "[ch00][eq_column_form]")
{
    for (std::uint64_t seed : {21u, 22u, 23u, 24u}) {
        CAPTURE(seed);
        const auto [q, k, v] = random_qkv(5, 6, 4, 3, seed, 100);
        const matrix y = attn::attend(q, k, v).y;                 // (5, 3)
        const matrix v_tilde = attn::attend_columns(
            xt::transpose(q), xt::transpose(k), xt::transpose(v));  // (3, 5)
        REQUIRE_THAT(v_tilde, IsCloseTo(xt::transpose(y), 1e-12));
    }
}

TEST_CASE("Eq. 0.1: edge cases: logits near the largest double",
          "[ch00][eq_softmax]")
{
    const double big = std::numeric_limits<double>::max();
    // Row 0: s - m is 0, -big/2 and -big - big = -inf (overflow to -inf is
    // harmless: exp gives 0). Row 1: two equal maxima share the weight.
    const matrix s = {{big, 0.5 * big, -big}, {big, big, 0.0}};
    const matrix expected = {{1.0, 0.0, 0.0}, {0.5, 0.5, 0.0}};
    REQUIRE_THAT(attn::softmax_rows(s), IsCloseTo(expected, 0.0, 0.0));
    REQUIRE_THAT(attn::softmax_rows_reference(s), IsCloseTo(expected, 0.0,
                                                            0.0));
}

TEST_CASE("Eq. 0.2: edge cases: one token, d_k = 1, identical keys",
          "[ch00][eq_attention]")
{
    // One query, one key: its weight is 1 and the output is its value.
    const auto one = attn::attend(matrix{{0.3, -2.0}}, matrix{{5.0, 7.0}},
                                  matrix{{1.5, -4.0, 2.0}});
    REQUIRE_THAT(one.a, IsCloseTo(matrix{{1.0}}));
    REQUIRE_THAT(one.y, IsCloseTo(matrix{{1.5, -4.0, 2.0}}));
    // d_k = 1, so sqrt(d_k) = 1: scores (ln 3, 0), weights (3/4, 1/4),
    // output 3/4 * 2 + 1/4 * 6 = 3.
    const auto narrow = attn::attend(matrix{{std::log(3.0)}},
                                     matrix{{1.0}, {0.0}},
                                     matrix{{2.0}, {6.0}});
    REQUIRE_THAT(narrow.a, IsCloseTo(matrix{{0.75, 0.25}}));
    REQUIRE_THAT(narrow.y, IsCloseTo(matrix{{3.0}}));
    // Identical keys: every query scores them alike, so its weights are
    // uniform and its output is the mean of the values, whatever it is.
    for (std::uint64_t seed : {31u, 32u}) {
        CAPTURE(seed);
        const matrix q = random_matrix(3, 4, seed, 10.0);
        const matrix k = xt::ones<double>({5, 4});
        const matrix v = random_matrix(5, 2, seed + 1);
        const auto r = attn::attend(q, k, v);
        REQUIRE_THAT(r.a, IsCloseTo(xt::full_like(r.a, 0.2), 1e-14));
        const matrix mean = xt::mean(v, {0}, xt::keep_dims);
        const matrix expected = xt::ones<double>({3, 1}) * mean;  // (3, 2)
        REQUIRE_THAT(r.y, IsCloseTo(expected, 1e-12));
    }
}

// ------------------------------------------------------------------------
// Errors: every function of core.hpp, attend.hpp, npy.hpp, plot.hpp and
// cli.hpp refuses wrong arguments with a message naming the function (or
// the file, or the flag), what it expected and what it got.

TEST_CASE("Errors: softmax_rows and its reference refuse NaN and +inf, "
          "naming the index", "[ch00][errors]")
{
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const matrix s = {{0.0, 1.0}, {2.0, nan}};
    REQUIRE_THROWS_WITH(attn::softmax_rows(s),
                        "softmax_rows: logits must be finite or -inf, got "
                        "nan at index (1, 1)");
    REQUIRE_THROWS_WITH(attn::softmax_rows_reference(matrix{{inf, 0.0}}),
                        "softmax_rows_reference: logits must be finite or "
                        "-inf, got inf at index (0, 0)");
}

TEST_CASE("Errors: attend_columns refuses columns that do not fit and "
          "empty queries", "[ch00][errors]")
{
    // q_cols (3, 2): d_k = 3; k_cols (4, 5) has 4 rows, not 3.
    REQUIRE_THROWS_WITH(attn::attend_columns(xt::zeros<double>({3, 2}),
                                             xt::zeros<double>({4, 5}),
                                             xt::zeros<double>({2, 5})),
                        "attend_columns: k_cols must have shape (d_k, n_k) "
                        "= (3, 5), got (4, 5)");
    REQUIRE_THROWS_WITH(attn::attend_columns(xt::zeros<double>({3, 2}),
                                             xt::zeros<double>({3, 5}),
                                             xt::zeros<double>({2, 4})),
                        "attend_columns: v_cols must have shape (d_v, n_k) "
                        "= (2, 5), got (2, 4)");
    REQUIRE_THROWS_WITH(attn::attend_columns(xt::zeros<double>({0, 2}),
                                             xt::zeros<double>({0, 5}),
                                             xt::zeros<double>({2, 5})),
                        "attend_columns: q_cols must not be empty, got shape "
                        "(0, 2)");
}

TEST_CASE("Errors: the shape checks name the function, the argument, the "
          "expected and the actual shape", "[ch00][errors]")
{
    const matrix m = xt::zeros<double>({2, 3});
    REQUIRE_THROWS_WITH(attn::expect_shape("f", "x", m, {3, 2}, "(n, d)"),
                        "f: x must have shape (n, d) = (3, 2), got (2, 3)");
    REQUIRE_THROWS_WITH(attn::expect_shape("f", "x", m, {2}),
                        "f: x must have shape (2,), got (2, 3)");
    REQUIRE_THROWS_WITH(attn::expect_nonempty("f", "x",
                                              matrix(xt::zeros<double>(
                                                  {2, 0}))),
                        "f: x must not be empty, got shape (2, 0)");
    matrix bad = m;
    bad(1, 2) = -inf;
    REQUIRE_THROWS_WITH(attn::expect_finite("f", "x", bad),
                        "f: x must be finite, got -inf at index (1, 2)");
}

TEST_CASE("Errors: the .npy functions name the file and what is wrong",
          "[ch00][errors]")
{
    const std::string dir = std::filesystem::temp_directory_path()
                            / ("book_errors_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string file = book::path_in(dir, "X.npy");
    REQUIRE_THROWS_WITH(book::load_npy<2>(file),
                        file + ": cannot open (missing file?)");
    REQUIRE_THROWS_WITH(book::read_npy_header(file),
                        file + ": cannot open (missing file?)");
    book::save_npy(file, matrix{{1.0, 2.0}, {3.0, 4.0}});
    REQUIRE_THROWS_WITH(book::load_npy<1>(file),
                        file + ": expected an array of rank 1, found shape "
                               "(2, 2)");
    REQUIRE_THROWS_WITH(book::load_mask_npy(file),
                        file + ": expected dtype bool ('|b1') or uint8 "
                               "('|u1'), found '<f8'");
    book::save_npy(file, matrix{{1.0, 2.0}, {inf, 4.0}});
    REQUIRE_THROWS_WITH(book::load_npy<2>(file),
                        file + ": value must be finite, got inf at index "
                               "(1, 0)");
    REQUIRE(book::load_npy<2>(file, true)(1, 0) == inf);
    REQUIRE_THROWS_WITH(book::save_npy(book::path_in(file, "sub.npy"),
                                       matrix{{1.0}}),
                        Catch::Contains(book::path_in(file, "sub.npy")
                                        + ": cannot write"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("Errors: the writers of figures and tables refuse labels, names "
          "and rows that do not fit", "[ch00][errors]")
{
    const std::string dir = std::filesystem::temp_directory_path()
                            / ("book_plots_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    book::heatmap_style style;
    style.row_labels = {"a", "b", "c"};
    REQUIRE_THROWS_WITH(book::write_heatmap_svg(book::path_in(dir, "h.svg"),
                                                xt::zeros<double>({2, 3}),
                                                style),
                        "write_heatmap_svg: expected 2 row and 3 column "
                        "labels (or none) for a matrix of shape (2, 3), got "
                        "3 and 0");
    REQUIRE_THROWS_WITH(book::write_columns(book::path_in(dir, "c.dat"),
                                            {"n", "t"}, {{1.0, 2.0}, {3.0}}),
                        "write_columns: expected columns of equal length 2, "
                        "got 1 in column 1 (t)");
    REQUIRE_THROWS_WITH(book::write_columns(book::path_in(dir, "c.dat"),
                                            {"n"}, {{1.0}, {3.0}}),
                        "write_columns: expected one name per column, got 1 "
                        "names for 2 columns");
    REQUIRE_THROWS_WITH(book::write_markdown_table(
                            book::path_in(dir, "t.md"), {"a", "b"},
                            {{"1", "2"}, {"3"}}),
                        "write_markdown_table: expected 2 cells in every row "
                        "(one per header), got 1 in row 1");
    REQUIRE_THROWS_WITH(book::open_for_writing(book::path_in(dir, "no/x.md")),
                        Catch::Contains("cannot write"));
    std::filesystem::remove_all(dir);
}

namespace {
// Runs book::run_program on a command line; returns its status and what it
// wrote on standard error.
std::pair<int, std::string> run_cli(std::vector<std::string> words)
{
    std::vector<char*> argv;
    for (auto& w : words) {
        argv.push_back(w.data());
    }
    std::ostringstream err;
    auto* old = std::cerr.rdbuf(err.rdbuf());
    const int status = book::run_program(
        int(argv.size()), argv.data(), "prog", "a test",
        [](cxxopts::Options& options) {
            options.add_options()
                ("heads", "H", cxxopts::value<std::size_t>())
                ("rate", "r", cxxopts::value<double>())
                ("shift", "s", cxxopts::value<int>())
                ("causal", "a flag");
        },
        [](const cxxopts::ParseResult&, const book::common_args&) {
            return 0;
        });
    std::cerr.rdbuf(old);
    return {status, err.str()};
}
}  // namespace

TEST_CASE("Errors: run_program names the flag of a malformed value and what "
          "it expected", "[ch00][errors]")
{
    using R = std::pair<int, std::string>;
    const char* more = " (see --help)\n";
    REQUIRE(run_cli({"prog", "--heads", "abc"})
            == R{2, std::string("prog: error: --heads: expected a whole "
                                "number, 0 or more, got 'abc'") + more});
    REQUIRE(run_cli({"prog", "--heads=-1"})
            == R{2, std::string("prog: error: --heads: expected a whole "
                                "number, 0 or more, got '-1'") + more});
    REQUIRE(run_cli({"prog", "--seed", "99999999999999999999"})
            == R{2, std::string("prog: error: --seed: expected a whole number "
                                "below 2^64, got '99999999999999999999'")
                        + more});
    REQUIRE(run_cli({"prog", "--causal", "--shift", "1.5"})
            == R{2, std::string("prog: error: --shift: expected a whole "
                                "number, got '1.5'") + more});
    REQUIRE(run_cli({"prog", "--rate", "fast"})
            == R{2, std::string("prog: error: --rate: expected a number, got "
                                "'fast'") + more});
    REQUIRE(run_cli({"prog", "--causal=maybe"})
            == R{2, std::string("prog: error: --causal: expected true or "
                                "false, got 'maybe'") + more});
    REQUIRE(run_cli({"prog", "--heads"})
            == R{2, std::string("prog: error: --heads: expected a value "
                                "after it") + more});
    REQUIRE(run_cli({"prog", "--nope"})
            == R{2, std::string("prog: error: unknown flag '--nope'")
                        + more});
    REQUIRE(run_cli({"prog", "stray"})
            == R{2, std::string("prog: error: unexpected argument 'stray'")
                        + more});
    REQUIRE(run_cli({"prog", "--heads", "3", "--rate", "0.5"}) == R{0, ""});
}
