# Figure 1.1: the reversal task trained by gradient descent, from the
# columns ch01_bahdanau writes to ch01_training.dat (every 10 steps).
load "book_style.gnuplot"
data = datadir."/ch01_training.dat"
set multiplot layout 1,2
set xlabel "gradient step"
set title "loss (cross-entropy, nats)"
set logscale y
set format y "%g"
set ylabel "loss"
set key top right
plot data using 1:2 with lines lt 2 title "batch", \
     data using 1:3 with lines lt 1 title "held-out"
unset logscale y
set title "accuracy on held-out sequences"
set ylabel ""
set yrange [0:1.05]
set key right center noenhanced
plot data using 1:4 with lines lt 1 title "alignment right", \
     data using 1:5 with lines lt 3 dt 2 title "output right", \
     1.0/8 with lines lt 6 dt 3 title "chance 1/8"
unset multiplot
