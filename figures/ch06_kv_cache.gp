# Figure 6.3: one decoding step at length t with and without the key-value
# cache (d_model = 256, d_k = d_v = 64), measured, and the cost model of
# Eq. 6.10 turned into seconds at the measured matrix-multiply rate, from
# ch06_kv_plot.dat (written by code/tools/report_ch06.py). Its columns:
# 1 t, 2 cached_s, 3 uncached_s, 4 cached_model_s, 5 uncached_model_s.
load "book_style.gnuplot"
data = datadir."/ch06_kv_plot.dat"
set logscale xy
set format x "%.0f"
set format y "10^{%L}"
set xlabel "t (tokens so far)"
set ylabel "seconds per generated token"
set key top left Left reverse font ",11"
plot data using 1:3 with linespoints lt 5 title "without cache, measured", \
     data using 1:5 with lines lt 5 dt 2 title "without cache, model", \
     data using 1:2 with linespoints lt 1 title "with cache, measured", \
     data using 1:4 with lines lt 1 dt 2 title "with cache, model"
