# plot.gp: the side-by-side chart of bench/compare.sh: delivery rates (messages/s, log scale) of Sluice and Postfix
# draining the same messages to the same sink, one pair of bars per sink setting, the ratio written above.
# Usage: gnuplot -e "datafile='bench/compare.dat'; outfile='bench/compare.png'" bench/plot.gp
if (!exists("datafile")) datafile = 'bench/compare.dat'
if (!exists("outfile")) outfile = 'bench/compare.png'
set terminal pngcairo size 900,560 font ",11" noenhanced
set output outfile
set title "Draining the same queue to the same sink (single-recipient 5 KiB messages, 20 connections)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [10:*]
set ylabel "messages per second (log scale)"
set grid ytics
set key top right
set format y "%.0f"
plot datafile using 2:xtic(1) title "Sluice" linecolor rgb "#1f77b4", \
     '' using 3 title "Postfix" linecolor rgb "#d62728", \
     '' using ($0 - 0.15):($2 * 1.6):(sprintf("%.0fx", $4)) with labels notitle
