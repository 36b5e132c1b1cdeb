# Figure 6.1: time of one attention head against n (d = 64, double, one
# thread): the library's ways, NumPy, PyTorch and the matrix-multiply
# bound, from ch06_bench.dat, which code/tools/report_ch06.py writes (the
# build's short run, or the full benchmark once code/tools/benchmark_ch06.sh
# has run). Top: seconds; bottom: seconds over the bound. Only the series
# with data are drawn, and the axes end where the data end. Columns
# (report_ch06.py's BENCH_COLUMNS): 1 n, 2 loops_s, 3 xtensor_s, 4 blas_s,
# 5 tiled_s, 6 fast_s, 7 numpy_s, 8 torch_s, 9 bound_s.
load "book_style.gnuplot"
data = datadir."/ch06_bench.dat"
set terminal svg size 900,1000 fixed font "DejaVu Sans,15" background "white"
set output outfile
set multiplot layout 2,1
set logscale xy
set format x "%.0f"
set xtics (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
set autoscale xfix
set autoscale yfix
set offsets graph 0.02, graph 0.02, graph 0.04, graph 0.04
set xlabel "n (queries = keys)"
set ylabel "seconds"
set format y "10^{%L}"
set key top left Left reverse font ",14"
set title "Time of one attention, one thread"
clauses = series(data, 2, 'using 1:2 with linespoints lt 6 title "loops"') \
        . series(data, 3, 'using 1:3 with linespoints lt 4 title "xtensor"') \
        . series(data, 4, 'using 1:4 with linespoints lt 2 title "BLAS"') \
        . series(data, 7, 'using 1:7 with linespoints lt 3 dt 2 title "NumPy"') \
        . series(data, 8, 'using 1:8 with linespoints lt 5 dt 2 title "PyTorch"') \
        . series(data, 5, 'using 1:5 with linespoints lt 1 dt 4 pt 6 title "tiled"') \
        . series(data, 6, 'using 1:6 with linespoints lt 1 title "fast"') \
        . series(data, 9, 'using 1:9 with lines lt 6 dt 3 lw 2 title "matmul bound"')
eval plot_of(clauses)
set title "Time / matmul bound"
set ylabel "ratio"
set format y "%g"
unset key
ratios = series(data, 2, 'using 1:($2/$9) with linespoints lt 6') \
       . series(data, 3, 'using 1:($3/$9) with linespoints lt 4') \
       . series(data, 4, 'using 1:($4/$9) with linespoints lt 2') \
       . series(data, 7, 'using 1:($7/$9) with linespoints lt 3 dt 2') \
       . series(data, 8, 'using 1:($8/$9) with linespoints lt 5 dt 2') \
       . series(data, 5, 'using 1:($5/$9) with linespoints lt 1 dt 4 pt 6') \
       . series(data, 6, 'using 1:($6/$9) with linespoints lt 1') \
       . series(data, 9, 'using 1:($9/$9) with lines lt 6 dt 3') \
       . series(data, 9, 'using 1:(1.5) with lines lt 6 dt 2')
eval plot_of(ratios)
unset multiplot
