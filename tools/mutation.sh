#!/usr/bin/env bash
# Mutation testing of the report layer: does a one-line change to a printed figure or to the
# suppression make a test fail? mutmut (configured in pyproject.toml, [tool.mutmut]) changes
# the report modules one mutant at a time and runs the tests that cover each.
#
#   tools/mutation.sh [OUT]      # results into OUT (default: a new temporary folder)
#   MUTATION_ONLY="kpis narrative" tools/mutation.sh OUT    # only those report modules
#   MUTATION_ONLY="disclosure/engine" MUTATION_TIMEOUT=1300 tools/mutation.sh OUT  # stop after 1300 s
#
# It runs in a copy of the repository (never in your working tree), MUTATION_CHILDREN mutants at
# a time (default 1: the machine is shared; with 2, about 40 minutes on 2 cores). Not run in CI.
# OUT gets results.txt (every mutant and its status), survived.txt (each surviving mutant's
# diff) and score.txt. A surviving mutant that changes a printed number or a suppression needs
# a test that states the fact; one that cannot change any output is equivalent: say why in
# tools/report_layer_checks.md, beside the table of planted bugs. With MUTATION_TIMEOUT the run
# stops after that many seconds and reports the mutants it reached (the rest "not checked").
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ -n "${1:-}" ]; then mkdir -p "$1"; out="$(cd "$1" && pwd)"; else out="$(mktemp -d)"; fi
python="${PYTHON:-python3}"
"$python" -c "import mutmut" 2>/dev/null || "$python" -m pip install -q -e "$repo[mutation]"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Tracked and new files as they are now (uncommitted changes included), nothing ignored.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} "$work"/ 2>/dev/null || true)
cd "$work"
if [ -n "${MUTATION_ONLY:-}" ]; then  # e.g. MUTATION_ONLY="kpis narrative": those report modules only
  "$python" - "$MUTATION_ONLY" <<'PY'
import re, sys
from pathlib import Path
files = ", ".join(f'"escalation_analysis/reviews/{name}.py"' for name in sys.argv[1].split())
text = Path("pyproject.toml").read_text()
Path("pyproject.toml").write_text(re.sub(r"only_mutate = \[.*?\]", f"only_mutate = [{files}]", text, count=1, flags=re.S))
PY
fi
export CI=true  # the derandomised hypothesis profile: the same examples for every mutant

start=$(date +%s)
timeout "${MUTATION_TIMEOUT:-0}" "$python" -m mutmut run --max-children "${MUTATION_CHILDREN:-1}" > "$out/run.log" 2>&1 || true
"$python" -m mutmut results --all true > "$out/results.txt" 2>&1 || "$python" -m mutmut results > "$out/results.txt" 2>&1
: > "$out/survived.txt"
for name in $(awk -F: '/: survived/ {print $1}' "$out/results.txt"); do
  "$python" -m mutmut show "$name" >> "$out/survived.txt" 2>&1
  echo >> "$out/survived.txt"
done
killed=$(grep -c ": killed" "$out/results.txt" || true)
survived=$(grep -c ": survived" "$out/results.txt" || true)
other=$(grep -cvE ": (killed|survived)$" "$out/results.txt" || true)
total=$((killed + survived))
{
  echo "killed $killed, survived $survived, other $other (timeouts, no tests...)"
  [ "$total" -gt 0 ] && echo "mutation score: $((100 * killed / total))% of $total mutants"
  echo "time: $(( $(date +%s) - start )) s"
} | tee "$out/score.txt"
echo "results in $out"
