"""The knowledge base's import and export files, YAML or CSV, so a centre loads its
existing FAQ and takes its entries out again.

    entries:
      - question: 电子发票怎么开具？
        phrasings: [怎么开电子发票, 数电票如何开]
        answer: 登录电子税务局……
        spoken: 您可以登录电子税务局开具电子发票。
        topic: invoice
        scope: province            # or a city bureau (routing.yaml's remote group)
        source_number: 国家税务总局公告2024年第1号
        source_date: 2024-01-05
        effective_from: 2024-02-01
        effective_until: 2026-12-31
        note: 首次录入
        id: KB-00012               # export: the entry; import: a new version of it
        version: 3                 # export only
        status: published          # export only

question, answer, spoken and topic are required; scope defaults to the province; dates
are ISO (YYYY-MM-DD). CSV: UTF-8 (a BOM is fine), a header row of the same field names,
the phrasings separated by `|`. An import is read whole first: every bad row is named
with its line and the problem, and nothing is stored if any row is bad. Imported rows
are always drafts. YAML is read by hotline.common.yamlsrc, which refuses what a hostile
file holds (alias bombs, NUL and other control characters, deep nesting, duplicate
keys, more than 1 MiB).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import yaml

from hotline.common.errors import YamlSyntaxError
from hotline.common.yamlsrc import MAX_BYTES, load_text
from hotline.core.kb import PROVINCE, Draft, Entry, KbRuleError, Version, entry_id
from hotline.ledger.errors import KbInvalid

FIELDS = ("question", "phrasings", "answer", "spoken", "topic", "scope", "source_number",
          "source_date", "effective_from", "effective_until", "note", "id", "version",
          "status")
REQUIRED = ("question", "answer", "spoken", "topic")
DATES = ("source_date", "effective_from", "effective_until")
MAX_ROWS = 5000  # entries in one file
MAX_FILE = MAX_BYTES  # 1 MiB, the YAML loader's limit, for both formats
FORMATS = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}
SEPARATOR = "|"  # between a CSV row's phrasings


@dataclass(frozen=True)
class Row:
    """One entry of an import file: its line, the entry it is a new version of (None: a
    new entry), and its text."""

    line: int
    entry_id: str | None
    draft: Draft


def _date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name}: {str(value)[:30]!r} is not a date like 2026-10-01")


def _text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"{name}: missing (required: {', '.join(REQUIRED)})")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{name}: must be text, not a {type(value).__name__}")
    if not isinstance(value, str):
        if name != "source_number":
            raise ValueError(f"{name}: must be text, not the number {value!r}")
        value = str(value)
    return str(value)


def draft_of(fields: Mapping[str, Any], *, csv_row: bool = False
             ) -> tuple[str | None, Draft, list[str]]:
    """(the entry id or None, the draft, the problems) of one row's fields; the
    draft's rules (lengths, topic, scope) are the desk's to check."""
    problems: list[str] = []
    unknown = sorted(set(fields) - set(FIELDS), key=str)
    if unknown:
        problems.append(f"unknown field(s) {', '.join(str(u) for u in unknown)} (fields: "
                        f"{', '.join(FIELDS)})")
    values: dict[str, Any] = {}
    for name in ("question", "answer", "spoken", "topic", "scope", "source_number", "note"):
        try:
            values[name] = _text(fields.get(name), name, required=name in REQUIRED)
        except ValueError as exc:
            problems.append(str(exc))
    for name in DATES:
        try:
            values[name] = _date(fields.get(name), name)
        except ValueError as exc:
            problems.append(str(exc))
    raw = fields.get("phrasings")
    phrasings: tuple[str, ...] = ()
    if raw is None or raw == "":
        pass
    elif isinstance(raw, str):
        parts = raw.split(SEPARATOR) if csv_row else [raw]
        phrasings = tuple(p.strip() for p in parts if p.strip())
    elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
        phrasings = tuple(raw)
    else:
        problems.append("phrasings: a list of texts (CSV: separated by |)")
    eid = None
    if fields.get("id") not in (None, ""):
        try:
            eid = entry_id(str(fields["id"]))
        except KbRuleError as exc:
            problems.append(f"id: {exc}")
    draft = Draft(question=values.get("question") or "", answer=values.get("answer") or "",
                  spoken=values.get("spoken") or "", topic=values.get("topic") or "",
                  scope=(values.get("scope") or PROVINCE).strip(), phrasings=phrasings,
                  source_number=values.get("source_number"),
                  source_date=values.get("source_date"),
                  effective_from=values.get("effective_from"),
                  effective_until=values.get("effective_until"), note=values.get("note"))
    return eid, draft, problems


def _refused(problems: list[str]) -> KbInvalid:
    return KbInvalid(f"nothing was imported: {len(problems)} problem(s)\n"
                     + "\n".join(problems), problems=problems)


def _size(data: bytes, name: str) -> None:
    if len(data) > MAX_FILE:
        raise _refused([f"{name}: the file is {len(data) / 1024 / 1024:.1f} MiB: an import "
                        f"is at most {MAX_FILE // 1024 // 1024} MiB (split it)"])


def read_yaml(data: bytes, name: str) -> list[Row]:
    """The rows of a YAML import (KbInvalid naming every bad row by its line)."""
    _size(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _refused([f"{name}:{line}: not UTF-8 text"]) from None
    try:
        doc = load_text(text, name)
    except YamlSyntaxError as exc:
        raise _refused([str(p) for p in exc.problems]) from None
    if not isinstance(doc.data, dict) or set(doc.data) - {"entries"}:
        raise _refused([f"{name}:1: the file holds one key, entries: a list of entries"])
    items = doc.data.get("entries")
    if not isinstance(items, list):
        raise _refused([f"{doc.where(('entries',))}: entries: a list of entries"])
    if len(items) > MAX_ROWS:
        raise _refused([f"{name}: {len(items)} entries: at most {MAX_ROWS} in one file"])
    rows: list[Row] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        line = doc.line_of(("entries", i))
        if not isinstance(item, dict):
            problems.append(f"{name}:{line}: an entry is a mapping (question: ..., ...)")
            continue
        eid, draft, found = draft_of(item)
        problems.extend(f"{name}:{line}: {p}" for p in found)
        rows.append(Row(line, eid, draft))
    if problems:
        raise _refused(problems)
    return rows


def read_csv(data: bytes, name: str) -> list[Row]:
    """The rows of a CSV import: UTF-8 with or without BOM, a header row."""
    _size(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _refused([f"{name}:{line}: not UTF-8 text (save the CSV as UTF-8)"]) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise _refused([f"{name}:{line}: a NUL character (not a text file)"])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise _refused([f"{name}:1: empty: the first row names the fields "
                            f"({', '.join(FIELDS)})"])
        names = [h.strip() for h in header]
        bad = [h for h in names if h not in FIELDS]
        missing = [f for f in REQUIRED if f not in names]
        dup = sorted({h for h in names if names.count(h) > 1})
        if bad or missing or dup:
            why = ([f"unknown column(s) {', '.join(bad)}"] if bad else []) + (
                [f"missing column(s) {', '.join(missing)}"] if missing else []) + (
                [f"column(s) {', '.join(dup)} twice"] if dup else [])
            raise _refused([f"{name}:1: header: {'; '.join(why)} (fields: "
                            f"{', '.join(FIELDS)})"])
        rows: list[Row] = []
        problems: list[str] = []
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue  # a blank line
            if len(rows) + len(problems) >= MAX_ROWS:
                raise _refused([f"{name}: more than {MAX_ROWS} rows: at most {MAX_ROWS} "
                                "in one file"])
            if len(cells) != len(names):
                problems.append(f"{name}:{line}: {len(cells)} cells, the header has "
                                f"{len(names)}")
                continue
            eid, draft, found = draft_of(dict(zip(names, cells, strict=True)), csv_row=True)
            problems.extend(f"{name}:{line}: {p}" for p in found)
            rows.append(Row(line, eid, draft))
    except csv.Error as exc:
        raise _refused([f"{name}:{reader.line_num}: not valid CSV: {exc}"]) from None
    if problems:
        raise _refused(problems)
    return rows


def read(data: bytes, name: str, fmt: str | None = None) -> list[Row]:
    """The rows of an import file in `fmt` (yaml or csv; default: by its extension)."""
    kind = fmt or next((f for ext, f in FORMATS.items() if name.lower().endswith(ext)), None)
    if kind == "yaml":
        return read_yaml(data, name)
    if kind == "csv":
        return read_csv(data, name)
    raise KbInvalid(f"{name}: an import is a .yaml, .yml or .csv file (or say --format)")


# -- export ---------------------------------------------------------------------------


def record(v: Version) -> dict[str, Any]:
    d = v.draft
    out: dict[str, Any] = {"question": d.question, "phrasings": list(d.phrasings),
                           "answer": d.answer, "spoken": d.spoken, "topic": d.topic,
                           "scope": d.scope, "source_number": d.source_number,
                           "source_date": d.source_date, "effective_from": d.effective_from,
                           "effective_until": d.effective_until, "note": d.note,
                           "id": v.entry_id, "version": v.version, "status": v.status}
    return out


def chosen(entries: Iterable[Entry], which: str = "latest") -> list[Version]:
    """Each entry's newest version (`latest`) or its live one (`live`: only published)."""
    if which == "live":
        return [v for v in (e.live_version for e in entries) if v is not None]
    return [e.latest for e in entries]


def to_yaml(versions: Iterable[Version]) -> str:
    records = [{k: v for k, v in record(x).items() if v is not None and v != []}
               for x in versions]
    return yaml.safe_dump({"entries": records}, allow_unicode=True, sort_keys=False,
                          width=1000)


def to_csv(versions: Iterable[Version]) -> str:
    """CSV with a BOM (so that a spreadsheet reads it as UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for v in versions:
        rec = record(v)
        rec["phrasings"] = SEPARATOR.join(rec["phrasings"])
        writer.writerow(["" if rec[f] is None else
                         rec[f].isoformat() if isinstance(rec[f], date) else str(rec[f])
                         for f in FIELDS])
    return "\ufeff" + out.getvalue()
