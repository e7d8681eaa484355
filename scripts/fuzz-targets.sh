#!/usr/bin/env bash
# fuzz-targets.sh lists every Go fuzz target as package:FuzzName, so that CI fuzzes new
# decoders without anyone remembering to add them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | while read -r f; do
	dir=./$(dirname "$f")
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r name; do
		echo "$dir:$name"
	done
done
