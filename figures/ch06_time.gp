# Figure 6.1: time of one head's attention against n (d = 64, double, one
# thread), the four ways, NumPy, PyTorch and the matrix-multiply bound, from
# ch06_bench.dat, which code/tools/report_ch06.py writes (the full
# benchmark's numbers once code/tools/benchmark_ch06.sh has run, else the
# build's short run). Top: CPU seconds; bottom: CPU seconds over the bound.
# Its columns (report_ch06.py's BENCH_COLUMNS): 1 n, 2 loops_s,
# 3 xtensor_s, 4 blas_s, 5 tiled_s, 6 numpy_s, 7 torch_s, 8 bound_s.
load "book_style.gnuplot"
data = datadir."/ch06_bench.dat"
set terminal svg size 900,1000 fixed font "DejaVu Sans,15" background "white"
set output outfile
set multiplot layout 2,1
set logscale xy
set format x "%.0f"
set xtics (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
set autoscale xfix  # the x axis ends where the data end
set xlabel "n (queries = keys)"
set ylabel "CPU seconds"
set format y "10^{%L}"
set key top left Left reverse font ",14"
set title "CPU time of one attention"
plot data using 1:2 with linespoints lt 6 title "loops", \
     data using 1:3 with linespoints lt 4 title "xtensor", \
     data using 1:4 with linespoints lt 2 title "BLAS", \
     data using 1:5 with linespoints lt 1 title "tiled", \
     data using 1:6 with linespoints lt 3 dt 2 title (rows_with_data(data, 6) ? "NumPy" : ""), \
     data using 1:7 with linespoints lt 5 dt 2 title (rows_with_data(data, 7) ? "PyTorch" : ""), \
     data using 1:8 with lines lt 6 dt 3 lw 2 title "matmul bound"
set title "CPU time / matmul bound"
set ylabel "ratio"
set format y "%g"
set yrange [0.5:*]
unset key
plot data using 1:($4/$8) with linespoints lt 2, \
     data using 1:($5/$8) with linespoints lt 1, \
     data using 1:($6/$8) with linespoints lt 3 dt 2, \
     data using 1:($7/$8) with linespoints lt 5 dt 2, \
     1 with lines lt 6 dt 3, 2 with lines lt 6 dt 2
unset multiplot
