"""requirements.txt for an export: the distributions the kept code imports, pinned to the versions recorded
with the run, plus what its ``%pip install`` cells asked for."""

from __future__ import annotations

import re
import shlex
import sys

# Import names whose distribution name differs, used when packages_distributions() cannot tell (the package
# is not installed where the export runs) or to spare its cost.
KNOWN_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "yaml": "PyYAML",
    "PIL": "Pillow",
    "cv2": "opencv-python",
    "bs4": "beautifulsoup4",
    "skimage": "scikit-image",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "jwt": "PyJWT",
}

# pip/conda options followed by a value (that value is not a requirement)
PIP_OPTIONS_WITH_VALUE = frozenset(
    {
        "-r",
        "--requirement",
        "-c",
        "--constraint",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "-t",
        "--target",
        "--prefix",
        "--root",
        "--src",
        "--upgrade-strategy",
        "--python",
        "--platform",
        "--implementation",
        "--abi",
        "-e",
        "--editable",
        "-n",
        "--name",
        "-p",
        "--channel",
    }
)


def pip_requirements(args: str) -> list[str] | None:
    """The package specs of a ``pip install ...`` argument string; None when it is not an install."""
    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    if not words or words[0] != "install":
        return None
    specs: list[str] = []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in PIP_OPTIONS_WITH_VALUE
            continue
        if "$" in word or "{" in word or word.startswith((".", "/")) or "://" in word:
            continue  # a path, a URL or an expanded value: not a requirement line we can pin
        specs.append(word)
    return specs


def shell_pip_requirements(command: str) -> list[str] | None:
    """Requirements of a shell command that is a pip/conda install, else None."""
    text = command.strip()
    text = re.sub(r"^\{[^}]*\}\s+-m\s+", "", text)  # {sys.executable} -m pip install ...
    text = re.sub(r"^(python3?|\S*/python3?)\s+-m\s+", "", text)
    for tool in ("pip3", "pip", "conda", "mamba", "micromamba"):
        if text.startswith(tool + " "):
            return pip_requirements(text[len(tool) + 1 :])
    return None


def _norm_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_dist_map: dict[str, list[str]] | None = None


def _packages_distributions() -> dict[str, list[str]]:
    global _dist_map
    if _dist_map is None:
        from importlib import metadata

        try:
            _dist_map = dict(metadata.packages_distributions())
        except Exception:
            _dist_map = {}
    return _dist_map


def _nbtrack_requirement() -> str:
    """nbtrack's own line (read from its metadata: importing the ``nbtrack`` package from here is a cycle)."""
    from importlib import metadata

    try:
        return f"nbtrack=={metadata.version('nbtrack')}"
    except metadata.PackageNotFoundError:
        return "nbtrack"


def requirements(imports: set[str], recorded: dict[str, str] | None, pip: list[str]) -> list[str]:
    """requirements.txt lines: the distributions of the imported packages (and of ``%pip install``s), pinned to
    the versions recorded with the run; a comment for an import no installed distribution provides."""
    recorded = recorded or {}
    versions = {_norm_dist(k): (k, v) for k, v in recorded.items()}
    lines: dict[str, str] = {}
    comments: list[str] = []

    def add(dist: str, spec: str | None = None) -> None:
        key = _norm_dist(dist)
        if key in lines:
            return
        name, version = versions.get(key, (dist, None))
        if spec and re.search(r"[<>=!~@]", spec):
            lines[key] = spec
        else:
            lines[key] = f"{name}=={version}" if version else name

    for module in sorted(imports | {"nbtrack"}):
        if module in sys.stdlib_module_names or module.startswith("_") or module == "__future__":
            continue
        if _norm_dist(module) in versions:
            add(module)
        elif module in KNOWN_DISTRIBUTIONS:
            add(KNOWN_DISTRIBUTIONS[module])
        else:
            dists = _packages_distributions().get(module)
            if dists:
                add(sorted(dists)[0])
            elif module == "nbtrack":  # a source checkout on sys.path: pin the version it declares, if any
                lines["nbtrack"] = _nbtrack_requirement()
            else:
                comments.append(f"# {module}: imported, but no installed distribution provides it (a local module?)")
    for spec in pip:
        name = re.split(r"[<>=!~\[@; ]", spec, maxsplit=1)[0]
        if name:
            add(name, spec)
    return sorted(lines.values(), key=str.lower) + comments
