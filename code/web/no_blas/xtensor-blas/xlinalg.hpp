// The library's path without BLAS: the few entries of xtensor-blas (and of
// the CBLAS interface) that code/attention uses, written as plain loops.
//
// The browser build (code/web/, compiled by Emscripten) has no BLAS. Its
// include path puts this folder before the system's, so that every
// `#include <xtensor-blas/xlinalg.hpp>` of the library lands here and the
// library's headers compile unchanged. The loops are in
// no_blas_products.hpp, where a native test checks them against BLAS.
//
//   xt::linalg::dot   1-D . 1-D, 2-D . 1-D, 1-D . 2-D, 2-D . 2-D
//   xt::linalg::vdot  1-D . 1-D
//   cblas_dgemm       row-major C = alpha op(A) op(B) + beta C
//   cxxblas::gemm     the same, through xtensor-blas's C++ spelling
#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "web/no_blas/no_blas_products.hpp"

// ---------------------------------------------------------------- CBLAS
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };

inline void cblas_dgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta,
                        CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha,
                        const double* a, int lda, const double* b, int ldb,
                        double beta, double* c, int ldc)
{
    if (order != CblasRowMajor) {
        throw std::logic_error("no_blas: cblas_dgemm supports row-major only");
    }
    book_no_blas::gemm_rows(ta == CblasTrans, tb == CblasTrans, m, n, k, alpha,
                            a, lda, b, ldb, beta, c, ldc);
}

// -------------------------------------------------- xtensor-blas's names
namespace cxxblas {
enum class StorageOrder { RowMajor, ColMajor };
enum class Transpose { NoTrans, Trans };

template <class I>
void gemm(StorageOrder order, Transpose ta, Transpose tb, I m, I n, I k,
          double alpha, const double* a, I lda, const double* b, I ldb,
          double beta, double* c, I ldc)
{
    if (order != StorageOrder::RowMajor) {
        throw std::logic_error("no_blas: cxxblas::gemm supports row-major only");
    }
    book_no_blas::gemm_rows(ta == Transpose::Trans, tb == Transpose::Trans,
                            int(m), int(n), int(k), alpha, a, int(lda), b,
                            int(ldb), beta, c, int(ldc));
}
}  // namespace cxxblas

namespace xt {

using blas_index_t = int;

namespace linalg {

/// The product of two 1-D or 2-D expressions, as xt::linalg::dot computes
/// it (a 1-D . 1-D product is an array of one entry), by plain loops.
using book_no_blas::dot;

/// The dot product of two 1-D expressions, as a scalar.
template <class T, class O>
double vdot(const xexpression<T>& a, const xexpression<O>& b)
{
    return book_no_blas::dot(a, b)(0);
}

}  // namespace linalg
}  // namespace xt
