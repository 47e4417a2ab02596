#!/usr/bin/env bash
# Set up the optional official-Cityscapes-evaluator baseline (idempotent):
#   bash benchmarks/cityscapes_baseline/setup.sh
#
# Creates benchmarks/.cache/cityscapes-venv with cityscapesscripts 2.3.0, numpy<2.4 (the evaluator
# calls np.in1d, removed in numpy 2.4), pillow, and its C extension addToConfusionMatrix built,
# so that evalPixelLevelSemanticLabeling.CSUPPORT is True (the evaluator's fastest path).
#
# The extension's source (addToConfusionMatrix.pyx + addToConfusionMatrix_impl.c) is in the
# cityscapesScripts git repository but in no cityscapesscripts release on PyPI (wheel or sdist).
# Which build is installed is chosen by CITYSCAPES_EXT:
#   auto     (default) official if its source is found (or was built before), else compat
#   official the official source, from $CITYSCAPES_SCRIPTS_SRC (a cityscapesScripts checkout, or
#            the folder holding the two files) or from the installed package if a release ships it
#   compat   addToConfusionMatrix_compat.pyx beside this script: same interface and same per-pixel
#            counting loop, written for this benchmark
#   none     no extension: the evaluator's pure-Python path (run.py then needs --allow-python)
# Environment: PYTHON (interpreter for the venv, default python3), FRESH=1 (delete the venv first).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="$REPO/benchmarks/.cache/cityscapes-venv"
PY="$VENV/bin/python"
KIND="${CITYSCAPES_EXT:-auto}"

if [[ "${FRESH:-0}" == 1 ]]; then rm -rf "$VENV"; fi

if [[ ! -x "$PY" ]]; then
  echo "creating $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  "${PYTHON:-python3}" -m venv "$VENV"
fi

# Runtime: the evaluator, numpy<2.4, pillow. Build time: Cython and setuptools.
if ! "$PY" - <<'PYEOF' 2>/dev/null
import importlib.metadata as m
assert m.version("cityscapesscripts") == "2.3.0"
assert tuple(int(x) for x in m.version("numpy").split(".")[:2]) < (2, 4)
for name in ("pillow", "cython", "setuptools"):
    m.version(name)
PYEOF
then
  echo "installing cityscapesscripts==2.3.0, numpy<2.4, pillow, cython, setuptools ..." >&2
  # 'WARNING: Location ... is ignored' lines come from the local package mirror; harmless.
  "$PY" -m pip install --quiet "cityscapesscripts==2.3.0" "numpy<2.4" pillow cython setuptools 2>&1 \
    | { grep -v "is ignored" || true; } >&2
fi

PKG_EVAL="$("$PY" -c 'import os, cityscapesscripts.evaluation as e; print(os.path.dirname(e.__file__))')"

find_official_source() {
  local root="${CITYSCAPES_SCRIPTS_SRC:-}" dir
  for dir in ${root:+"$root/cityscapesscripts/evaluation" "$root"} "$PKG_EVAL"; do
    if [[ -f "$dir/addToConfusionMatrix.pyx" && -f "$dir/addToConfusionMatrix_impl.c" ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

case "$KIND" in
  auto)
    if src="$(find_official_source)"; then
      "$PY" "$HERE/build_extension.py" official "$src"
    elif grep -qs '"kind": "official"' "$PKG_EVAL/addToConfusionMatrix.build.json" \
         && compgen -G "$PKG_EVAL/addToConfusionMatrix*.so" >/dev/null; then
      echo "keeping the official addToConfusionMatrix built earlier" >&2
    else
      echo "official addToConfusionMatrix source not found (not in the PyPI release; set" \
           "CITYSCAPES_SCRIPTS_SRC to a cityscapesScripts checkout to use it): using compat" >&2
      "$PY" "$HERE/build_extension.py" compat
    fi ;;
  official)
    if ! src="$(find_official_source)"; then
      echo "CITYSCAPES_EXT=official: no addToConfusionMatrix.pyx + addToConfusionMatrix_impl.c" \
           "under CITYSCAPES_SCRIPTS_SRC='${CITYSCAPES_SCRIPTS_SRC:-}' or $PKG_EVAL" >&2
      exit 1
    fi
    "$PY" "$HERE/build_extension.py" official "$src" ;;
  compat) "$PY" "$HERE/build_extension.py" compat ;;
  none) "$PY" "$HERE/build_extension.py" none ;;
  *) echo "CITYSCAPES_EXT must be auto, official, compat or none (got '$KIND')" >&2; exit 2 ;;
esac

"$PY" - <<'PYEOF' >&2
import importlib.metadata as m, sys
print("python", sys.version.split()[0], "| cityscapesscripts", m.version("cityscapesscripts"),
      "| numpy", m.version("numpy"), "| pillow", m.version("pillow"), "| cython", m.version("cython"))
PYEOF
if [[ "$KIND" == none ]]; then
  "$PY" "$HERE/build_extension.py" check >&2 || true
else
  "$PY" "$HERE/build_extension.py" check >&2
fi
echo "ready: $PY" >&2
