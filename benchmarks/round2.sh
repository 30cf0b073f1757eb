#!/bin/sh
# Re-measure every table of the performance round (issue 16's goals) in one go, one benchmark
# after the other on an otherwise idle machine, and write them to one Markdown file:
#     sh benchmarks/round2.sh [OUT.md]        (about 25 minutes; NEST from /tmp/nestvenv)
# Each section starts with the command that produced it.
set -e
OUT=${1:-round2.md}
cd "$(dirname "$0")/.."
run() {
    echo "\n### \`$*\`\n" >> "$OUT"
    echo "uptime: $(uptime | sed 's/.*load/load/')\n" >> "$OUT"
    "$@" >> "$OUT" 2>&1
}
echo "# Performance round two, measured in one go ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores)" > "$OUT"
run python benchmarks/cold_start.py                                  # goals 2, 7
run python benchmarks/online_updates.py                              # goal 1
run python benchmarks/vs_nest.py                                     # goals 1, 3, 5
run python benchmarks/vs_nest_online.py                              # goal 1 (NEST's online models)
run python benchmarks/vs_torch.py                                    # goal 1
run python benchmarks/window_mb.py                                   # goal 3
run sh -c '/usr/bin/time -f "peak RSS %M KB, %e s" python -m snnsim.cli.main train examples/evidence_accumulation.toml --iterations 50 --out /tmp/round2_evidence.h5 --overwrite -q'   # goal 3
run python benchmarks/threads.py                                     # goal 6
if [ -f benchmarks/sparse_large.py ]; then run python benchmarks/sparse_large.py; fi   # goal 4
echo "written: $OUT"
