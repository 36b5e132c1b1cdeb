# Figure 5.3: accuracy as heads are removed one at a time, from the columns
# ch05_heads writes to ch05_pruning.dat.
load "book_style.gnuplot"
data = datadir."/ch05_pruning.dat"
set xlabel "heads left"
set ylabel "test accuracy"
set xrange [4.2:-0.2]
set xtics 1
set yrange [0:1.05]
set key outside right top
plot data using 1:7:8 with filledcurves fc rgb "#e8e8e8" \
         title "random order: range", \
     data using 1:6 with linespoints lt 6 dt 2 title "random order: mean", \
     data using 1:2 with linespoints lt 1 title "by Î_h (once)", \
     data using 1:3 with linespoints lt 2 title "by Î_h, re-measured", \
     data using 1:4 with linespoints lt 3 title "by ablation", \
     data using 1:5 with linespoints lt 4 title "by confidence"
