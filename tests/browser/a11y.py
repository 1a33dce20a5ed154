"""Accessibility checks for the browser tests: axe-core run in the page, the JupyterLab theme, focus rings.

``axe_violations(page, selector)`` injects axe-core (the ``axe.min.js`` that the ``axe-playwright-python``
package ships, so nothing is fetched at test time) and runs its WCAG 2.0/2.1 A and AA rules, ``color-contrast``
included, on the elements matching ``selector`` only (nbtrack's nodes, not the rest of JupyterLab).
``assert_accessible`` fails with one readable line per offending node: rule, node, and for contrast the
colours and the ratio found against the one required.

``use_theme(page, "JupyterLab Dark")`` switches the theme the way a user does (Settings > Theme, which runs
``apputils:change-theme``) and waits until the theme's variables apply. The choice is saved in the lab's user
settings: ``light_again(page)`` puts the light theme back for the tests after.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LIGHT = "JupyterLab Light"
DARK = "JupyterLab Dark"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# JupyterLab's shell sits in a 0-pixel-high `overflow: hidden` container (#main is absolutely positioned against
# the viewport, so nothing is clipped); axe-core takes that container for a clip and skips every text node in
# the shell as "not on screen", so contrast is never checked. While axe runs, that overflow is visible (nothing
# moves: the shell is positioned, the container has no height).
UNCLIP = ".jp-ThemedContainer { overflow: visible !important; }"


def _axe_script() -> str:
    from axe_playwright_python.base import AXE_FILE_PATH  # the bundled axe.min.js; only the file is used

    return Path(AXE_FILE_PATH).read_text(encoding="utf-8")


@dataclass
class Violation:
    rule: str
    impact: str
    target: str
    html: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.impact}) at {self.target}: {self.detail}\n    {self.html}"


def _detail(rule: str, node: dict[str, Any]) -> str:
    checks = node.get("any", []) + node.get("all", []) + node.get("none", [])
    for check in checks:
        data = check.get("data") or {}
        if rule == "color-contrast" and isinstance(data, dict) and "contrastRatio" in data:
            return (
                f"contrast {data['contrastRatio']}:1, needs {data.get('expectedContrastRatio')} "
                f"(text {data.get('fgColor')} on {data.get('bgColor')}, {data.get('fontSize')} "
                f"{data.get('fontWeight')})"
            )
    summary = node.get("failureSummary") or "; ".join(c.get("message", "") for c in checks)
    return " ".join(summary.split())


def axe_violations(page, selector: str) -> list[Violation]:
    """axe-core's WCAG A/AA violations inside the elements matching ``selector`` (at least one must exist)."""
    assert page.locator(selector).count() > 0, f"nothing matches {selector!r} to check"
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_script())
    results = page.evaluate(
        """async ([selector, tags, unclip]) => {
            const style = document.createElement('style');
            style.textContent = unclip;
            document.head.append(style);
            try {
                return await window.axe.run(
                    { include: [[selector]] },
                    { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }
                );
            } finally {
                style.remove();
            }
        }""",
        [selector, WCAG_TAGS, UNCLIP],
    )
    found = []
    for violation in results["violations"]:
        for node in violation["nodes"]:
            found.append(
                Violation(
                    rule=violation["id"],
                    impact=str(violation.get("impact")),
                    target=" ".join(str(t) for t in node.get("target", [])),
                    html=" ".join(node.get("html", "").split())[:160],
                    detail=_detail(violation["id"], node),
                )
            )
    return found


def report(violations: list[Violation], where: str) -> str:
    lines = [f"{len(violations)} accessibility violation(s) in {where}:"]
    lines += [f"  {v}" for v in violations]
    return "\n".join(lines)


def assert_accessible(page, selector: str, theme: str) -> None:
    """Fail, listing every node, if axe-core finds a WCAG 2 A/AA violation inside ``selector``; ``theme`` is the
    theme the page must be showing (checked, so a dark-theme test cannot pass in the light theme)."""
    assert current_theme(page) == theme, f"the page shows {current_theme(page)}, not {theme}"
    violations = axe_violations(page, selector)
    assert not violations, report(violations, f"{selector} ({theme})")


def current_theme(page) -> str | None:
    return page.evaluate("() => document.body.dataset.jpThemeName ?? null")


def use_theme(page, theme: str) -> None:
    """Settings > Theme > ``theme`` (JupyterLab's ``apputils:change-theme`` command), then wait until it applies."""
    if current_theme(page) == theme:
        return
    page.locator(".lm-MenuBar-item", has_text="Settings").first.click()
    page.locator(".lm-Menu-item", has_text="Theme").first.hover()
    page.locator('.lm-Menu-item[data-command="apputils:change-theme"]', has_text=theme).first.click()
    light = "false" if "Dark" in theme else "true"
    page.wait_for_function(
        """([name, light]) => document.body.dataset.jpThemeName === name
            && document.body.dataset.jpThemeLight === light
            && getComputedStyle(document.body).getPropertyValue('--jp-layout-color1').trim() !== ''""",
        arg=[theme, light],
        timeout=30_000,
    )
    # the theme's stylesheet is loaded before the attributes change; one frame more for the styles to settle
    page.wait_for_timeout(300)


def light_again(page) -> None:
    """Put JupyterLab's light theme back (the theme is a saved user setting shared with later tests)."""
    with contextlib.suppress(Exception):  # the page may be gone after a failure; the test reports that
        use_theme(page, LIGHT)


def focus_ring(page) -> dict[str, str]:
    """The focused element's outline and box-shadow, as computed while it has keyboard focus."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const s = getComputedStyle(el);
            return { outline: `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`, shadow: s.boxShadow,
                     visible: String(el.matches(':focus-visible')) };
        }"""
    )


def has_visible_ring(ring: dict[str, str]) -> bool:
    style, width = ring["outline"].split(" ")[:2]
    return (style != "none" and width not in ("0px", "0")) or ring["shadow"] not in ("none", "")


def focused_label(page) -> str:
    """A short name for the focused element: its aria-label, else its label's text, else its text, else its tag."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const label = el.labels && el.labels.length ? (el.labels[0].textContent || '').trim() : '';
            return el.getAttribute('aria-label') || label || (el.textContent || '').trim().slice(0, 40) || el.tagName;
        }"""
    )
