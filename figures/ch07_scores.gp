# Figure 7.3: the main two-layer run (seed 1): its repeated loss, and the
# scores of its heads over training, measured on 16 held-out sequences at
# every report, from ch07_scores.dat (step, repeated, then per head h:
# layer 0's previous-token and duplicate-token scores, layer 1's induction
# score, layer 0's weight on the keys 4 to 8 back).
load "book_style.gnuplot"
set autoscale xfix
set terminal svg size 900,560 fixed font "DejaVu Sans,13" background "white"
set output outfile
data = datadir."/ch07_scores.dat"
set multiplot layout 2,1
set lmargin 10
set ylabel "repeated loss"
set yrange [0:3.3]
set format x ""
plot data using 1:2 with lines lt 1 title "" , \
     log(16) / 2 with lines lt 6 dt 3 lw 1.2 title "ln |V| / 2"
set format x "%g"
set xlabel "Adam step"
set ylabel "score"
set yrange [0:1.05]
set key top left maxrows 4
plot data using 1:5 with lines lt 1 title "layer 1 head 0: induction", \
     data using 1:9 with lines lt 2 title "layer 1 head 1: induction", \
     data using 1:6 with lines lt 3 title "layer 0 head 0: look-back 4-8", \
     data using 1:10 with lines lt 4 title "layer 0 head 1: look-back 4-8", \
     data using 1:3 with lines lt 3 dt 2 title "layer 0 head 0: previous-token", \
     data using 1:7 with lines lt 4 dt 2 title "layer 0 head 1: previous-token", \
     data using 1:4 with lines lt 3 dt 3 title "layer 0 head 0: duplicate", \
     data using 1:8 with lines lt 4 dt 3 title "layer 0 head 1: duplicate"
unset multiplot
