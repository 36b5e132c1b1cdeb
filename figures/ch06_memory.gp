# Figure 6.2: peak resident memory beyond inputs and output against n,
# measured in a process of its own per point, with the 16 n^2 bytes of S
# and A that the cost model predicts, from ch06_bench.dat (written by
# code/tools/report_ch06.py). Only the series with data are drawn. Columns:
# 1 n, 10 loops_mib, 11 xtensor_mib, 12 blas_mib, 13 tiled_mib,
# 14 fast_mib, 15 numpy_mib, 16 torch_mib, 17 s_and_a_mib.
load "book_style.gnuplot"
data = datadir."/ch06_bench.dat"
set logscale xy
set format x "%.0f"
set xtics (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
set autoscale xfix
set autoscale yfix
set offsets graph 0.02, graph 0.02, graph 0.04, graph 0.04
set xlabel "n (queries = keys)"
set ylabel "peak memory beyond inputs and output (MiB)"
set key top left Left reverse font ",11"
clauses = series(data, 17, 'using 1:17 with lines lt 6 dt 3 lw 2 title "S and A, 16 n² bytes (model)"') \
        . series(data, 10, 'using 1:10 with linespoints lt 6 title "loops"') \
        . series(data, 11, 'using 1:11 with linespoints lt 4 title "xtensor"') \
        . series(data, 12, 'using 1:12 with linespoints lt 2 title "BLAS"') \
        . series(data, 15, 'using 1:15 with linespoints lt 3 dt 2 title "NumPy"') \
        . series(data, 16, 'using 1:16 with linespoints lt 5 dt 2 title "PyTorch"') \
        . series(data, 13, 'using 1:13 with linespoints lt 1 dt 4 pt 6 title "tiled"') \
        . series(data, 14, 'using 1:14 with linespoints lt 1 title "fast"')
eval plot_of(clauses)
