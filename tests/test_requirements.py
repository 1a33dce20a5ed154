"""requirements.txt lines: imports pinned to recorded versions, plus %pip installs."""

from __future__ import annotations

from nbtrack.exporting.requirements import pip_requirements, requirements, shell_pip_requirements


def test_imports_are_pinned_to_the_recorded_versions():
    lines = requirements({"numpy", "sklearn", "json", "_private"}, {"numpy": "1.2", "scikit-learn": "1.5"}, [])
    assert "numpy==1.2" in lines and "scikit-learn==1.5" in lines
    assert not any(line.startswith(("json", "_private")) for line in lines)
    assert any(line.startswith("nbtrack") for line in lines)  # the script imports the runtime


def test_pip_installs_keep_their_specs():
    assert requirements(set(), {"rich": "13.0"}, ["rich", "tqdm>=4"])[-2:] == ["rich==13.0", "tqdm>=4"]
    assert pip_requirements("install --index-url http://x -U pkg==1 ./local") == ["pkg==1"]
    assert shell_pip_requirements("python -m pip install a b") == ["a", "b"]
    assert shell_pip_requirements("conda install -c conda-forge c") == ["c"]
    assert shell_pip_requirements("ls -l") is None
