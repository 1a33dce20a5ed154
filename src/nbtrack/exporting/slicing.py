"""Which cells of an execution history a tracked cell depends on: def-use analysis of names with ``ast``.

The history is every cell the kernel ran, in the order it ran them, so the analysis follows Python's own
rule: a name read by a cell has the value of the latest cell before it that bound it. Starting from the
names the tracked cell reads, it walks back through the history and keeps:

- the latest cell that binds each needed name unconditionally (an assignment, import, ``def``, ``class``),
  plus every cell in between that may change it: a binding inside ``if``/``for``/``try``, an augmented
  assignment, or a mutation (``df["c"] = ...``, ``model.fit(X)``, ``items.append(x)``, ``inplace=True``,
  passing it to a function whose body mutates that parameter);
- for a function or class, the names its body reads are looked up where it is *called*, since that is
  when a function body reads its globals (a helper redefined later, or a global it reads, resolves there);
- files as pseudo-names: a cell writing ``out.csv`` defines it for a cell reading ``out.csv``, unless the
  file is an input of the export (declared with ``-d`` or the origin of a fingerprinted input): such a
  writer belongs upstream;
- global state no name shows: random seeds (and the draws from a seeded global generator between the
  seed and the run), ``os.chdir``/``%cd``, environment variables, ``sys.path``, library settings.

When unsure it keeps the cell: a star import, ``exec``/``globals()``, ``%run`` or an untranslatable magic
may bind any name, a call to an unknown function may mutate its arguments.

The facts of each cell come from :mod:`nbtrack.exporting.defuse`; this module walks them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from nbtrack.exporting.defuse import CellFacts
from nbtrack.exporting.effects import file_key

# How likely leaving an omitted cell out is to be wrong after all, for a verifier that widens a slice whose
# script did not reproduce the run (higher first): it changes an object the run reads (the analysis thought a
# later cell replaced it), it binds names to existing objects (an alias the analysis may have missed), it calls
# something with possible side effects, it only binds names, it does nothing that can matter.
SUSPICION = {"mutates": 4, "aliases": 3, "calls": 2, "binds": 1, "nothing": 0}


@dataclass
class Slice:
    """The outcome: which history entries are kept, and a reason for every entry."""

    kept: list[int]
    omitted: dict[int, str]
    why_kept: dict[int, str]
    needed: dict[int, set[str]]  # kept cell -> the names it was kept for
    facts: list[CellFacts]
    suspicion: dict[int, int] = field(default_factory=dict)  # omitted cell -> SUSPICION rank


def slice_history(
    facts: list[CellFacts],
    target: int,
    *,
    external_files: Iterable[str] = (),
    unsure: Iterable[int] = (),
    forced: dict[int, str] | None = None,
    label: dict[int, str] | None = None,
) -> Slice:
    """Keep the cells ``facts[target]`` depends on (see the module docstring).

    ``external_files``: paths that are inputs of the export (their writers are not dependencies).
    ``unsure``: cells that may bind any name (untranslatable magics): kept whenever a needed name passes them.
    ``forced``: cells kept whatever the names say (``%cd``, ``%env``), with the reason.
    """
    label = label or {}
    external = {file_key(p) for p in external_files}
    unsure_set = set(unsure)
    keep: dict[int, str] = {target: "the tracked cell"}
    needed: dict[int, set[str]] = {target: set()}
    work: list[tuple[str, int]] = []
    seen: set[tuple[str, int]] = set()

    def name_of(i: int) -> str:
        return label.get(i, f"#{i + 1}")

    def keep_cell(i: int, why: str, name: str | None) -> None:
        if i not in keep:
            keep[i] = why
            needed[i] = set()
            work.extend((u, i) for u in facts[i].uses)
        if name is not None:
            needed[i].add(name)

    t = facts[target]
    work.extend((u, target) for u in t.uses)
    for names in t.deferred.values():
        work.extend((u, target) for u in names)
    seeded: set[str] = set()
    for i in range(target):
        f = facts[i]
        if f.valid and (f.effects or i in (forced or {})):
            keep_cell(i, (forced or {}).get(i) or f.effects[0], None)
            seeded |= {k for k in f.kills if k.startswith("rng:")}
    work.extend((k, target) for k in seeded)  # libraries draw from a seeded global generator unseen

    while work:
        name, pos = work.pop()
        if (name, pos) in seen or name in external:
            continue
        seen.add((name, pos))
        if name.startswith("rng:"):
            # the order of draws matters only after a seed: without one the run was not reproducible anyway
            seed = next((i for i in range(pos - 1, -1, -1) if name in facts[i].kills), None)
            if seed is None:
                continue
            for i in range(seed, pos):
                if name in facts[i].defines:
                    keep_cell(
                        i,
                        "seeds or draws from the global random generator" if i != seed else "sets the random seed",
                        name,
                    )
            continue
        for i in range(pos - 1, -1, -1):
            f = facts[i]
            if not f.valid:
                continue
            if name in f.defines:
                keep_cell(i, f"defines {_shown(name)}", name)
                if name in f.deferred:
                    work.extend((u, pos) for u in f.deferred[name])  # a function's globals, read when called
                if name in f.kills:
                    break
            elif f.defines_all or i in unsure_set:
                keep_cell(i, f"may define {_shown(name)} (binds names the analysis cannot see)", name)

    kept = sorted(keep)
    omitted: dict[int, str] = {}
    suspicion: dict[int, int] = {}
    all_needed = {name for name, _ in seen}
    needed_at: dict[str, list[int]] = {}  # name -> the positions of the cells that read it
    for name, pos in seen:
        needed_at.setdefault(name, []).append(pos)
    for i in range(target):
        if i in keep:
            continue
        f = facts[i]
        if not f.valid:
            omitted[i] = "not valid Python: it raised SyntaxError when it ran"
            continue
        writes_external = {file_key(p) for p in f.file_writes} & external
        suspicion[i] = _suspicion(f, all_needed) if not writes_external else SUSPICION["nothing"]
        # "redefined before the run uses it" is true only of a name read after this cell, rebound in between
        shadowed: dict[str, int] = {}
        for n in sorted(f.defines & all_needed):
            later_uses = [p for p in needed_at[n] if p > i]
            later = _later_definer(facts, i, n, min(later_uses)) if later_uses else None
            if later is not None and not n.startswith(("rng:", "file:")):
                shadowed[n] = later
        defined = sorted(n for n in f.defines if not n.startswith("rng:"))
        used_before = [n for n in defined if n in needed_at and max(needed_at[n]) < i]
        if writes_external:
            files = ", ".join(sorted(k[5:] for k in writes_external))
            omitted[i] = f"writes {files}, an input of this export: produce it upstream"
        elif shadowed:
            rebound = sorted(shadowed)
            definers = sorted(set(shadowed.values()))
            where = " by " + ", ".join(name_of(j) for j in definers[:3])
            pronoun = "them" if len(rebound) > 1 else "it"
            omitted[i] = f"{_names(rebound)} redefined{where} before the run uses {pronoun}"
        elif used_before:
            last = max(p for n in used_before for p in needed_at[n])
            omitted[i] = f"ran after the last use of {_names(used_before)} (by {name_of(last)}): nothing later reads it"
        elif defined:
            omitted[i] = f"the run does not use what it defines ({_names(defined)})"
        elif f.defines:
            omitted[i] = "only draws from a global random generator that no earlier cell seeded"
        else:
            omitted[i] = "defines nothing (output or display only)"
    return Slice(kept=kept, omitted=omitted, why_kept=keep, needed=needed, facts=facts, suspicion=suspicion)


def _suspicion(f: CellFacts, needed: set[str]) -> int:
    if f.mutated & needed:
        return SUSPICION["mutates"]
    if f.aliases or f.mutated:
        return SUSPICION["aliases"]
    if f.calls:
        return SUSPICION["calls"]
    if {d for d in f.defines if not d.startswith("rng:")}:
        return SUSPICION["binds"]
    return SUSPICION["nothing"]


def _later_definer(facts: list[CellFacts], i: int, name: str, before: int) -> int | None:
    """The first cell after ``i`` and before ``before`` that binds ``name`` for sure."""
    for j in range(i + 1, before):
        if name in facts[j].kills:
            return j
    return None


def _shown(name: str) -> str:
    return name[5:] if name.startswith("file:") else name


def _names(names: list[str]) -> str:
    shown = [_shown(n) for n in names]
    return ", ".join(shown[:4]) + (f" and {len(shown) - 4} more" if len(shown) > 4 else "")


def origin_files(facts: list[CellFacts], name: str, pos: int, depth: int = 4) -> set[str]:
    """Files read where ``name`` (as seen at history position ``pos``) got its value, following the names
    that value was computed from a few steps back."""
    found: set[str] = set()
    seen: set[tuple[str, int]] = set()
    frontier = [(name, pos - 1, 0)]  # (name, the last cell to look in, steps taken)
    while frontier:
        current, last, level = frontier.pop()
        if (current, last) in seen or level > depth:
            continue
        seen.add((current, last))
        for i in range(last, -1, -1):
            f = facts[i]
            if not f.valid or current not in f.defines:
                continue
            found |= f.binding_files.get(current, set())
            # the names it was computed from: bound earlier in the same cell, or before it
            frontier.extend((u, i, level + 1) for u in f.binding_uses.get(current, set()))
            if current in f.kills:
                break
    return found
