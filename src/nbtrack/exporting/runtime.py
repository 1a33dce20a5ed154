"""What a script written by ``nbtrack export`` calls at run time: its command line, data guards, self-tracking.

The exported script imports only this module (plus what the notebook's code imported), so everything it
needs beyond the user's code lives here and stays small:

- :func:`parameters`: the run's params as a typed command line (``--lr 0.1``; ``--help`` lists them with
  the run's values as defaults), optionally read from a ``params.yaml`` first (``--params``);
- :func:`check_file`: stop before a data file is used when its content hash differs from the one the
  run recorded (``--allow-data-change`` turns that into a warning);
- :func:`start_run` / :func:`finish_run` around the tracked cell's code: the script records a run of its
  own (params, metrics, data, environment) tagged ``exported_from``, checks the in-memory inputs against
  the run's fingerprints, and prints the final metrics as one JSON object on the last line of stdout.

A store that cannot be written never stops the script: the tracking layer warns and the code runs on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

from nbtrack.errors import DataChangedError, warn
from nbtrack.values import literal_or_text

DATA_CHANGED_EXIT = 3

_options: dict[str, Any] = {"allow_data_change": False, "metrics_file": None, "script": True, "upstream": set()}
_files: dict[str, dict[str, Any]] = {}  # data files checked so far: name -> fingerprint record
_state: dict[str, Any] = {"run": None, "hook": None}


# parameters -------------------------------------------------------------------------------------------


def _literal(text: str) -> Any:
    return literal_or_text(text)


def _typed(default: Any) -> Any:
    """An argparse ``type`` that parses a value like the default: int, float, str, or a Python literal."""
    if isinstance(default, bool):
        return None
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if isinstance(default, str):
        return str

    def parse(text: str) -> Any:
        value = _literal(text)
        if isinstance(default, tuple) and isinstance(value, list):
            return tuple(value)
        if isinstance(default, (list, tuple, dict)) and not isinstance(value, (list, tuple, dict)):
            raise argparse.ArgumentTypeError(f"expected a Python literal like {default!r}, got {text!r}")
        return value

    parse.__name__ = type(default).__name__ if default is not None else "literal"
    return parse


def _coerce(name: str, value: Any, default: Any) -> Any:
    """A value read from params.yaml, made the type of the run's value where that is unambiguous."""
    if isinstance(default, bool) or default is None or value is None:
        return value
    if isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(default, (int, float, str)) and isinstance(value, str) and not isinstance(default, str):
        try:
            return type(default)(value)
        except ValueError:
            raise SystemExit(f"params file: {name}: {value!r} is not a {type(default).__name__}") from None
    return value


def read_params_yaml(path: str) -> dict[str, Any]:
    """The flat ``name: value`` mapping of a params.yaml as written by nbtrack export (values in JSON, which is
    YAML), also reading plain YAML scalars a person may have typed (``lr: 1e-3``, ``name: resnet``)."""
    values: dict[str, Any] = {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#") or line.startswith((" ", "\t", "-")):
                continue
            key, sep, text = line.partition(":")
            if not sep:
                continue
            text = text.strip()
            if " #" in text and not text.startswith(('"', "'", "[", "{")):
                text = text.split(" #", 1)[0].rstrip()
            values[_unquote(key.strip())] = _yaml_scalar(text)
    return values


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return json.loads(text) if text[0] == '"' else text[1:-1].replace("''", "'")
    return text


def _yaml_scalar(text: str) -> Any:
    special = {
        "null": None,
        "~": None,
        "": None,
        "true": True,
        "false": False,
        ".inf": math.inf,
        "-.inf": -math.inf,
        ".nan": math.nan,
    }
    if text.lower() in special:
        return special[text.lower()]
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parameters(
    defaults: Mapping[str, Any],
    *,
    description: str | None = None,
    argv: list[str] | None = None,
    cli: bool = True,
    allow_data_change: bool = False,
) -> dict[str, Any]:
    """The params to run with: the run's values, then a params file (``--params``), then the command line.

    ``cli=False`` (exported notebooks, where papermill sets the values) skips the command line.
    """
    values = dict(defaults)
    _options["script"] = cli
    _options["allow_data_change"] = allow_data_change
    if not cli:
        return values
    parser = argparse.ArgumentParser(
        description=(description or "").strip().split("\n\n")[0] or None,
        epilog="Params default to the exported run's values.",
    )
    reserved = {"params", "allow_data_change", "metrics_file", "upstream_output", "help"}
    group = parser.add_argument_group("params of the run")
    dests: dict[str, str] = {}
    for name, default in values.items():
        dest = f"param__{len(dests)}"
        dests[name] = dest
        flag = f"--param-{name}" if name in reserved else f"--{name}"
        flags = [flag]
        if "_" in name and name not in reserved:
            flags.append("--" + name.replace("_", "-"))
        if isinstance(default, bool):
            group.add_argument(
                *flags,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"(default: {default})",
            )
        else:
            group.add_argument(
                *flags,
                dest=dest,
                type=_typed(default),
                default=argparse.SUPPRESS,
                metavar=type(default).__name__.upper() if default is not None else "VALUE",
                help=f"(default: {default!r})",
            )
    parser.add_argument("--params", metavar="FILE", help="read params from this YAML file (e.g. params.yaml) first")
    parser.add_argument(
        "--allow-data-change",
        action="store_true",
        help="warn instead of stopping when an input's content differs from the run's",
    )
    parser.add_argument("--metrics-file", metavar="PATH", help="also write the final metrics as JSON to this file")
    parser.add_argument(
        "--upstream-output",
        action="append",
        default=[],
        metavar="PATH",
        help="an input an earlier pipeline stage writes: a new content is expected, not a data change",
    )
    args = parser.parse_args(argv)
    _options["upstream"] = {os.path.normpath(p) for p in args.upstream_output}
    if args.params:
        from_file = read_params_yaml(args.params)
        unknown = sorted(set(from_file) - set(values))
        if unknown:
            print(f"nbtrack: {args.params}: ignoring unknown params {', '.join(unknown)}", file=sys.stderr)
        for name in values:
            if name in from_file:
                values[name] = _coerce(name, from_file[name], defaults[name])
    for name, dest in dests.items():
        if hasattr(args, dest):
            values[name] = getattr(args, dest)
    _options["allow_data_change"] = bool(args.allow_data_change or allow_data_change)
    _options["metrics_file"] = args.metrics_file
    return values


# data guards ------------------------------------------------------------------------------------------


def _stop(message: str) -> None:
    if _options["allow_data_change"]:
        warn(f"nbtrack: {message} (going on: --allow-data-change)")
        return
    hint = (
        "rerun with --allow-data-change to go on anyway"
        if _options["script"]
        else "set allow_data_change = True in the parameters cell to go on anyway"
    )
    text = f"nbtrack: data check failed: {message}; {hint}"
    if _options["script"]:
        print(text, file=sys.stderr, flush=True)
        raise SystemExit(DATA_CHANGED_EXIT)
    raise DataChangedError(text)


def _fingerprint(obj: Any, algorithm: str | None) -> dict[str, Any] | None:
    from nbtrack.data.fingerprint import ALGORITHM, fingerprint

    if algorithm and algorithm != ALGORITHM:
        warn(f"nbtrack: the run's fingerprints use {algorithm}, this nbtrack computes {ALGORITHM}: input not checked")
        return None
    return fingerprint(obj, profile=True).to_dict()


def check_file(
    path: str, expected: str, *, name: str | None = None, algorithm: str | None = None, source_run: str | None = None
) -> None:
    """Stop unless the file (or directory) at ``path`` has the content hash the exported run recorded.

    Relative paths resolve against the working directory, as they did in the notebook.
    """
    key = name or path
    run_text = f" by run {source_run}" if source_run else ""
    if not os.path.exists(path):
        _stop(f"{path} not found (the run read it{run_text}; its content hash was {expected})")
        return
    record = _fingerprint(path, algorithm)
    if record is None:
        return
    _files[key] = record
    if record["hash"] != expected:
        if os.path.normpath(path) in _options["upstream"]:  # a DVC stage's dep that an earlier stage rewrote
            print(f"nbtrack: {path} is an upstream stage's new output (the run read {expected})", file=sys.stderr)
            return
        _stop(f"{path} changed since it was used{run_text}: expected hash {expected}, found {record['hash']}")


def check_data(
    name: str,
    obj: Any,
    expected: str,
    *,
    origin: str | None = None,
    algorithm: str | None = None,
    source_run: str | None = None,
    strict: bool = True,
) -> dict[str, Any] | None:
    """Compare an in-memory input (DataFrame, array) with the fingerprint the run recorded for it; a difference
    stops the script (exit code 3) unless ``--allow-data-change``: the metrics would not be the run's.

    ``origin``: the file it was read from (named in the message). ``strict=False`` marks an input computed by
    the code before the tracked cell (its difference points at that code, not at a data file); it stops too
    since 0.2 (before, it only warned: a script that went on computed other metrics without saying so).
    """
    from nbtrack.data.fingerprint import is_data

    if not is_data(obj):
        return None
    record = _fingerprint(obj, algorithm)
    if record is None or record["hash"] == expected:
        return record
    run_text = f" by run {source_run}" if source_run else ""
    read = f" (read from {origin})" if origin else "" if strict else " (computed by the cells before the tracked one)"
    message = f"{name}{read} differs from the input used{run_text}: expected hash {expected}, found {record['hash']}"
    _stop(message)
    return record


# self-tracking --------------------------------------------------------------------------------------------


def display(*objs: Any, **_: Any) -> None:
    """IPython's ``display`` for scripts: print each object."""
    for obj in objs:
        print(obj)


class _Discard:
    """An active run for code that ran inside another run's ``%%track`` cell: its logging goes nowhere."""

    def __init__(self) -> None:
        from nbtrack.capture.lifecycle import ActiveRun
        from nbtrack.store.local import get_store

        self.run = ActiveRun(get_store(), name="(discarded)", source="export")

    def __enter__(self) -> Any:
        from nbtrack.capture.lifecycle import push_active

        push_active(self.run)
        return self.run

    def __exit__(self, *exc: Any) -> None:
        from nbtrack.capture.lifecycle import pop_active

        pop_active(self.run)


_discards: list[_Discard] = []


def begin_other_run() -> None:
    """Code from an earlier ``%%track`` cell (another run) follows: give its ``nbtrack.log_*`` calls a sink."""
    discard = _Discard()
    discard.__enter__()
    _discards.append(discard)


def end_other_run() -> None:
    if _discards:
        _discards.pop().__exit__(None, None, None)


def start_run(
    namespace: Mapping[str, Any],
    *,
    source_run: str,
    params: Mapping[str, Any],
    name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
    param_names: list[str] | tuple[str, ...] = (),
) -> Any:
    """Check the in-memory inputs, then open the script's own run (tagged ``exported_from``).

    ``inputs``: name -> {"hash", "algorithm", "origin", "strict"} from the exported run's fingerprints.
    ``param_names``: variables recorded as params by name (``%%track -p NAME``), read after the cell if
    they do not exist yet.
    """
    from nbtrack.capture.lifecycle import ActiveRun
    from nbtrack.store.local import get_store

    records: dict[str, dict[str, Any]] = {}
    for key, info in (inputs or {}).items():
        if key not in namespace:
            continue
        record = check_data(
            key,
            namespace[key],
            info["hash"],
            origin=info.get("origin"),
            algorithm=info.get("algorithm"),
            source_run=source_run,
            strict=info.get("strict", True),
        )
        if record is not None:
            records[key] = record
    all_tags = {**(tags or {}), "exported_from": source_run}
    run = ActiveRun(get_store(), name=name, experiment=experiment, params=params, tags=all_tags, source="export")
    for key in param_names:
        if key in namespace:
            run.log_param(key, namespace[key])
    for key, record in {**_files, **records}.items():
        run.add_data(key, record)
    script = sys.argv[0] if sys.argv and sys.argv[0] else None
    run.attach_script(script)
    run.start(environment=True)
    _state.update(run=run, param_names=list(param_names))
    previous = sys.excepthook

    def hook(etype: type[BaseException], value: BaseException, tb: Any) -> None:
        current = _state.get("run")
        if current is not None and current.end_time is None:
            current.finish(error=value)
        previous(etype, value, tb)

    sys.excepthook = hook
    _state["hook"] = (hook, previous)
    return run


def finish_run(namespace: Mapping[str, Any], *, metrics: list[str] | tuple[str, ...] = ()) -> dict[str, float]:
    """Close the script's run: ``--metric`` variables, late params, environment; print the metrics as JSON."""
    run = _state.get("run")
    if run is None:
        raise RuntimeError("finish_run() without start_run()")
    for key in metrics:
        if key in namespace:
            run.log_metric(key, namespace[key])
        else:
            warn(f"nbtrack: --metric {key}: the cell did not define a variable of that name")
    for key in _state.get("param_names", []):
        if key in namespace and key not in run.params:
            run.log_param(key, namespace[key])
    run.finish()
    hook = _state.get("hook")
    if hook is not None and sys.excepthook is hook[0]:
        sys.excepthook = hook[1]
    _state["run"] = None
    final = {key: float(value) for key, value in run.metrics.items()}
    text = json.dumps(final, sort_keys=True)
    if _options.get("metrics_file"):
        folder = os.path.dirname(_options["metrics_file"])
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(_options["metrics_file"], "w", encoding="utf-8") as f:
            f.write(json.dumps(final, sort_keys=True, indent=1) + "\n")
    sys.stdout.flush()
    print(text, flush=True)
    return final
