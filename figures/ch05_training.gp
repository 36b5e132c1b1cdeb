# Figure 5.1: training the tiny model, from the columns ch05_heads writes to
# ch05_training.dat (one row per progress report).
load "book_style.gnuplot"
data = datadir."/ch05_training.dat"
set multiplot layout 1,2
set xlabel "Adam step (32 sequences each)"
set title "loss (mean cross-entropy, nats)"
set ylabel "loss"
set logscale y
set format y "10^{%T}"
plot data using 1:2 with linespoints lt 1 title "training loss"
unset logscale y
set format y "%g"
set title "accuracy"
set ylabel "share of positions right"
set yrange [0:1.05]
set key bottom right
plot data using 1:3 with linespoints lt 2 title "training batches, as trained", \
     data using 1:4 with linespoints lt 3 title "1000 test sequences", \
     data using 1:5 with lines lt 4 dt 2 title "same batches, model of the step"
unset multiplot
