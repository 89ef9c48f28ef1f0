"""The run report's HTML: filter, charts, one row per run, paging. Plain HTML and CSS; no script, no CDN.

:func:`render_page` takes what :mod:`~amazon_sage.ui.report_query` found and the per-run file
listings of :mod:`~amazon_sage.ui.run_files`, and returns the whole page. Every value is
escaped; links to Airflow's own pages open in the whole window (``target=_top``), since Airflow
shows the report inside its UI. Download links carry only the DAG id, the run id and the file's
name in the archive.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import quote, urlencode

from amazon_sage.ui.report_chart import Series, bar_chart
from amazon_sage.ui.report_query import OUTCOMES, PAGE_SIZE, ReportPage, RunFilter, RunRow

BADGE_CLASS = {"ok": "ok", "errors": "errors", "failed": "failed", "running": "running"}
IMPORTED, FAILED, SENT = "#2e7d32", "#c62828", "#1565c0"

STYLE = """
body{font-family:system-ui,sans-serif;margin:1em;color:#1a1a1a;font-size:14px}
h2{margin:.2em 0 .6em} form.filter{display:flex;gap:.8em;align-items:end;flex-wrap:wrap;margin-bottom:.8em}
form.filter label{display:flex;flex-direction:column;font-size:12px;color:#444}
form.filter label.check{flex-direction:row;gap:.3em;align-items:center}
select,input,button{font:inherit;padding:2px 4px} .charts{display:flex;gap:1.5em;flex-wrap:wrap}
.chart text{font-size:11px;fill:#333} .chart .chart-title{font-weight:600;font-size:12px}
.chart .grid{stroke:#e3e3e3} table{border-collapse:collapse;margin-top:.6em;width:100%}
th,td{border-bottom:1px solid #ddd;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#f5f5f5;font-size:12px} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.n.bad{color:#c62828;font-weight:600} small{color:#555}
.badge{display:inline-block;border-radius:9px;padding:1px 8px;font-size:12px;white-space:nowrap}
.badge.ok{background:#e6f4ea;color:#1e6b34} .badge.errors{background:#fff4d6;color:#8a5a00}
.badge.failed{background:#fde7e9;color:#a31621} .badge.running{background:#e8f0fe;color:#1a4fa0}
.phases a{display:block;white-space:nowrap;font-size:12px} .st{display:inline-block;width:8px;height:8px;
border-radius:4px;margin-right:4px;background:#bbb} .st.success{background:#2e7d32}
.st.failed,.st.upstream_failed{background:#c62828} .st.running,.st.queued{background:#1565c0}
.files a{display:block;font-size:12px;white-space:nowrap} details summary{cursor:pointer;color:#8a5a00}
details ul{margin:.3em 0;padding-left:1.2em;max-width:34em}
td.run small,td.when small{white-space:nowrap} details li{font-size:12px;margin-bottom:2px}
.pager{margin:.8em 0;display:flex;gap:1em;align-items:center} .muted{color:#777}
"""


@dataclass
class RunFiles:
    """What the page can offer of one run's archive: its files by role, the reasons, or why not."""

    files: list[tuple[str, str]] = field(default_factory=list)  # (role, name in the archive)
    reasons: list[tuple[str, str]] = field(default_factory=list)  # (record id, reason)
    problem: str | None = None  # e.g. "not archived yet", or why the archive could not be read
    archived: bool = False


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else ""


def _duration(row: RunRow) -> str:
    if not (row.start and row.end):
        return ""
    seconds = int((row.end - row.start).total_seconds())
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def filter_query(wanted: RunFilter, **changes: object) -> str:
    """The query string of ``wanted`` with ``changes`` (e.g. another page), leaving out what is unset."""
    changed = replace(wanted, **changes)  # type: ignore[arg-type]
    params = {"dag_id": changed.dag_id, "run_id": changed.run_id, "state": changed.state,
              "date_from": changed.date_from.isoformat() if changed.date_from else None,
              "date_to": changed.date_to.isoformat() if changed.date_to else None,
              "show_empty": "1" if changed.show_empty else None,
              "page": str(changed.page) if changed.page > 1 else None,
              "per_page": str(changed.per_page) if changed.per_page != PAGE_SIZE else None}
    return urlencode({key: value for key, value in params.items() if value})


def _filter_form(wanted: RunFilter, dag_ids: Sequence[str]) -> str:
    dags = "".join(f'<option value="{_e(d)}"{" selected" if d == wanted.dag_id else ""}>{_e(d)}</option>'
                   for d in dag_ids)
    states = "".join(f'<option value="{key}"{" selected" if key == wanted.state else ""}>{_e(label)}</option>'
                     for key, (label, _) in OUTCOMES.items())
    return (f'<form class="filter" method="get" action="">'
            f'<label>DAG<select name="dag_id"><option value="">all</option>{dags}</select></label>'
            f'<label>State<select name="state"><option value="">all</option>{states}</select></label>'
            f'<label>From<input type="date" name="date_from" value="{_e(wanted.date_from or "")}"></label>'
            f'<label>To<input type="date" name="date_to" value="{_e(wanted.date_to or "")}"></label>'
            f'<label class="check"><input type="checkbox" name="show_empty" value="1"'
            f'{" checked" if wanted.show_empty else ""}> show empty runs</label>'
            + (f'<input type="hidden" name="run_id" value="{_e(wanted.run_id)}">' if wanted.run_id else "")
            + (f'<input type="hidden" name="per_page" value="{wanted.per_page}">'
               if wanted.per_page != PAGE_SIZE else "")
            + '<button type="submit">Filter</button><a href="?">clear</a></form>')


def _charts(report: ReportPage) -> str:
    daily = report.daily
    orders = bar_chart("Orders per day", daily.days, [Series("imported", IMPORTED, daily.orders_imported),
                                                      Series("failed", FAILED, daily.orders_failed)])
    feeds = bar_chart("Feeds per day", daily.days, [Series("feeds sent", SENT, daily.feeds_sent),
                                                    Series("SKUs failed", FAILED, daily.skus_failed)])
    return f'<div class="charts">{orders}{feeds}</div>'


def _failed_cell(row: RunRow, files: RunFiles) -> str:
    if not row.failed_records and not row.totals.failed:
        return ""
    count = sum(int(v.get("count", 0)) for v in row.failed_records.values()) or row.totals.failed
    kinds = ", ".join(sorted({str(v.get("kind", "records")) for v in row.failed_records.values()})) or "records"
    kinds = kinds.removesuffix("s") if count == 1 else kinds  # "1 order failed", "1 SKU failed"
    if files.reasons:
        items = "".join(f"<li><b>{_e(record)}</b>: {_e(reason)}</li>" for record, reason in files.reasons)
    else:  # no archive to read them from: the ids the phases published, and where the reasons are
        ids = [i for v in row.failed_records.values() for i in v.get("ids", [])]
        items = "".join(f"<li><b>{_e(i)}</b></li>" for i in ids)
        items += f'<li class="muted">{_e(files.problem or "Reasons are in the task log.")}</li>'
    return f"<details><summary>{count} {_e(kinds)} failed</summary><ul>{items}</ul></details>"


def _links(row: RunRow, airflow: str) -> tuple[str, str]:
    run_url = f"{airflow}/dags/{quote(row.dag_id, safe='')}/runs/{quote(row.run_id, safe='')}"
    phases = "".join(f'<a target="_top" href="{_e(run_url)}/tasks/{quote(p["task_id"], safe="")}" '
                     f'title="{_e(p["state"])}: the task\'s log"><span class="st {_e(p["state"])}"></span>'
                     f'{_e(p["phase"])}</a>' for p in row.phases)
    return run_url, phases


def _files_cell(row: RunRow, files: RunFiles, app: str) -> str:
    if not files.archived:
        return f'<small class="muted">{_e(files.problem or "")}</small>'
    base = {"dag_id": row.dag_id, "run_id": row.run_id}
    links = [f'<a href="{_e(app)}/download/file?{_e(urlencode({**base, "name": name}))}" title="{_e(name)}">'
             f'{"audit-trail CSV" if role == "audit trail" else f"{role} file"}</a>' for role, name in files.files]
    links.append(f'<a href="{_e(app)}/download/archive?{_e(urlencode(base))}">archive (zip)</a>')
    problem = f'<small class="muted">{_e(files.problem)}</small>' if files.problem else ""
    return "".join(links) + problem


def _row(row: RunRow, files: RunFiles, airflow: str, app: str) -> str:
    columns, totals = row.columns, row.totals
    run_url, phases = _links(row, airflow)
    label = OUTCOMES[row.outcome][0]
    numbers = "".join(f'<td class="n{" bad" if bad and value else ""}" title="{_e(title)}">{value}</td>'
                      for value, title, bad in ((totals.read, columns.read_label, False),
                                                (totals.done, columns.done_label, False),
                                                (totals.failed, "failed", True),
                                                (totals.skipped, "skipped", False),
                                                (totals.duplicates, "duplicates", False)))
    return (f'<tr data-run-id="{_e(row.run_id)}" data-outcome="{_e(row.outcome)}">'
            f'<td class="run"><a target="_top" href="{_e(run_url)}">{_e(row.dag_id)}</a><br>'
            f'<small>{_e(row.run_id)}</small></td>'
            f'<td><span class="badge {BADGE_CLASS[row.outcome]}">{_e(label)}</span></td>'
            f'<td class="when"><small>{_e(_when(row.run_after))}<br>{_e(_duration(row))}</small></td>'
            f'<td><small>{_e(columns.read_label)} / {_e(columns.done_label)}</small></td>{numbers}'
            f'<td>{_failed_cell(row, files)}</td><td class="phases">{phases}</td>'
            f'<td class="files">{_files_cell(row, files, app)}</td></tr>')


def _pager(report: ReportPage, wanted: RunFilter) -> str:
    prev = (f'<a rel="prev" href="?{_e(filter_query(wanted, page=report.page - 1))}">&larr; newer</a>'
            if report.page > 1 else '<span class="muted">&larr; newer</span>')
    nxt = (f'<a rel="next" href="?{_e(filter_query(wanted, page=report.page + 1))}">older &rarr;</a>'
           if report.page < report.pages else '<span class="muted">older &rarr;</span>')
    note = " (only the newest runs were searched: narrow the dates)" if report.truncated else ""
    return (f'<div class="pager">{prev}<span>page {report.page} of {report.pages}, {report.total} '
            f'run{"s" if report.total != 1 else ""}{_e(note)}</span>{nxt}</div>')


def render_page(report: ReportPage, wanted: RunFilter, files: Mapping[tuple[str, str], RunFiles],
                dag_ids: Sequence[str], airflow: str, app: str) -> str:
    """The whole page. ``airflow`` is the UI's root path, ``app`` the report's; ``files`` is by (dag id, run id)."""
    body = "".join(_row(row, files.get((row.dag_id, row.run_id), RunFiles()), airflow, app)
                   for row in report.rows)
    body = body or '<tr><td colspan="12" class="muted">No runs match.</td></tr>'
    hidden = "" if wanted.show_empty else " Empty runs (nothing in, nothing out) are hidden."
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Amazon-Sage run report</title>
<style>{STYLE}</style></head><body><h2>Amazon ⇄ Sage 50: run report</h2>
{_filter_form(wanted, dag_ids)}{_charts(report)}
<p class="muted">One row per run, newest first. Open a failed count for each record's reason; the files come
from the run's archive.{_e(hidden)}</p>
<table><thead><tr><th>DAG / run</th><th>State</th><th>Run after / took</th><th>Counts</th><th class="n">In</th>
<th class="n">Out</th><th class="n">Failed</th><th class="n">Skipped</th><th class="n">Duplicates</th>
<th>Failed records</th><th>Phases (logs)</th><th>Files</th></tr></thead><tbody>{body}</tbody></table>
{_pager(report, wanted)}</body></html>"""
