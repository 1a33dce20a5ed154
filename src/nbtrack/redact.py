"""Secrets never kept by accident: secret-looking params hashed, tokens and ``%env`` values cut from stored text.

What is redacted, wherever nbtrack stores or pushes it (params, tags, cell code, history, notebook
snapshots, error messages, server URIs):

- **Params and tags with a secret-looking name** become ``"<redacted:3f2a9c1d0b7e4a55>"``: 16 hex digits
  of an HMAC of the value under a random key kept in the store (``redact.key``), so two runs of one store
  still compare equal or different, and a short password cannot be found by hashing guesses.
- **Names**: split on ``_ . -``, spaces, digits and camelCase; a name is secret when a part is one of
  :data:`STRONG_WORDS` (``password``, ``secret``, ``apikey``, ``credential``...), or is ``key`` / ``token``
  without a qualifier that makes it ordinary (``max_tokens``, ``sort_key``, ``pad_token``: see
  :data:`NOT_SECRET_QUALIFIERS`); ``key``/``token`` redact only text values (``max_tokens = 512`` stays).
  ``NBTRACK_SECRET_NAMES`` (comma-separated) adds words (``ssn``), globs matched against the whole
  lower-cased name (``*_dsn``), or removes a default word (``-key``).
- **Text** (outputs, messages, tracebacks): ``name = value`` with a secret name, known token shapes (AWS
  ``AKIA...``, GitHub ``ghp_...``/``github_pat_...``, OpenAI/Anthropic ``sk-...``, Slack ``xox?-...``,
  Google ``AIza...``, Hugging Face ``hf_...``, JWTs, ``Bearer ...``, PEM private keys), passwords in URLs
  (``scheme://user:pass@``) and secret query parameters (``?token=``, ``&sig=``).
- **Code** (cells, history, scripts, snapshot sources): the above, and a literal assigned to a secret
  name becomes ``__import__("os").environ["API_KEY"]``, so an exported script fails with ``KeyError:
  'API_KEY'`` (or runs, once that variable is set) instead of calling a service with a placeholder.
  ``%env NAME=value`` and ``os.environ["NAME"] = "..."`` lines with a secret-looking name or a token in
  the value keep only the name (environment, which nbtrack never stores) and say to set the variable
  before running; other settings (``%env CUDA_VISIBLE_DEVICES=0``) are configuration and stay.

``NBTRACK_REDACT=off`` turns all of this off (for a store that never leaves its owner's machine).
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "KEY_FILE",
    "NOT_SECRET_QUALIFIERS",
    "STRONG_WORDS",
    "WEAK_WORDS",
    "Redactor",
    "enabled",
    "for_store",
    "is_redacted",
    "is_secret_name",
    "redact_uri",
    "secret_kind",
]

KEY_FILE = "redact.key"

STRONG_WORDS = frozenset(
    {
        "password", "passwords", "passwd", "pwd", "passphrase", "secret", "secrets", "credential", "credentials",
        "apikey", "apikeys", "privatekey", "secretkey", "accesskey", "authkey", "sessionkey", "apitoken",
        "authtoken", "accesstoken", "refreshtoken", "bearer", "auth", "authorization", "cookie", "sessionid",
    }
)  # fmt: skip
WEAK_WORDS = frozenset({"key", "token"})
NOT_SECRET_QUALIFIERS = frozenset(
    {
        "max", "min", "num", "n", "count", "len", "length", "limit", "size", "budget", "id", "ids", "idx",
        "index", "type", "types", "pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "new", "start",
        "end", "vocab", "embedding", "embed", "position", "pos", "per", "sort", "primary", "foreign",
        "partition", "cache", "group", "join", "lookup", "dict", "row", "column", "col", "metric", "target",
        "label", "hash", "range", "shard", "random", "seed", "unique", "map", "name", "names", "path", "file",
        "field", "error", "exception", "warning", "prompt", "level", "total", "output", "input",
    }
)  # fmt: skip

_STRONG_QUALIFIERS = frozenset({"api", "access", "private", "secret", "auth", "session", "refresh", "client", "bearer"})
_MARK = re.compile(r"<redacted:[0-9a-f]{16}>")
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_MAX_WALK = 10_000  # container items looked at per param: params are capped elsewhere, secrets sit near the top


def enabled() -> bool:
    """False when ``NBTRACK_REDACT`` is ``off``/``0``/``false``/``no``."""
    return os.environ.get("NBTRACK_REDACT", "on").strip().lower() not in ("off", "0", "false", "no")


def _text_of(value: Any) -> str:
    """What a mark hashes for a value JSON cannot hold: its repr, bounded in time, never raising."""
    from nbtrack.reprs import bounded_repr

    return bounded_repr(value)


def is_redacted(value: Any) -> bool:
    """True for a value that already is a redaction mark (redacting is idempotent)."""
    return isinstance(value, str) and _MARK.fullmatch(value) is not None


@functools.lru_cache(maxsize=1)
def _config(spec: str) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    strong, weak, globs = set(STRONG_WORDS), set(WEAK_WORDS), []
    for item in (s.strip().lower() for s in spec.split(",")):
        if not item:
            continue
        if item.startswith("-"):
            strong.discard(item[1:])
            weak.discard(item[1:])
        elif any(c in item for c in "*?["):
            globs.append(item)
        else:
            strong.add(item)
    return frozenset(strong), frozenset(weak), tuple(globs)


def secret_kind(name: str) -> str | None:
    """``"strong"`` (redact any value), ``"weak"`` (redact text values) or None for an ordinary name."""
    return _secret_kind(name, os.environ.get("NBTRACK_SECRET_NAMES", ""))


@functools.lru_cache(maxsize=4096)
def _secret_kind(name: str, spec: str) -> str | None:
    strong, weak, globs = _config(spec)
    lowered = name.lower()
    if any(fnmatch.fnmatchcase(lowered, g) for g in globs):
        return "strong"
    if re.search(r"(error|exception|warning)$", lowered):
        return None  # KeyError, TokenError: class names in tracebacks
    parts = [p.lower() for p in _PARTS.findall(name)]
    if any(p in strong for p in parts):
        return "strong"
    if any(w in lowered for w in ("password", "passwd", "secret", "credential") if w in strong):
        return "strong"  # dbpassword, clientsecret: joined words
    if any(p in weak for p in parts):
        if any(p in _STRONG_QUALIFIERS for p in parts):
            return "strong"  # api_key, access_token, private_key: any value
        if not any(p in NOT_SECRET_QUALIFIERS for p in parts):
            return "weak"
    return None


def is_secret_name(name: str) -> bool:
    """True when a param, tag, variable or keyword named ``name`` holds a secret (see the module docstring)."""
    return secret_kind(name) is not None


def _redactable(kind: str | None, value: Any) -> bool:
    if kind is None or value is None or isinstance(value, bool) or is_redacted(value):
        return False
    if isinstance(value, str):
        return bool(value)
    return kind == "strong"


# text patterns ------------------------------------------------------------------------------------

_TOKENS = re.compile(
    r"-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?-----END[A-Z ]*PRIVATE KEY-----"
    r"|\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}\b|\bglpat-[A-Za-z0-9_-]{20,}"
    r"|\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{16,}|\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b"
    r"|\bxox[abposre]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}\b|\bhf_[A-Za-z0-9]{30,}\b"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/-]{8,}=*)")
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:@/?#'\"]*:)([^\s@/?#'\"]+)(@)")
_QUERY = re.compile(r"([?&;]([A-Za-z0-9_.-]+)=)([^&#\s'\"<>]+)")
_QUERY_SECRETS = frozenset({"sig", "signature", "code", "x-amz-signature", "x-amz-credential", "x-amz-security-token"})
_STRING = r"""[rRbBuUfF]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""
_NUMBER = r"-?\d[\d_]*(?:\.\d+)?(?![\w.])"
# name = literal (assignment, annotated, keyword, comparison) or "name": literal (dict entry)
_ASSIGN = re.compile(
    r"(?P<lhs>(?:(?<![\w.])(?P<name>[A-Za-z_]\w*)\s*(?::\s*[A-Za-z_][\w\[\], .|]*?\s*)?(?<![=!<>])(?:==|=(?!=))"
    r"|(?P<kq>['\"])(?P<key>[A-Za-z_][\w.-]*)(?P=kq)\s*:)\s*)"
    rf"(?P<lit>{_STRING}|{_NUMBER})"
)
# name = value / name: value in free text (values up to the end of a word; quoted ones keep their quotes)
_TEXT_ASSIGN = re.compile(
    r"(?P<lhs>(?<![\w.])(?P<name>[A-Za-z_][\w.-]*)(?P<q>['\"]?)\s*(?::|==|=)\s*)"
    r"(?P<val>'[^'\n]*'|\"[^\"\n]*\"|(?P<bare>[^\s'\"(),;\[\]{}<>]+)(?![^\s'\"(),;\[\]{}<>])(?![(\[]))"
)
_ENV_MAGIC = re.compile(
    r"(?m)^(?P<indent>[ \t]*)%(?:env|set_env)[ \t]+(?P<name>[A-Za-z_]\w*)(?:[ \t]*=[ \t]*|[ \t]+)\S.*$"
)
_ENV_ASSIGN = re.compile(
    r"(?m)^(?P<indent>[ \t]*)(?:os\.)?environ\[\s*(?P<q>['\"])(?P<name>[^'\"\n]+)(?P=q)\s*\]\s*=\s*"
    rf"(?P<lit>{_STRING}|{_NUMBER})[ \t]*(?:#.*)?$"
)
_MAGIC_LINE = re.compile(r"(?m)^[ \t]*[%!].*$")


_SHELL_VARIABLES = frozenset({"PWD", "OLDPWD", "PATH", "HOME", "USER", "SHELL", "TERM", "LANG"})


def _env_name(name: str) -> str:
    """The environment variable a redacted ``name`` is read from (never one the shell sets by itself)."""
    variable = re.sub(r"\W", "_", name).upper()
    return f"NBTRACK_SECRET_{variable}" if variable in _SHELL_VARIABLES else variable


_CODE_CACHE_SIZE = 256


class Redactor:
    """Redaction under one store's key: equal secrets give equal marks in that store, and only there."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        self._key_source = key  # a function: the key file is made only when there is something to redact
        self._key: bytes | None = key if isinstance(key, bytes) else None
        # Sources already redacted: a script opens many runs and a cell reruns; redacting 40 KB costs ~15 ms.
        self._code_done: dict[str, str] = {}

    def mark(self, value: Any) -> str:
        """``<redacted:16 hex>``: an HMAC of the value (its JSON form, so 1 and "1" differ)."""
        if self._key is None:
            source = self._key_source
            self._key = source if isinstance(source, bytes) else source()
        if isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
        else:
            data = json.dumps(value, sort_keys=True, default=_text_of, ensure_ascii=False).encode(
                "utf-8", "surrogatepass"
            )
        return f"<redacted:{hmac.new(self._key, data, hashlib.sha256).hexdigest()[:16]}>"

    # values ----------------------------------------------------------------------------------------

    def param(self, name: str, value: Any) -> Any:
        """A param or tag value as nbtrack keeps it: a mark for a secret name, tokens cut from text inside."""
        if not enabled():
            return value
        if _redactable(secret_kind(name), value):
            return self.mark(value)
        budget = [_MAX_WALK]
        return self._walk(value, budget)

    def _walk(self, value: Any, budget: list[int]) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                kind = secret_kind(k) if isinstance(k, str) else None
                out[k] = self.mark(v) if _redactable(kind, v) else self._walk(v, budget)
            return out
        if isinstance(value, (list, tuple)):
            items = [self._walk(v, budget) for v in value]
            return items if isinstance(value, list) else tuple(items)
        return value

    def params(self, mapping: dict[str, Any]) -> dict[str, Any]:
        return {k: self.param(k, v) for k, v in mapping.items()}

    # text ------------------------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """Free text (outputs, messages, tracebacks, markdown): secrets replaced by marks, the rest kept."""
        if not enabled() or not text:
            return text
        text = self._patterns(text)
        return _TEXT_ASSIGN.sub(self._text_assign, text)

    def _patterns(self, text: str) -> str:
        text = _TOKENS.sub(lambda m: self.mark(m.group(0)), text)
        text = _BEARER.sub(lambda m: m.group(1) + m.group(2) + self.mark(m.group(3)), text)
        text = _URL_PASSWORD.sub(
            lambda m: m.group(0) if is_redacted(m.group(2)) else m.group(1) + self.mark(m.group(2)) + m.group(3), text
        )
        return _QUERY.sub(self._query, text)

    def _query(self, m: re.Match[str]) -> str:
        name, value = m.group(2), m.group(3)
        if (name.lower() in _QUERY_SECRETS or is_secret_name(name)) and not is_redacted(value):
            return m.group(1) + self.mark(value)
        return m.group(0)

    def _text_assign(self, m: re.Match[str]) -> str:
        name, value, bare = m.group("name"), m.group("val"), m.group("bare")
        if secret_kind(name) is None or _MARK.search(value):
            return m.group(0)
        if bare is not None:
            if bare in ("None", "True", "False") or re.fullmatch(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+", bare):
                return m.group(0)  # code, not a value: password = config.password
            return m.group("lhs") + self.mark(bare)
        inner = value[1:-1]
        if not inner:
            return m.group(0)
        return m.group("lhs") + value[0] + self.mark(inner) + value[-1]

    # code ------------------------------------------------------------------------------------------

    def code(self, code: str) -> str:
        """Python/IPython source: secret literals read from the environment instead, ``%env`` values dropped."""
        if not enabled() or not code:
            return code
        done = self._code_done.get(code)
        if done is None:
            done = self._code(code)
            if len(self._code_done) >= _CODE_CACHE_SIZE:
                self._code_done.clear()
            self._code_done[code] = done
        return done

    def _code(self, code: str) -> str:
        code = _ENV_MAGIC.sub(self._env_magic, code)
        code = _ENV_ASSIGN.sub(self._env_assign, code)
        code = _ASSIGN.sub(self._assign, code)
        code = self._patterns(code)
        return _MAGIC_LINE.sub(lambda m: _TEXT_ASSIGN.sub(self._text_assign, m.group(0)), code)

    def _env_magic(self, m: re.Match[str]) -> str:
        name = m.group("name")
        value = m.group(0).split(name, 1)[1].lstrip(" \t=")
        if _MARK.search(value) or not self._is_secret_setting(name, value):
            return m.group(0)  # CUDA_VISIBLE_DEVICES=0 is configuration, kept so exports still set it
        return f"{m.group('indent')}# %env {name}={self.mark(value.strip())}  (value redacted by nbtrack: set ${name})"

    def _env_assign(self, m: re.Match[str]) -> str:
        name = m.group("name")
        if _MARK.search(m.group("lit")) or not self._is_secret_setting(name, m.group("lit")):
            return m.group(0)
        return (
            f"{m.group('indent')}pass  # nbtrack redacted: os.environ[{name!r}] = {self.mark(m.group('lit'))}; "
            f"set ${name} before running"
        )

    def _is_secret_setting(self, name: str, value: str) -> bool:
        """An environment setting to redact: a secret-looking name, or a value with a token or a password in it."""
        return secret_kind(name) is not None or self._patterns(value) != value

    def _assign(self, m: re.Match[str]) -> str:
        name = m.group("name") or m.group("key")
        literal = m.group("lit")
        kind = secret_kind(name)
        is_text = not re.fullmatch(_NUMBER, literal)
        if kind is None or (kind == "weak" and not is_text) or _MARK.search(literal):
            return m.group(0)
        if is_text and re.fullmatch(r"[rRbBuU]{0,2}(''|\"\")", literal):
            return m.group(0)  # an empty string is no secret
        variable = _env_name(name)
        replaced = f'{m.group("lhs")}__import__("os").environ["{variable}"]'
        rest = m.string[m.end() : m.string.find("\n", m.end()) if "\n" in m.string[m.end() :] else len(m.string)]
        if not rest.strip() and m.group("name"):
            replaced += f"  # {self.mark(literal)}: redacted by nbtrack, set ${variable}"
        return replaced

    # records and documents -------------------------------------------------------------------------

    def error(self, record: dict[str, Any]) -> dict[str, Any]:
        """An ``error`` record with its message and traceback redacted."""
        out = dict(record)
        for field in ("message", "traceback"):
            if isinstance(out.get(field), str):
                out[field] = self.text(out[field])
        return out

    def notebook(self, raw: bytes) -> bytes:
        """A notebook file with code, markdown and text outputs redacted; the same bytes when nothing changed."""
        if not enabled():
            return raw
        try:
            nb = json.loads(raw)
            cells = nb.get("cells", [])
        except (ValueError, AttributeError):
            return raw
        changed = False

        def fix(container: dict[str, Any], field: str, how: Callable[[str], str]) -> None:
            nonlocal changed
            value = container.get(field)
            text = "".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
            if isinstance(text, str):
                new = how(text)
                if new != text:
                    container[field] = new
                    changed = True

        for cell in cells if isinstance(cells, list) else []:
            if not isinstance(cell, dict):
                continue
            fix(cell, "source", self.code if cell.get("cell_type") == "code" else self.text)
            for output in cell.get("outputs") or []:
                if not isinstance(output, dict):
                    continue
                fix(output, "text", self.text)
                fix(output, "evalue", self.text)
                if isinstance(output.get("traceback"), list):
                    lines = [self.text(t) if isinstance(t, str) else t for t in output["traceback"]]
                    changed |= lines != output["traceback"]
                    output["traceback"] = lines
                data = output.get("data")
                if isinstance(data, dict):
                    for mime in list(data):
                        if mime.startswith("text/") or mime in ("application/json", "application/javascript"):
                            fix(data, mime, self.text)
        if not changed:
            return raw
        return json.dumps(nb, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass")

    def doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A run record as it may leave the machine: params, tags, code and error redacted (for pushes)."""
        if not enabled():
            return doc
        out = dict(doc)
        for field in ("params", "tags"):
            if isinstance(out.get(field), dict):
                out[field] = self.params(out[field])
        if isinstance(out.get("code"), str):
            out["code"] = self.code(out["code"])
        if isinstance(out.get("error"), dict):
            out["error"] = self.error(out["error"])
        return out


# the per-store key ---------------------------------------------------------------------------------

_redactors: dict[Path, Redactor] = {}
_guard = threading.Lock()


def for_store(root: str | os.PathLike[str]) -> Redactor:
    """The :class:`Redactor` of the store at ``root``, its key created on first use (``redact.key``, 0600).

    A store that cannot be written gets a key for this process only: its records cannot be saved anyway.
    """
    path = Path(root).absolute()
    with _guard:
        redactor = _redactors.get(path)
        if redactor is None:
            redactor = _redactors[path] = Redactor(functools.partial(_load_key, path))
        return redactor


def _load_key(root: Path) -> bytes:
    path = root / KEY_FILE
    with contextlib.suppress(OSError):
        return _read_key(path)
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = root / f".{KEY_FILE}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process made the key first: then theirs is the key
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return _read_key(path)
    except OSError:
        return secrets.token_bytes(32)


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        key = os.read(fd, 64)
    finally:
        os.close(fd)
    if len(key) < 32:
        raise OSError(f"{path} is too short to be a key")
    return key


def redact_uri(uri: str) -> str:
    """A server URI for messages and records: user name, password, query string and fragment removed."""
    from urllib.parse import urlsplit, urlunsplit

    text = uri.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return _URL_PASSWORD.sub(r"\1***\3", text.split("?", 1)[0].split("#", 1)[0])
    if not parts.scheme or not parts.netloc:
        return text.split("?", 1)[0].split("#", 1)[0]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
