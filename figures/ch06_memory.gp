# Figure 6.2: peak resident memory beyond inputs and output against n,
# measured in a process of its own per point, with the 16 n^2 bytes of S
# and A that the cost model predicts, from ch06_bench.dat (written by
# code/tools/report_ch06.py). Its columns: 1 n, 9 loops_mib,
# 10 xtensor_mib, 11 blas_mib, 12 tiled_mib, 13 numpy_mib, 14 torch_mib,
# 15 s_and_a_mib.
load "book_style.gnuplot"
data = datadir."/ch06_bench.dat"
set logscale xy
set format x "%.0f"
set xtics (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
set autoscale xfix  # the x axis ends where the data end
set xlabel "n (queries = keys)"
set ylabel "peak memory beyond inputs and output (MiB)"
set yrange [0.1:*]
set key top left Left reverse font ",11"
plot data using 1:15 with lines lt 6 dt 3 lw 2 title "S and A, 16 n² bytes (model)", \
     data using 1:9 with linespoints lt 6 title "loops", \
     data using 1:10 with linespoints lt 4 title "xtensor", \
     data using 1:11 with linespoints lt 2 title "BLAS", \
     data using 1:13 with linespoints lt 3 dt 2 title (rows_with_data(data, 13) ? "NumPy" : ""), \
     data using 1:14 with linespoints lt 5 dt 2 title (rows_with_data(data, 14) ? "PyTorch" : ""), \
     data using 1:12 with linespoints lt 1 title "tiled"
