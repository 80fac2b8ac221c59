"""``wsgikit check``'s report in three formats: text for the terminal, JSON, and one HTML page.

All three say the same things: the Host the probes sent, each probe's status, the findings
grouped by rule with a link to the PEP 3333 (or RFC) section, exceptions that escaped the app,
what the app printed or logged (once per kind), and the loud warning when only error pages
were reached. The HTML page is self-contained (inline style, no script, nothing fetched).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from wsgikit.conformance.pep3333 import Rule
from wsgikit.ops.checker import CheckReport, ProbeResult

__all__ = ["section_url", "format_text", "to_json", "format_json", "format_html"]

PEP3333_URL = "https://peps.python.org/pep-3333/"
_RFC_RE = re.compile(r"RFC (\d+)(?: §([\d.]+))?")


def section_url(section: str) -> str:
    """The web address of a rule's section: PEP 3333 anchors, or the RFC Editor's section link.

    ``"PEP 3333: The write() Callable"`` -> ``https://peps.python.org/pep-3333/#the-write-callable``
    (the anchor is docutils' id for the title); ``"RFC 9110 §8.8.3"`` -> rfc9110#section-8.8.3.
    """
    if section.startswith("PEP 3333: "):
        title = section[len("PEP 3333: ") :]
        return PEP3333_URL + "#" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    m = _RFC_RE.match(section)
    if m:
        url = f"https://www.rfc-editor.org/rfc/rfc{m.group(1)}"
        return url + (f"#section-{m.group(2).rstrip('.')}" if m.group(2) else "")
    return PEP3333_URL


def _result_line(r: ProbeResult) -> str:
    status = r.status or "(no start_response)"
    note = ""
    if r.raised:
        note = f"  <- the app raised {r.raised}" + (
            " after the headers (the server cuts the body)" if r.aborted else ""
        )
    return f"  {status:<30} {r.probe.name}{note}"


def _crash_groups(report: CheckReport, include_info: bool) -> list[tuple[str, list[ProbeResult]]]:
    groups: dict[str, list[ProbeResult]] = {}
    for r in report.crashes(include_info=include_info):
        groups.setdefault(r.raised or "", []).append(r)
    return list(groups.items())


def _clip(line: str, width: int = 160) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def format_text(report: CheckReport, *, include_info: bool = False, examples: int = 3) -> str:
    """The terminal report; its last line counts the problems."""
    over = " over https" if report.scheme == "https" else ""
    lines = [f"wsgikit check: {report.probes} probes sent with Host: {report.host}{over}"]
    warning = report.error_pages_reason() if report.error_pages_only else ""
    if warning:
        lines += ["", *warning.splitlines(), ""]
    lines.append("Status per probe:")
    lines += [_result_line(r) for r in report.results]
    for r in report.rules(include_info=include_info):
        items = report.by_rule[r.id]
        lines.append(f"{r.id} {r.name} [{r.level}] ({r.section}): {r.title}")
        probes = sorted({p for p, _ in items})
        if len(probes) == report.probes:
            lines.append(f"    seen on all {report.probes} probes")
        else:
            lines.append(
                f"    seen on {len(probes)} of {report.probes} probes: {', '.join(probes)}"
            )
        for probe, finding in items[:examples]:
            lines.append(f"    - {probe}: {finding.detail} [in {finding.where}]")
    for error, results in _crash_groups(report, include_info):
        edge = all(r.probe.edge for r in results)
        level = " [info: an odd request the app may refuse]" if edge else ""
        names = ", ".join(r.probe.name for r in results)
        lines.append(f"CRASH {error}{level}")
        lines.append(f"    on {len(results)} of {report.probes} probes: {names}")
    output = report.app_output()
    if output:
        lines.append("What the app printed or logged (stdout, stderr, wsgi.errors), once per kind:")
        for block in output:
            lines.append(f"  on {len(block.probes)} of {report.probes} probes: {block.summary}")
            lines += ["    | " + _clip(line) for line in block.text.splitlines()]
    n = report.problem_count()
    notes = report.problem_count(include_info=True) - n
    tail = f", {notes} info-level note(s)" if notes and include_info else ""
    if warning:
        tail += ", but only error pages were reached: see the WARNING above"
    lines.append(f"{n} problem(s) found in {report.probes} probes{tail}")
    return "\n".join(lines)


def _rule_json(report: CheckReport, rule: Rule) -> dict[str, Any]:
    items = report.by_rule[rule.id]
    return {
        "id": rule.id,
        "name": rule.name,
        "level": rule.level,
        "section": rule.section,
        "url": section_url(rule.section),
        "title": rule.title,
        "probes": sorted({p for p, _ in items}),
        "findings": [{"probe": p, "detail": f.detail, "where": f.where} for p, f in items],
    }


def to_json(report: CheckReport, *, strict: bool = False) -> dict[str, Any]:
    """The report as plain data (what ``--format json`` prints)."""
    counted = {id(r) for r in report.crashes()}
    return {
        "host": report.host,
        "scheme": report.scheme,
        "probes": [
            {
                "name": r.probe.name,
                "method": r.probe.method,
                "target": r.probe.target,
                "status": r.status,
                "code": r.code,
                "raised": r.raised,
                "location": r.location,
                "rules": sorted({f.rule.id for f in r.findings}),
            }
            for r in report.results
        ],
        "rules": [_rule_json(report, rule) for rule in report.rules(include_info=True)],
        "crashes": [
            {
                "error": error,
                "probes": [r.probe.name for r in results],
                "counted": any(id(r) in counted for r in results),
                "traceback": results[0].traceback,
            }
            for error, results in _crash_groups(report, True)
        ],
        "app_output": [
            {"summary": o.summary, "text": o.text, "probes": list(o.probes)}
            for o in report.app_output()
        ],
        "status_counts": report.status_counts(),
        "problems": report.problem_count(include_info=strict),
        "error_pages_only": report.error_pages_only,
        "warning": report.error_pages_reason() if report.error_pages_only else None,
        "exit_status": report.exit_status(strict=strict),
    }


def format_json(report: CheckReport, *, strict: bool = False) -> str:
    return json.dumps(to_json(report, strict=strict), indent=2, ensure_ascii=False)


_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f4f4f4}code,pre{font:13px ui-monospace,monospace}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;white-space:pre-wrap}
.warning{background:#fff3cd;border:2px solid #d39e00;padding:.8em;font-weight:bold;
white-space:pre-line}
td.ok,td.bad{white-space:nowrap}.ok{color:#176f2c}.bad{color:#b00020}
.level{border-radius:3px;padding:0 .4em;color:#fff}
.error{background:#b00020}.warning-level{background:#d39e00}.info{background:#5470c6}
section.rule{margin:1em 0;padding:.2em 1em;border-left:4px solid #ccc}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _status_cell(r: ProbeResult) -> str:
    cls = "ok" if r.code is not None and r.code < 400 else "bad"
    text = _e(r.status or "(no start_response)")
    if r.raised:
        text += f"<br><small>the app raised {_e(r.raised)}</small>"
    return f'<td class="{cls}">{text}</td>'


def format_html(report: CheckReport, *, strict: bool = False) -> str:
    """One self-contained HTML page: statuses, findings grouped by rule, app output."""
    n = report.problem_count(include_info=strict)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>wsgikit check: {n} problem(s)</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>wsgikit check</h1>",
        f"<p>{report.probes} probes sent with <code>Host: {_e(report.host)}</code>"
        f"{' over https' if report.scheme == 'https' else ''}: "
        f'<strong id="summary">{n} problem(s) found</strong> '
        f"(exit status {report.exit_status(strict=strict)}).</p>",
    ]
    if report.error_pages_only:
        parts.append(
            f'<p class="warning" id="error-pages-only">{_e(report.error_pages_reason())}</p>'
        )
    parts += ["<h2>Findings by rule</h2>"]
    rules = report.rules(include_info=True)
    if not rules:
        parts.append("<p>No rule was broken.</p>")
    for rule in rules:
        items = report.by_rule[rule.id]
        probes = sorted({p for p, _ in items})
        level_cls = "warning-level" if rule.level == "warning" else rule.level
        parts += [
            f'<section class="rule" id="{_e(rule.id)}">',
            f'<h3>{_e(rule.id)} {_e(rule.name)} <span class="level {level_cls}">'
            f"{_e(rule.level)}</span></h3>",
            f'<p>{_e(rule.title)}: <a href="{_e(section_url(rule.section))}">'
            f"{_e(rule.section)}</a>. Seen on {len(probes)} of {report.probes} probes.</p>",
            "<table><tr><th>Probe</th><th>What happened</th><th>In</th></tr>",
        ]
        rows: dict[tuple[str, str], list[str]] = {}
        for p, f in items:  # the same finding on many probes is one row
            rows.setdefault((f.detail, f.where), []).append(p)
        for (detail, where), names in rows.items():
            who = f"all {report.probes} probes" if len(names) == report.probes else ", ".join(names)
            parts.append(
                f"<tr><td>{_e(who)}</td><td>{_e(detail)}</td><td><code>{_e(where)}</code></td></tr>"
            )
        parts += ["</table>", "</section>"]
    crashes = _crash_groups(report, True)
    if crashes:
        parts.append("<h2>Exceptions that escaped the app</h2>")
        for error, results in crashes:
            on = ", ".join(r.probe.name for r in results)
            parts += [
                f"<details><summary><code>{_e(error)}</code> on {len(results)} probe(s): "
                f"{_e(on)}</summary><pre>{_e(results[0].traceback)}</pre></details>"
            ]
    parts += [
        "<h2>Status per probe</h2>",
        "<table><tr><th>Probe</th><th>Request</th><th>Status</th><th>Rules</th></tr>",
    ]
    for r in report.results:
        rule_links = " ".join(
            f'<a href="#{_e(i)}">{_e(i)}</a>' for i in sorted({f.rule.id for f in r.findings})
        )
        parts.append(
            f"<tr><td>{_e(r.probe.name)}</td>"
            f"<td><code>{_e(r.probe.method)} {_e(_clip(r.probe.target, 80))}</code></td>"
            f"{_status_cell(r)}<td>{rule_links}</td></tr>"
        )
    parts.append("</table>")
    output = report.app_output()
    if output:
        parts.append("<h2>What the app printed or logged</h2>")
        for block in output:
            parts.append(
                f"<details><summary>on {len(block.probes)} of {report.probes} probes: "
                f"<code>{_e(_clip(block.summary))}</code></summary><pre>{_e(block.text)}</pre>"
                "</details>"
            )
    parts.append("</body></html>\n")
    return "\n".join(parts)
