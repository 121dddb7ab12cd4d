#!/usr/bin/env bash
# Make a checkout importable as the dlsynth package without installing it: link dls/, gmbank/, smf/, synth/,
# sink/, native/ and apps/ inside dlsynth/ (as pyproject.toml's package mapping places them),
# so that `PYTHONPATH=DIR python -m dlsynth ...` runs DIR's code. The links are ignored by git.
#   bash dev/link-package.sh [DIR]     (default: this checkout)
set -euo pipefail
DIR="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)"
for part in dls gmbank smf synth sink native apps; do
    ln -sfn "../$part" "$DIR/dlsynth/$part"
done
