# The chart of build/bench/run, drawn in its output directory from the files
# build/bench/report writes there: rps.dat ("label" req/s cpu_us),
# scaling.dat (functions devices info validate16 iommu-groups), fit.gp
# (fit, ceiling, axis bounds).
load 'fit.gp'

set terminal pngcairo size 1500,620 font 'DejaVu Sans,10'
set output 'bench.png'
set multiplot layout 1,2 title "mod\\_volant\\_vfio under Apache httpd: requests/s against the static-file ceiling, and scaling with the host" font ',12'

# ---- left: requests/s per endpoint, the ceiling as a line -------------------
set title 'requests/s (wrk -t2 -c32, keep-alive; higher is better)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.8
set xtics rotate by -35 left nomirror font ',9'
set bmargin 8
set ytics nomirror
set grid ytics lc rgb '#dddddd'
set yrange [0:(max_rps > ceiling_rps ? max_rps : ceiling_rps) * 1.15]
set ylabel 'requests/s'
set key top right
set arrow 1 from graph 0, first ceiling_rps to graph 1, first ceiling_rps nohead dt 2 lw 2 lc rgb '#c0392b' front
set label 1 sprintf('ceiling %.0f req/s', ceiling_rps) at graph 0.99, first ceiling_rps * 1.04 right tc rgb '#c0392b'
plot 'rps.dat' using 2:xtic(1) notitle lc rgb '#2e86c1', \
     '' using 0:2:(sprintf('%.0f%%', 100 * $2 / ceiling_rps)) with labels offset 0,0.8 font ',8' notitle
unset arrow 1
unset label 1

# ---- right: CPU per request against the number of functions ---------------
set title 'server CPU per request against host size (log-log; lower is better)'
set bmargin 8
set style data linespoints
unset xtics
set xtics nomirror rotate by 0 font ',10'
set logscale xy
set xrange [hosts_min / 1.4 : hosts_max * 1.4]
set yrange [*:*]
set autoscale y
set xlabel 'PCI functions on the host (simulator static trees)'
set ylabel 'server CPU µs per request'
set key top left
prop(x) = dev_small_us * x / hosts_min
set samples 200
plot 'scaling.dat' using 1:2 with linespoints pt 7 ps 1.6 lw 2 lc rgb '#c0392b' title sprintf('GET /devices (least squares: %.1f µs per function)', b), \
     prop(x) with lines dt 2 lw 1 lc rgb '#c0392b' title sprintf('proportional to functions, from %d', hosts_min), \
     '' using 1:3 with linespoints pt 5 lw 2 lc rgb '#2e86c1' title 'POST /devices/info', \
     '' using 1:4 with linespoints pt 9 lw 2 lc rgb '#27ae60' title 'POST /devices/validate (16)', \
     '' using 1:5 with linespoints pt 11 lw 2 lc rgb '#8e44ad' title 'POST /devices/iommu-groups (2)', \
     ceiling_us with lines dt 3 lw 2 lc rgb '#7f8c8d' title 'static file (ceiling)'
unset multiplot
