"""Build, install and check cityscapesScripts' optional C extension ``addToConfusionMatrix``.

Run with the cityscapes venv's python (``setup.sh`` does this):

    python build_extension.py official SRC_DIR  # SRC_DIR holds addToConfusionMatrix.pyx and
                                               # addToConfusionMatrix_impl.c (a cityscapesScripts
                                               # checkout's cityscapesscripts/evaluation folder)
    python build_extension.py compat            # addToConfusionMatrix_compat.pyx beside this file
    python build_extension.py none              # remove it: the evaluator's pure-Python path
    python build_extension.py check             # print the stamp, exit 1 unless CSUPPORT is True

official/compat keep an installed build made from the same source (add --force to rebuild).

The official build follows the comment in cityscapesScripts' setup.py
(``CYTHONIZE_EVAL= python setup.py build_ext``: cythonize, numpy headers, g++).
The compiled module goes into the installed package's ``evaluation`` folder, next
to ``evalPixelLevelSemanticLabeling.py``, with a stamp ``addToConfusionMatrix.build.json``
saying what was built from what.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULE = "addToConfusionMatrix"
STAMP = f"{MODULE}.build.json"


def package_dir() -> Path:
    import cityscapesscripts.evaluation as evaluation

    return Path(evaluation.__file__).resolve().parent


def sources(kind: str, src: Path | None) -> list[Path]:
    if kind == "official":
        assert src is not None
        files = [src / f"{MODULE}.pyx", src / f"{MODULE}_impl.c"]
    else:
        files = [HERE / f"{MODULE}_compat.pyx"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        sys.exit(f"missing source file(s): {', '.join(missing)}")
    return files


def digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def remove_installed(target: Path) -> None:
    for f in target.glob(f"{MODULE}*.so"):
        f.unlink()
    (target / STAMP).unlink(missing_ok=True)


def build(kind: str, src: Path | None) -> None:
    import Cython
    import numpy as np

    files = sources(kind, src)
    target = package_dir()
    with tempfile.TemporaryDirectory(prefix="cs-ext-") as tmp:
        work = Path(tmp)
        # The module must be called addToConfusionMatrix: copy the sources under that name.
        pyx = work / f"{MODULE}.pyx"
        shutil.copyfile(files[0], pyx)
        for extra in files[1:]:
            shutil.copyfile(extra, work / extra.name)
        script = f"""
import os
from setuptools import setup, Extension
from Cython.Build import cythonize
import numpy as np
ext = Extension("cityscapesscripts.evaluation.{MODULE}", ["{MODULE}.pyx"],
                include_dirs=[np.get_include()])
setup(name="cs-ext", ext_modules=cythonize([ext], language_level=3, quiet=True),
      script_args=["build_ext", "--build-lib", "lib", "--build-temp", "tmp"])
"""
        env = dict(os.environ)
        if kind == "official":
            env["CC"] = env["CXX"] = "g++"  # as cityscapesScripts' setup.py does
        subprocess.run(
            [sys.executable, "-c", script], cwd=work, env=env, check=True, stdout=sys.stderr
        )
        built = list((work / "lib").rglob(f"{MODULE}*.so"))
        if len(built) != 1:
            sys.exit(f"build produced {built}, expected one {MODULE}*.so")
        remove_installed(target)
        shutil.copy2(built[0], target / built[0].name)
    stamp = {
        "kind": kind,
        "source": [str(f) for f in files],
        "source_sha256": digest(files),
        "cython": Cython.__version__,
        "numpy": np.__version__,
        "cityscapesscripts": importlib.metadata.version("cityscapesscripts"),
        "python": sys.version.split()[0],
    }
    (target / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    print(f"installed {kind} {MODULE} into {target}", file=sys.stderr)


def read_stamp() -> dict | None:
    try:
        return json.loads((package_dir() / STAMP).read_text())
    except (OSError, ValueError):
        return None


def check() -> int:
    """CSUPPORT as the evaluator sees it, plus a numeric check of cEvaluatePair."""
    import numpy as np
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as ev

    stamp = read_stamp()
    print(f"CSUPPORT = {ev.CSUPPORT}; build: {json.dumps(stamp)}")
    if not ev.CSUPPORT:
        return 1
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 34, (64, 48), dtype=np.uint8)
    pred = rng.integers(0, 34, (64, 48), dtype=np.uint8)
    matrix = ev.generateMatrix(ev.args)
    matrix[3, 5] = 7
    returned = ev.addToConfusionMatrix.cEvaluatePair(pred, gt, matrix, ev.args.evalLabels)
    expected = np.bincount(gt.astype(np.int64).ravel() * 34 + pred.ravel(), minlength=34 * 34)
    expected = expected.reshape(34, 34).astype(np.uint64)
    expected[3, 5] += 7
    if not (np.array_equal(matrix, expected) and np.array_equal(returned, expected)):
        print("cEvaluatePair gives a wrong confusion matrix", file=sys.stderr)
        return 1
    print("cEvaluatePair check: matrix updated in place and returned, counts exact")
    return 0


def main(argv: list[str]) -> int:
    force = "--force" in argv
    argv = [a for a in argv if a != "--force"]
    if not argv or argv[0] not in {"official", "compat", "none", "check"}:
        print(__doc__, file=sys.stderr)
        return 2
    kind = argv[0]
    if kind == "check":
        return check()
    if kind == "none":
        remove_installed(package_dir())
        print("removed the C extension: pure-Python path", file=sys.stderr)
        return 0
    src = Path(argv[1]) if kind == "official" and len(argv) > 1 else None
    if kind == "official" and src is None:
        print("official needs SRC_DIR", file=sys.stderr)
        return 2
    stamp = read_stamp()
    installed = list(package_dir().glob(f"{MODULE}*.so"))
    if (
        not force
        and stamp
        and installed
        and stamp.get("kind") == kind
        and stamp.get("source_sha256") == digest(sources(kind, src))
    ):
        print(f"{kind} {MODULE} already built from the same source: kept", file=sys.stderr)
        return 0
    build(kind, src)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
