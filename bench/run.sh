#!/usr/bin/env bash
# umvu benchmark: native vs umvu vs PRoot, side by side. `npm run bench` runs this.
#   bash bench/run.sh [--quick] [--with-slow] [--only ls,find] [WORKLOAD...] [--help]
# Builds the helpers (timeit, the syscall loops, the generated C project) into
# bench/out/, then hands over to bench/bench.mjs, which runs and reports.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
out=$here/out
umvu=$root/packages/cli/bin/umvu

for a in "$@"; do
	case $a in
	-h|--help|--list) exec node "$here/bench.mjs" "$@" ;;
	--umvu) umvu_next=1 ;;
	*) if [[ ${umvu_next:-} ]]; then umvu=$a; umvu_next=; fi ;;
	esac
done

for tool in node gcc make; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench: $tool is needed but not installed" >&2
		exit 2
	fi
done

not_built() {
	echo "bench: umvu is not built ($1)." >&2
	echo "bench: build it first:  cd $root && npm run build   (TypeScript only: npm run build --workspace packages/cli)" >&2
	exit 2
}
[[ -x $umvu ]] || not_built "$umvu missing"
if [[ $umvu == "$root/packages/cli/bin/umvu" ]]; then
	[[ -d $root/packages/cli/dist ]] || not_built "packages/cli/dist missing"
	compgen -G "$root/native/build/Release/*.node" >/dev/null ||
		compgen -G "$root/native/prebuilds/linux-x64/*.node" >/dev/null ||
		not_built "no native addon in native/build/Release or native/prebuilds"
fi

mkdir -p "$out"

# Helpers, rebuilt when their source changes.
build() { # build OUTPUT SOURCE
	if [[ ! -x $out/$1 || $here/$2 -nt $out/$1 ]]; then
		gcc -O2 -Wall -o "$out/$1" "$here/$2"
	fi
}
build timeit timeit.c
build getppid_loop getppid_loop.c
build stat_loop stat_loop.c

# The C project for the make workload (rewritten only when its content changes).
node "$here/gen-proj.mjs" "$out/proj" 20

# Does umvu run at all? A clear message now beats a table of FAILs.
if ! err=$(cd "$out" && "$umvu" true 2>&1); then
	if grep -q -e MODULE_NOT_FOUND -e ERR_MODULE_NOT_FOUND -e 'Cannot find module' <<<"$err"; then
		echo "$err" | grep -m1 -e 'Cannot find' -e 'not found' >&2
		not_built "\`umvu true\` cannot load its modules"
	fi
	echo "bench: \`umvu true\` fails ($umvu):" >&2
	echo "$err" | tail -5 >&2
	exit 1
fi

exec node "$here/bench.mjs" "$@"
