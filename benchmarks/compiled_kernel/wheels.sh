#!/bin/bash
# Which platforms/Pythons have binary wheels of numba 0.68.1 (+ its llvmlite): metadata-only
# resolution with pip (--dry-run --only-binary=:all:), nothing installed.
for plat in manylinux_2_28_x86_64 manylinux_2_28_aarch64 musllinux_1_2_x86_64 macosx_14_0_arm64 macosx_13_0_x86_64 win_amd64 win_arm64; do
  for py in 3.11 3.12 3.13 3.14; do
    out=$(venv/bin/pip install --dry-run --quiet --report - --no-cache-dir --only-binary=:all: \
      --platform $plat --python-version $py --target /tmp/kx-none numba==0.68.1 2>/dev/null \
      | venv/bin/python -c 'import json,sys
try:
  r=json.load(sys.stdin); print(" ".join(i["metadata"]["name"]+"="+i["download_info"]["url"].rsplit("/",1)[-1] for i in r["install"] if i["metadata"]["name"] in ("numba","llvmlite")))
except Exception: print("NO WHEEL")')
    echo "$plat py$py: $out"
  done
done
