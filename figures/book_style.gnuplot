# The book's common plot style: loaded by every figures/chNN_*.gp script.
# The build passes datadir (where the programs wrote their data) and
# outfile (the .svg to write).
set encoding utf8
set terminal svg size 900,420 fixed font "DejaVu Sans,13" background "white"
set output outfile
set border 3 lw 1.2 lc rgb "#444444"
set tics nomirror textcolor rgb "#333333"
set grid lc rgb "#dddddd" lw 1
set key noautotitle
# Viridis-like line colours, dark to light.
set linetype 1 lc rgb "#440154" lw 2.5 pt 7 ps 0.6
set linetype 2 lc rgb "#31688e" lw 2.5 pt 5 ps 0.6
set linetype 3 lc rgb "#35b779" lw 2.5 pt 9 ps 0.6
set linetype 4 lc rgb "#e0a400" lw 2.5 pt 11 ps 0.6
set linetype 5 lc rgb "#c0392b" lw 2.5 pt 13 ps 0.6
set linetype 6 lc rgb "#7f7f7f" lw 2.5 pt 3 ps 0.6
# The number of rows of `file` whose column `col` holds a number: a series
# with none is left out of the plot's key (title ""), so that a legend names
# only what is drawn (chapter 6's NumPy and PyTorch columns are "nan" when
# those were not measured).
rows_with_data(file, col) = int(system(sprintf( \
    "awk 'NR > 1 && $%d != \"nan\" {c++} END {print c + 0}' '%s'", \
    col, file)))
# The plot clause "'file' spec, " of a series that has data in column
# `col`, or "" for one that has none; a figure builds its plot command
# from these (see plot_of), so that it draws, and its key names, only the
# series with data.
series(file, col, spec) = rows_with_data(file, col) > 0 ? \
    sprintf("'%s' %s, ", file, spec) : ""
# "plot" and the clauses, without the last ", ": for eval.
plot_of(clauses) = "plot " . clauses[1:strlen(clauses) - 2]
