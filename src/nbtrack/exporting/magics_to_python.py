"""Turn one notebook cell (IPython syntax: magics, ``!`` shell escapes, ``obj?`` help) into plain Python.

An exported script must run in a plain interpreter, so no ``get_ipython()`` may survive. IPython's own
input transformer (``TransformerManager.transform_cell``) does the parsing: it rewrites every magic and
shell escape into a ``get_ipython().run_line_magic(...)`` / ``run_cell_magic`` / ``system`` / ``getoutput``
call, exactly as the kernel would run it. Those calls are then replaced, in the transformed text, by the
plain Python that has the same effect on a script: ``%time stmt`` becomes ``stmt``, ``%cd d`` becomes
``os.chdir("d")``, ``!cmd`` becomes ``subprocess.run("cmd", shell=True, check=True)``, ``%pip install x``
becomes a requirement. The rest of the cell's text (comments, layout) is kept as the user wrote it.

A magic with no plain-Python meaning (``%store``, ``%%sql``...) is not guessed at: it becomes an
:class:`Untranslatable` entry naming the line, and the export fails if that cell is needed.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from nbtrack.exporting.requirements import pip_requirements, shell_pip_requirements


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


HELPER_MODULES = ("os", "subprocess", "runpy", "matplotlib")

# Line magics that only show something or configure the interactive session: nothing to run in a script.
NO_OP_LINE_MAGICS = _words(
    """load_ext reload_ext unload_ext autoreload aimport config precision xmode pdb colors who whos lsmagic
    magic history hist pinfo pinfo2 pdoc pdef psource pfile psearch page pprint doctest_mode quickref notebook
    automagic autocall load debug tb killbgscripts autoawait autosave logstart logstop logstate logoff logon
    qtconsole connect_info timeit matplotlib_inline"""
)
# Cell magics whose body is display only (HTML, JS...) or timing: nothing to run in a script.
NO_OP_CELL_MAGICS = _words("html markdown latex svg javascript js timeit")
SHELL_ALIASES = _words("ls cat mkdir rmdir rm cp mv ll lf lk lx ldir clear less more man")
PIP_MAGICS = _words("pip conda mamba micromamba")
_TIME_RE = re.compile(r"^\s*(-[a-zA-Z]\s+\S+\s+)*")


@dataclass
class Untranslatable:
    """A line of a cell that has no plain-Python equivalent."""

    line: int  # 1-based, in the cell as the user wrote it
    text: str
    reason: str


@dataclass
class Translation:
    """The plain-Python form of one cell and what the translation found out about it."""

    source: str
    code: str | None  # None: the cell is not valid Python even after translation (it raised SyntaxError)
    requirements: list[str] = field(default_factory=list)  # from %pip / !pip install
    helpers: set[str] = field(default_factory=set)  # stdlib/helper modules the translated code refers to
    problems: list[Untranslatable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was translated or dropped, for the export header
    effects: set[str] = field(default_factory=set)  # "cwd", "env", "namespace": state beyond names
    track_line: str | None = None  # the option line when the cell was a %%track cell
    only_requirements: bool = False  # the cell held nothing but package installs
    tree: ast.Module | None = field(default=None, repr=False)  # the parse of ``code``, when already made

    @property
    def ok(self) -> bool:
        return self.code is not None and not self.problems


_manager: Any = None


def _transform(source: str) -> str:
    """IPython's own cell transformation (what the kernel compiles), raising SyntaxError on failure."""
    global _manager
    if _manager is None:
        from IPython.core.inputtransformer2 import TransformerManager

        _manager = TransformerManager()
    try:
        return _manager.transform_cell(source)
    except SyntaxError:
        raise
    except Exception as exc:  # the transformer's own failures mean the kernel could not run the cell either
        raise SyntaxError(str(exc)) from None


def _literal(text: str) -> str:
    """A Python string literal for ``text``: triple-quoted when it spans lines and that is safe, else repr."""
    if "\n" in text.rstrip("\n") and '"""' not in text and "\\" not in text and not text.endswith('"'):
        return '"""' + text + '"""'
    return repr(text)


def _expanded(text: str, known: set[str] | None) -> str:
    """A Python expression for ``text`` after IPython's ``$name`` / ``{expr}`` expansion.

    IPython expands magic arguments and shell commands against the user's namespace at run time and,
    when any field fails to evaluate, runs the text unexpanded. Fields over names the history defines
    become f-string fields; anything else keeps the text literal, as the kernel would have.
    """
    if "$" not in text and "{" not in text:
        return repr(text)
    import builtins

    from IPython.utils.text import DollarFormatter

    try:
        parts = list(DollarFormatter().parse(text))
    except (ValueError, IndexError):
        return repr(text)
    literals: list[str] = []
    fields: list[tuple[str, str, str | None]] = []
    for literal, field_name, spec, conversion in parts:
        literals.append(literal)
        if field_name is None:
            continue
        try:
            expr = ast.parse(field_name.strip(), mode="eval")
        except SyntaxError:
            return repr(text)
        names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
        if known is not None and not names <= (known | set(dir(builtins))):
            return repr(text)
        fields.append((field_name.strip(), spec or "", conversion))
    if not fields:
        return repr("".join(literals))
    # an f-string when it reads back as the same thing, else explicit concatenation
    pieces = []
    for i, literal in enumerate(literals):
        pieces.append(
            literal.replace("\\", "\\\\").replace("{", "{{").replace("}", "}}").replace('"', '\\"').replace("\n", "\\n")
        )
        if i < len(fields):
            expr, spec, conversion = fields[i]
            pieces.append("{" + expr + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    candidate = 'f"' + "".join(pieces) + '"'
    try:
        parsed = ast.parse(candidate, mode="eval").body
        ok = isinstance(parsed, ast.JoinedStr) and "".join(
            str(v.value) for v in parsed.values if isinstance(v, ast.Constant)
        ) == "".join(literals)
    except SyntaxError:
        ok = False
    if ok:
        return candidate
    terms = []
    for i, literal in enumerate(literals):
        if literal:
            terms.append(repr(literal))
        if i < len(fields):
            expr, spec, conversion = fields[i]
            value = (
                f"{'repr' if conversion == 'r' else 'str' if conversion == 's' else 'ascii'}({expr})"
                if conversion
                else f"({expr})"
            )
            terms.append(f"format({value}, {spec!r})")
    return "(" + " + ".join(terms) + ")"


class _Translator:
    def __init__(self, source: str, known: set[str] | None, line_offset: int) -> None:
        self.source = source
        self.known = known
        self.offset = line_offset
        self.result = Translation(source=source, code=None)

    # the get_ipython() calls --------------------------------------------------------------------

    @staticmethod
    def _ipython_call(node: ast.AST) -> tuple[str, list[Any]] | None:
        """("run_line_magic", [args]) for a ``get_ipython().X(constants...)`` call, else None."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            return None
        owner = node.func.value
        if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "get_ipython"):
            return None
        if node.keywords or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
            return None
        return node.func.attr, [str(a.value) for a in node.args if isinstance(a, ast.Constant)]

    def problem(self, line: int, text: str, reason: str) -> None:
        self.result.problems.append(Untranslatable(line + self.offset, text.strip(), reason))

    def statement(self, kind: str, args: list[str], line: int) -> list[str] | None:
        """Plain lines replacing a whole statement, or None when untranslatable (a problem is recorded)."""
        r = self.result
        if kind == "run_line_magic" and len(args) == 2:
            name, arg = args
            name = name.lstrip("%")
            shown = f"%{name} {arg}".strip()
            if name in ("time", "prun"):
                inner = translate(arg, self.known, line_offset=line - 1 + self.offset)
                self._merge(inner)
                return inner.code.splitlines() if inner.code is not None else None
            if name in NO_OP_LINE_MAGICS:
                r.notes.append(f"{shown}: nothing to do in a script")
                return [f"pass  # {shown}: nothing to do in a script"]
            if name == "matplotlib":
                r.helpers.add("matplotlib")
                r.notes.append(f"{shown}: figures are drawn with the Agg backend, not shown")
                return [f'matplotlib.use("Agg")  # {shown}: a script draws figures without showing them']
            if name in ("env", "set_env"):
                return self._env(arg, line, shown)
            if name == "cd":
                return self._cd(arg, line, shown)
            if name in ("pwd", "who_ls"):
                return [f"pass  # {shown}: shows a value only"]
            if name in PIP_MAGICS:
                reqs = pip_requirements(arg)
                if reqs is None:
                    return [f"pass  # {shown}: not an install; nothing to do in a script"]
                r.requirements.extend(reqs)
                r.notes.append(f"{shown}: became requirements.txt entries")
                return [f"pass  # {shown}: see requirements.txt"]
            if name in ("sx", "system"):
                return self.statement("system", [arg], line)
            if name in SHELL_ALIASES:
                return self.statement("system", [f"{name} {arg}".strip()], line)
            if name == "run":
                return self._run(arg, line, shown)
            self.problem(line, shown, f"%{name} has no plain-Python equivalent")
            return None
        if kind == "run_cell_magic" and len(args) == 3:
            name, arg, body = args
            shown = f"%%{name} {arg}".strip()
            if name in ("time", "track", "capture"):
                if name == "capture" and arg.strip():
                    self.problem(line, shown, "%%capture into a variable has no plain-Python equivalent")
                    return None
                if name == "track":
                    r.track_line = arg
                inner = translate(body, self.known, line_offset=line + self.offset)
                self._merge(inner)
                return inner.code.splitlines() if inner.code is not None else None
            if name in NO_OP_CELL_MAGICS:
                r.notes.append(f"{shown}: nothing to do in a script")
                return [f"pass  # {shown}: nothing to do in a script"]
            if name == "writefile":
                return self._writefile(arg, body, line, shown)
            if name in ("bash", "sh") or (name == "script" and arg.split()[:1] in (["bash"], ["sh"])):
                shell = name if name != "script" else arg.split()[0]
                if name != "script" and arg.strip():
                    self.problem(line, shown, f"%%{name} options have no plain-Python equivalent")
                    return None
                r.helpers.add("subprocess")
                return [f'subprocess.run(["{shell}", "-c", {_literal(body)}], check=True)']
            self.problem(line, shown, f"%%{name} has no plain-Python equivalent")
            return None
        if kind == "system" and len(args) == 1:
            command = args[0]
            reqs = shell_pip_requirements(command)
            if reqs is not None:
                r.requirements.extend(reqs)
                r.notes.append(f"!{command}: became requirements.txt entries")
                return [f"pass  # !{command}: see requirements.txt"]
            r.helpers.add("subprocess")
            return [f"subprocess.run({_expanded(command, self.known)}, shell=True, check=True)"]
        if kind == "getoutput" and len(args) == 1:
            return [self.expression(kind, args, line) or "pass"]
        self.problem(line, f"get_ipython().{kind}(...)", "this IPython call has no plain-Python equivalent")
        return None

    def expression(self, kind: str, args: list[str], line: int) -> str | None:
        """A plain expression replacing an IPython call whose value is used (``x = !ls``)."""
        r = self.result
        if kind == "getoutput" or (kind == "run_line_magic" and args[0] in ("sx", "system")):
            command = args[-1]
            r.helpers.add("subprocess")
            return (
                f"subprocess.run({_expanded(command, self.known)}, shell=True, check=True, capture_output=True, "
                "text=True).stdout.splitlines()"
            )
        if kind == "run_line_magic" and len(args) == 2:
            name, arg = args
            name = name.lstrip("%")
            if name == "time":
                try:
                    ast.parse(arg, mode="eval")
                except SyntaxError:
                    self.problem(line, f"%time {arg}", "the value of %time of a statement is None: write the statement")
                    return None
                return f"({arg})"
            if name == "pwd":
                r.helpers.add("os")
                return "os.getcwd()"
            if name in ("env", "set_env") and len(arg.split()) == 1 and "=" not in arg:
                r.helpers.add("os")
                return f"os.environ.get({_expanded(arg, self.known)})"
            self.problem(line, f"%{name} {arg}", f"the value of %{name} has no plain-Python equivalent")
            return None
        self.problem(line, f"get_ipython().{kind}(...)", "the value of this IPython call has no plain-Python form")
        return None

    # individual magics -------------------------------------------------------------------------

    def _env(self, arg: str, line: int, shown: str) -> list[str] | None:
        text = arg.strip()
        if not text or ("=" not in text and len(text.split()) == 1):
            return [f"pass  # {shown}: shows the environment only"]
        if "=" in text.split()[0]:
            key, _, value = text.partition("=")
        else:
            key, _, value = text.partition(" ")
        key, value = key.strip(), value.strip()
        if not key.isidentifier() and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
            self.problem(line, shown, "not a NAME=value assignment")
            return None
        self.result.helpers.add("os")
        self.result.effects.add("env")
        return [f"os.environ[{key!r}] = {_expanded(value, self.known)}"]

    def _cd(self, arg: str, line: int, shown: str) -> list[str] | None:
        words = arg.split()
        words = [w for w in words if w != "-q"]
        if words and (words[0].startswith("-") and words[0] != "--"):
            self.problem(line, shown, "%cd with -b or - (the directory history) has no plain-Python equivalent")
            return None
        target = arg.replace("-q", "", 1).strip() if "-q" in words else arg.strip()
        target = target.strip("'\"") or "~"
        self.result.helpers.add("os")
        self.result.effects.add("cwd")
        return [f"os.chdir(os.path.expanduser({_expanded(target, self.known)}))"]

    def _run(self, arg: str, line: int, shown: str) -> list[str] | None:
        try:
            words = shlex.split(arg)
        except ValueError:
            words = []
        if len(words) != 1 or words[0].startswith("-") or not words[0].endswith(".py"):
            self.problem(line, shown, "only `%run file.py` (no options, no arguments) has a plain-Python equivalent")
            return None
        self.result.helpers.add("runpy")
        self.result.effects.add("namespace")
        return [f'globals().update(runpy.run_path({words[0]!r}, run_name="__main__"))']

    def _writefile(self, arg: str, body: str, line: int, shown: str) -> list[str] | None:
        try:
            words = shlex.split(arg)
        except ValueError:
            words = []
        append = "-a" in words or "--append" in words
        paths = [w for w in words if not w.startswith("-")]
        if len(paths) != 1:
            self.problem(line, shown, "%%writefile needs exactly one file name")
            return None
        path = _expanded(paths[0], self.known)
        if paths[0].startswith("~"):
            self.result.helpers.add("os")
            path = f"os.path.expanduser({path})"
        mode = "a" if append else "w"
        return [f'with open({path}, "{mode}", encoding="utf-8") as _written:', f"    _written.write({_literal(body)})"]

    def _merge(self, inner: Translation) -> None:
        r = self.result
        r.requirements.extend(inner.requirements)
        r.helpers |= inner.helpers
        r.problems.extend(inner.problems)
        r.notes.extend(inner.notes)
        r.effects |= inner.effects
        if inner.code is None:
            self.problem(0, inner.source.splitlines()[0] if inner.source.strip() else "", "not valid Python")

    # driving ------------------------------------------------------------------------------------

    def run(self) -> Translation:
        r = self.result
        if "get_ipython" not in self.source:
            try:
                tree = ast.parse(self.source)
            except (SyntaxError, ValueError):
                pass
            else:  # plain Python already: IPython only rewrites lines that are not (magics, !, ?, prompts)
                r.code = self.source
                r.tree = tree
                return r
        try:
            text = _transform(self.source)
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return r
        lines = text.splitlines(keepends=True)
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        edits: list[tuple[int, int, int, int, str]] = []  # (line0, col0, line1, col1, text), 1-based lines
        handled: set[int] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            call = self._ipython_call(node)
            if call is None:
                continue
            handled.add(id(node.func.value))  # type: ignore[attr-defined]
            kind, args = call
            parent = parents.get(node)
            if isinstance(parent, ast.Expr) and parent.value is node:
                new = self.statement(kind, args, node.lineno)
                if new is None:
                    new = ["pass  # untranslatable: see the export error"]
                indent = " " * _char_col(lines, parent.lineno, parent.col_offset)
                if not indent:  # at the top level a comment is enough; inside a block `pass` keeps it valid
                    new = [ln[len("pass  ") :] if ln.startswith("pass  # ") else ln for ln in new]
                replacement = ("\n" + indent).join(new)
                edits.append(
                    (
                        parent.lineno,
                        parent.col_offset,
                        parent.end_lineno or parent.lineno,
                        parent.end_col_offset or 0,
                        replacement,
                    )
                )
            else:
                expr = self.expression(kind, args, node.lineno)
                edits.append(
                    (
                        node.lineno,
                        node.col_offset,
                        node.end_lineno or node.lineno,
                        node.end_col_offset or 0,
                        expr if expr is not None else "None",
                    )
                )
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "get_ipython" and id(node) not in handled:
                owner = next((p for p in ast.walk(tree) if isinstance(p, ast.Call) and p.func is node), None)
                if owner is None or id(owner) not in handled:
                    self.problem(node.lineno, _line(lines, node.lineno), "calls get_ipython(), which a script lacks")
        r.code = _apply(lines, edits)
        only_pip = all(
            not ln.strip() or ln.lstrip()[:1] == "#" or ln.strip().startswith("pass  # ") for ln in r.code.splitlines()
        )
        r.only_requirements = bool(r.requirements) and only_pip
        return r


def _line(lines: list[str], lineno: int) -> str:
    return lines[lineno - 1].rstrip("\n") if 0 < lineno <= len(lines) else ""


def _char_col(lines: list[str], lineno: int, byte_col: int) -> int:
    return len(lines[lineno - 1].encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def _apply(lines: list[str], edits: list[tuple[int, int, int, int, str]]) -> str:
    """Replace the (line, byte column) ranges, last first, so earlier positions stay valid."""
    lines = list(lines)
    for l0, c0, l1, c1, new in sorted(edits, reverse=True):
        first = lines[l0 - 1].encode("utf-8")
        last = lines[l1 - 1].encode("utf-8")
        merged = first[:c0].decode("utf-8") + new + last[c1:].decode("utf-8")
        lines[l0 - 1 : l1] = [merged]
    return "".join(lines)


def translate(source: str, known: set[str] | None = None, *, line_offset: int = 0) -> Translation:
    """Plain Python for one cell (see the module docstring). ``known``: names the history defines, for
    deciding which ``$name`` / ``{expr}`` expansions the kernel would have made."""
    return _Translator(source, known, line_offset).run()
