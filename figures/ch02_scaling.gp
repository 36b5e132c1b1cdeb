# Figure 2.2: why the scores are divided by sqrt(d_k), from the columns
# ch02_self_attention writes to ch02_scaling.dat: the variance of q.k
# (left) and how saturated the softmax of 32 such scores is (right),
# without and with the scale.
load "book_style.gnuplot"
set terminal svg size 1000,430 fixed font "DejaVu Sans,13" background "white"
set output outfile
data = datadir."/ch02_scaling.dat"
set multiplot layout 1,2
set logscale x 2
set xlabel "d_k"
set xrange [3:1400]
set title "variance of the scores (Eq. 2.6)"
set logscale y 2
set ylabel "sample variance"
set key top left Left reverse
plot data using 1:2 with linespoints lt 1 title "q·k (unscaled)", \
     x with lines lt 6 dt 2 title "d_k", \
     data using 1:3 with linespoints lt 3 title "q·k / √d_k (scaled)"
set title "softmax of 32 scores (Eq. 2.7)"
unset logscale y
set ylabel ""
set yrange [0:1]
# The legend sits in the empty middle right, below the unscaled largest
# weight and above the other three curves.
set key at graph 0.98, graph 0.64 right top Left reverse
plot data using 1:5 with linespoints lt 1 title "largest weight, unscaled", \
     data using 1:6 with linespoints lt 3 title "largest weight, scaled", \
     data using 1:9 with linespoints lt 1 dt 2 title "Jacobian norm, unscaled", \
     data using 1:10 with linespoints lt 3 dt 2 title "Jacobian norm, scaled"
unset multiplot
