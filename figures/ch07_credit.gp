# Figure 7.5: three ways of crediting the tokens for one prediction of the
# main two-layer model, from ch07_credit.dat (key j, then the raw weights
# of layer 1 (mean of heads), of its induction head, the rollout and the
# occlusion credit).
load "book_style.gnuplot"
data = datadir."/ch07_credit.dat"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xlabel "key position j"
set ylabel "credit (each method sums to 1)"
set yrange [0:1.05]
set key top left
plot data using 2:xtic(1) lt 2 title "raw weights, layer 1 (mean of heads)", \
     data using 4 lt 3 title "attention rollout", \
     data using 5 lt 4 title "occlusion (loss rise, normalised)"
