# Figure 7.1: the repeated-half loss of every training run, one line per
# seed, from ch07_curves.dat (column 1 the step, then the one-layer runs,
# then the two-layer runs, one column per seed; the loss is the mean over
# the training batches since the previous report).
load "book_style.gnuplot"
set autoscale xfix
data = datadir."/ch07_curves.dat"
columns = int(system("awk 'NR == 1 {print NF - 1}' '".data."'"))
seeds = (columns - 1) / 2
ln_v = log(16)
set xlabel "Adam step (16 sequences each)"
set ylabel "loss on repeated positions (nats)"
set yrange [0:3.3]
set key top right
plot for [c = 2:seeds + 1] data using 1:c with lines lt 4 lw 1.5 \
         title (c == 2 ? "1 layer, one line per seed" : ""), \
     for [c = seeds + 2:2 * seeds + 1] data using 1:c with lines lt 1 lw 1.5 \
         title (c == seeds + 2 ? "2 layers, one line per seed" : ""), \
     ln_v with lines lt 6 dt 2 lw 1.2 title "ln |V| (guessing)", \
     ln_v / 2 with lines lt 6 dt 3 lw 1.2 title "ln |V| / 2 (phase-change line)"
