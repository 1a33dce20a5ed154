"""nbtrack.errors: one root for every exception and warning; the CLI's one-line errors; how warnings are shown."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import nbtrack
from nbtrack import errors
from nbtrack.errors import NbtrackError, NbtrackWarning

NBTRACK_DIR = Path(nbtrack.__file__).parent


def all_modules() -> list[str]:
    names = [info.name for info in pkgutil.walk_packages([str(NBTRACK_DIR)], prefix="nbtrack.")]
    return [name for name in names if not name.endswith(".__main__")]  # that one runs the CLI


def classes_defined_in_nbtrack() -> list[type]:
    found = []
    for name in all_modules():
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == name and issubclass(obj, BaseException):
                found.append(obj)
    return found


def test_every_exception_and_warning_derives_from_the_roots():
    found = classes_defined_in_nbtrack()
    assert NbtrackError in found and errors.RunNotFoundError in found
    strays = [
        name
        for cls in found
        if not issubclass(cls, NbtrackWarning if issubclass(cls, Warning) else NbtrackError)
        and (name := f"{cls.__module__}.{cls.__qualname__}")
    ]
    assert not strays, f"exceptions outside the NbtrackError / NbtrackWarning roots: {strays}"


def test_each_error_is_also_the_builtin_a_caller_expects():
    assert issubclass(errors.RunNotFoundError, LookupError) and issubclass(errors.AmbiguousRunIdError, LookupError)
    assert issubclass(errors.QueryError, ValueError) and issubclass(errors.DataExpectationError, ValueError)
    assert issubclass(errors.StoreBusyError, TimeoutError) and issubclass(errors.NoActiveRunError, RuntimeError)
    assert issubclass(errors.StoreCorruptionWarning, NbtrackWarning) and issubclass(NbtrackWarning, UserWarning)
    assert nbtrack.NbtrackWarning is NbtrackWarning


def every_error_class() -> list[type[NbtrackError]]:
    classes_defined_in_nbtrack()  # imports every module, so every subclass exists
    seen: list[type[NbtrackError]] = []
    todo = [NbtrackError]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


def make(cls: type[NbtrackError], message: str) -> NbtrackError:
    if cls is errors.DataExpectationError:
        return cls("frame", [message])
    try:
        return cls(message)
    except TypeError:  # internal errors that carry more than a message (e.g. the server's ApiError)
        error = cls.__new__(cls)
        error.args = (message,)
        return error


def test_the_cli_prints_any_nbtrack_error_as_one_line(monkeypatch, capsys):
    from nbtrack import cli

    classes = every_error_class()
    assert cli.CliError in classes and errors.StoreBusyError in classes
    for cls in classes:
        message = f"something {cls.__name__} says, and what to do next"

        def fail(args, cls=cls, message=message):
            raise make(cls, message)

        parser = argparse.ArgumentParser(prog="nbtrack")
        parser.set_defaults(func=fail)
        monkeypatch.setattr(cli, "build_parser", lambda parser=parser: parser)
        assert cli.main([]) == 1, cls
        out, err = capsys.readouterr()
        assert out == "" and "Traceback" not in err, cls
        lines = err.splitlines()
        assert lines[0].startswith("nbtrack: error: ") and message in err, cls
        if cls is not errors.DataExpectationError:  # that one lists its problems, one per line
            assert lines == [f"nbtrack: error: {message}"], cls


def test_importing_nbtrack_leaves_the_warning_filters_alone():
    """Every nbtrack module imported: warnings.filters is what it was (third-party imports come first)."""
    code = (
        "import warnings, pkgutil, importlib, nbtrack\n"
        "for m in ('pandas', 'numpy', 'scipy.stats', 'matplotlib', 'IPython', 'ipywidgets', 'jupyter_server',\n"
        "          'tornado', 'nbclient', 'tinydb', 'mlflow'):\n"
        "    try:\n        importlib.import_module(m)\n    except ImportError:\n        pass\n"
        "before = list(warnings.filters)\n"
        "names = [i.name for i in pkgutil.walk_packages(nbtrack.__path__, prefix='nbtrack.')]\n"
        "names = [n for n in names if not n.endswith('.__main__')]\n"
        "for name in names:\n    importlib.import_module(name)\n"
        "assert warnings.filters == before, [f for f in warnings.filters if f not in before]\n"
        "print(len(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) > 30


# errors.warn ------------------------------------------------------------------------------------------------


def nbtrack_relay():
    """A function whose code lives in nbtrack's folder (as every nbtrack caller of warn does)."""
    namespace = {"warn": errors.warn}
    exec(compile("def relay(message):\n    warn(message)\n", str(NBTRACK_DIR / "relay.py"), "exec"), namespace)
    return namespace["relay"]


def test_a_warning_points_at_the_first_caller_outside_nbtrack():
    relay = nbtrack_relay()
    with pytest.warns(NbtrackWarning, match="not recorded") as caught:
        relay("nbtrack: x not recorded")
        line = inspect.currentframe().f_lineno - 1
    assert caught[0].filename == __file__ and caught[0].lineno == line


def test_the_same_warning_from_the_same_line_shows_every_time_under_the_default_filter():
    relay = nbtrack_relay()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            relay("nbtrack: metric 'm' not recorded")
    assert len(caught) == 3


@pytest.mark.parametrize("action, shown", [("ignore", 0), ("once", 1), ("always", 3)])
def test_the_users_filters_decide(action, shown):
    relay = nbtrack_relay()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.filterwarnings(action, category=NbtrackWarning)
        for _ in range(3):
            relay("nbtrack: tag 't' not recorded")
    assert len(caught) == shown
    with warnings.catch_warnings():
        warnings.simplefilter("error", NbtrackWarning)
        with pytest.raises(NbtrackWarning):
            relay("nbtrack: boom")


def test_a_rerun_notebook_cell_shows_its_warning_again(ip):
    """In IPython a cell that runs again keeps its file name and line: the warning still shows each time."""
    cell = "from nbtrack import errors\nerrors.warn('nbtrack: param p not recorded')\n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(2):
            assert ip.run_cell(cell).success
    assert [(w.category, w.lineno) for w in caught] == [(NbtrackWarning, 2)] * 2
    assert caught[0].filename != errors.__file__
