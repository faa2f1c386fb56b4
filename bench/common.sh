# Sourced by the module benchmarks (vudev.sh, vunet.sh, vufs-owners.sh): strict mode, umvu of
# this checkout first in PATH, the C locale, REPS from the first argument (default 3), and
#   needs TOOL...      each TOOL must be installed
#   built PACKAGE...   umvu and each module package must be built
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH=$root/packages/cli/bin:$PATH
export LC_ALL=C
reps=${1:-3}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash bench/$(basename "$0") [REPS]" >&2; exit 2; }
needs() {
	for tool; do command -v "$tool" >/dev/null || { echo "bench: $tool is needed" >&2; exit 2; }; done
}
built() {
	for pkg in cli "$@"; do
		[[ -d $root/packages/$pkg/dist ]] || { echo "bench: umvu is not built: cd $root && npm run build" >&2; exit 2; }
	done
}
