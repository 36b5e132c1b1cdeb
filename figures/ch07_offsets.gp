# Figure 7.2: loss at each position of the repeat on held-out sequences,
# mean over seeds with the smallest and largest seed as the bar, from
# ch07_offsets.dat (k, then mean, min, max for 1 and for 2 layers).
load "book_style.gnuplot"
data = datadir."/ch07_offsets.dat"
set xlabel "k: position in the repeat (its k-th token predicts the (k+1)-th)"
set ylabel "loss (nats)"
set xrange [-0.5:6.5]
set xtics 1
set yrange [0:3.3]
set key top right
plot data using ($1 - 0.06):2:3:4 with yerrorlines lt 4 \
         title "1 layer (mean; bar: min to max over seeds)", \
     data using ($1 + 0.06):5:6:7 with yerrorlines lt 1 \
         title "2 layers", \
     log(16) with lines lt 6 dt 2 lw 1.2 title "ln |V|"
