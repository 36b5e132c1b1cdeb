// The library's products without BLAS, as plain loops: what the browser
// build (code/web/) uses in place of OpenBLAS, through the stand-in
// xtensor-blas/xlinalg.hpp next to this file. The test
// "Playgrounds: the products without BLAS agree with BLAS"
// (tests/test_ch00_introduction.cpp) checks them against xtensor-blas.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

#include <xtensor/xarray.hpp>

namespace book_no_blas {

// C (m, n) = alpha op(A) op(B) + beta C, row-major, each matrix given by its
// first entry and its leading dimension (the distance between its rows).
// beta == 0 overwrites C without reading it, as BLAS does.
inline void gemm_rows(bool trans_a, bool trans_b, int m, int n, int k,
                      double alpha, const double* a, int lda, const double* b,
                      int ldb, double beta, double* c, int ldc)
{
    for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
            double sum = 0.0;
            for (int l = 0; l < k; ++l) {
                const double x = trans_a ? a[l * lda + i] : a[i * lda + l];
                const double y = trans_b ? b[j * ldb + l] : b[l * ldb + j];
                sum += x * y;
            }
            double& out = c[i * ldc + j];
            out = beta == 0.0 ? alpha * sum : alpha * sum + beta * out;
        }
    }
}

/// The product of two 1-D or 2-D expressions, as xt::linalg::dot computes
/// it (a 1-D . 1-D product is an array of one entry), by plain loops.
template <class T, class O>
xt::xarray<double> dot(const xt::xexpression<T>& t_expr,
                       const xt::xexpression<O>& o_expr)
{
    const xt::xarray<double> t = t_expr.derived_cast();
    const xt::xarray<double> o = o_expr.derived_cast();
    const std::size_t dt = t.dimension(), d_o = o.dimension();
    if (dt < 1 || dt > 2 || d_o < 1 || d_o > 2) {
        throw std::runtime_error("Dot: only 1-D and 2-D operands.");
    }
    // As (rows, inner) times (inner, cols).
    const std::size_t rows = dt == 2 ? t.shape()[0] : 1;
    const std::size_t inner = dt == 2 ? t.shape()[1] : t.shape()[0];
    const std::size_t inner_o = o.shape()[0];
    const std::size_t cols = d_o == 2 ? o.shape()[1] : 1;
    if (inner != inner_o) {
        throw std::runtime_error("Dot: shape mismatch.");
    }
    std::vector<std::size_t> shape;
    if (dt == 1 && d_o == 1) {
        shape = {1};
    } else if (dt == 2 && d_o == 1) {
        shape = {rows};
    } else if (dt == 1 && d_o == 2) {
        shape = {cols};
    } else {
        shape = {rows, cols};
    }
    xt::xarray<double> r = xt::xarray<double>::from_shape(shape);
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) {
            double sum = 0.0;
            for (std::size_t l = 0; l < inner; ++l) {
                sum += t.data()[i * inner + l] * o.data()[l * cols + j];
            }
            r.data()[i * cols + j] = sum;
        }
    }
    return r;
}

}  // namespace book_no_blas
