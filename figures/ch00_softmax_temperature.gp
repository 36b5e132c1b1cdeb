# Figure 0.1: the softmax of beta * (2, 1, 0.5, -1) as beta grows, from the
# columns ch00_introduction writes to ch00_softmax_temperature.dat.
load "book_style.gnuplot"
data = datadir."/ch00_softmax_temperature.dat"
set multiplot layout 1,2
set logscale x
set xlabel "β (scale of the logits)"
set ylabel "weight"
set yrange [0:1]
set key top left Left reverse
set title "weights a_j"
plot data using 1:2 with lines title "logit 2", \
     data using 1:3 with lines title "logit 1", \
     data using 1:4 with lines title "logit 0.5", \
     data using 1:5 with lines title "logit −1"
set title "largest weight and entropy"
set ylabel ""
set yrange [0:1.5]
set key bottom left
plot data using 1:6 with lines lt 1 title "largest weight", \
     data using 1:7 with lines lt 3 title "entropy (nats)", \
     log(4) with lines lt 6 dt 2 title "log 4"
unset multiplot
