"""axe-core in Chromium: the accessibility rules every journey's pages must pass (issue 17, item 6).

axe-core is committed under tests/browser/vendor/axe-core/ (pinned, with its licence), so a clean clone and CI
run it without a download. It is added as an init script (through the DevTools protocol, so the pages'
content security policy, which forbids inline scripts, stays as it is for the page's own code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_PATH = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


def axe_install(page: Any) -> None:
    """Make axe available on every page this Playwright page opens from now on."""
    page.add_init_script(path=str(AXE_PATH))


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical violations on the page as it stands (WCAG 2.x A and AA rules)."""
    results = page.evaluate(
        """async () => {
            const result = await window.axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
                resultTypes: ["violations"],
            });
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + n.failureSummary),
            }));
        }"""
    )
    return [violation for violation in results if violation["impact"] in BLOCKING_IMPACTS]


def axe_check(page: Any, where: str) -> None:
    """Fail with every serious or critical violation on the page, named with its elements."""
    violations = axe_violations(page)
    assert not violations, f"{where}: " + "\n".join(
        f"{v['impact']} {v['id']} ({v['help']}): {'; '.join(v['nodes'])}" for v in violations
    )
