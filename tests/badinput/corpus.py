"""The bad-input corpus: malformed dialplan, routing and calendar files, each with the line
its error must name. `python -m tests.badinput.corpus` writes the small ones to
tests/badinput/corpus/<kind>/<name>.yaml (committed; the tests check they are still what
this module makes); the big ones (over 1 MiB, or 100,000 options) are made by the tests
in a temporary folder.

Each case: (kind, name) -> Case(the file's bytes, the line of the first error, or None
where only "some line" can be said).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent / "corpus"


@dataclass(frozen=True)
class Case:
    data: bytes
    line: int | None
    big: bool = False  # made by the tests, not committed


# A small valid dialplan: line 3 is a prompt's text, 9 the first option; a case appends
# its broken part from line 14.
DIALPLAN = """\
dialplan: "12398"
prompts:
  hello: 您好，这里是热线测试。
  bye: 再见。
menus:
  main:
    greeting: hello
    options:
      "1": {queue: center}
      "2": {hangup: bye}
    timeout: 3
    max_attempts: 1
    on_exhausted: {hangup: bye}
"""

# A small valid routing.yaml (line 2 is the queue `center`, 7 the seat 8001).
ROUTING = """\
queues:
  center: {name: 综合咨询, ring_timeout: 15}
groups:
  centre: {name: 省局12366中心, kind: centre}
  hefei: {name: 合肥市税务局, kind: remote, area_codes: ["0551"]}
seats:
  "8001": {name: 演示座席8001, group: centre, device: Local/8001@seats/n, skills: {center: 5}}
"""

# A small valid calendar.yaml (line 1 the hours).
CALENDAR = """\
hours: ["08:30-12:00", "13:30-17:30"]
queue_hours: {}
years: {}
overrides: []
"""


def _laughs(prefix: str = "x-") -> str:
    """A 'billion laughs': nine aliases of nine aliases ... of nine strings, in 9 lines."""
    text = f'{prefix}a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{prefix}{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    return text


def _alias_depth(prefix: str = "x-") -> str:
    """Aliases that nest a 40-deep list in another 40 deep, and so on."""
    text = f"{prefix}a: &a " + "[" * 40 + "]" * 40 + "\n"
    previous = "a"
    for name in "bcdef":
        text += f"{prefix}{name}: &{name} " + "[" * 40 + f"*{previous}" + "]" * 40 + "\n"
        previous = name
    return text


def _menu(options: int, start: int = 0) -> str:
    return "".join(f'      "{(start + i):d}": {{hangup: bye}}\n' for i in range(options))


def _dialplan_cases() -> dict[str, Case]:
    d = DIALPLAN
    e = d.encode("utf-8")
    at14 = len(d.splitlines()) + 1
    prompts_extra = "".join(f"  p{i}: 提示{i}\n" for i in range(1001))
    return {
        # Bytes the YAML reader refuses.
        "nul-byte": Case(d.replace("您好", "您\x00好").encode(), 3),
        "bell-character": Case(d.replace("您好", "您\x07好").encode(), 3),
        "escape-character": Case(d.replace("再见", "再\x1b[31m见").encode(), 4),
        "not-utf8": Case(e.replace("您好".encode(), b"\xc4\xfa\xba\xc3"), 3),
        "utf16": Case(d.encode("utf-16"), 1),
        "latin1-bom-garbage": Case(b"\xef\xbb\xbf\xff\xfe\x00garbage\n", 1),
        # What the composer and the walker bound.
        "recursive-alias-list": Case((d + "x-r: &r [*r]\n").encode(), at14),
        "recursive-alias-map": Case((d + "x-m: &m {a: {b: *m}}\n").encode(), at14),
        "deep-flow-5000": Case((d + "x-d: " + "[" * 5000 + "]" * 5000 + "\n").encode(), at14),
        "deep-block-100": Case((d + "x-d:\n" + "".join(
            "  " * (i + 1) + f"k{i}:\n" for i in range(100))).encode(), None),
        "billion-laughs": Case((d + _laughs()).encode(), at14),
        "alias-depth": Case((d + _alias_depth()).encode(), None),
        "two-documents": Case((d + "---\nmenus: {}\n").encode(), at14),
        # Syntax.
        "tab-indent": Case(d.replace("    greeting", "\tgreeting").encode(), 7),
        "unclosed-bracket": Case(d.replace('{queue: center}', '{queue: center').encode(), 9),
        "unclosed-quote": Case(d.replace('"2"', '"2').encode(), 10),
        "duplicate-key": Case((d + "menus: {}\n").encode(), at14),
        "merge-key": Case((d + "x-a: &a {timeout: 3}\nx-b:\n  <<: *a\n").encode(), at14 + 2),
        "complex-key": Case((d + "? [a, b]\n: 1\n").encode(), at14),
        "undefined-alias": Case(d.replace("{hangup: bye}\n    timeout",
                                          "*nowhere\n    timeout").encode(), 10),
        "python-tag": Case(d.replace("{queue: center}",
                                     "!!python/object/apply:os.system [id]").encode(), 9),
        "binary-timeout": Case(d.replace("timeout: 3", "timeout: !!binary aGVsbG8=").encode(),
                               11),
        "set-tag": Case((d + "x-s: !!set {a, b}\n").encode(), at14),
        "bad-date": Case(d.replace("timeout: 3", "timeout: 2027-02-30").encode(), 11),
        "cr-only-lines": Case(d.replace("\n", "\r").replace("timeout: 3",
                                                             "timeout: x").encode(), 11),
        # Shapes.
        "empty": Case(b"", 1),
        "top-level-list": Case(b"- menus\n- prompts\n", 1),
        "top-level-text": Case(b"just some text\n", 1),
        "menus-null": Case(d.split("menus:")[0].encode() + b"menus:\n", 5),
        "entry-number": Case((d + "entry: 12\n").encode(), at14),
        "queue-list": Case(d.replace("{queue: center}", "{queue: [a, b]}").encode(), 9),
        "option-key-too-long": Case(d.replace('"1":', '"123456789012":').encode(), 9),
        "option-key-letters": Case(d.replace('"1":', '"x1":').encode(), 9),
        "unknown-menu": Case(d.replace("{queue: center}", "{goto: nowhere}").encode(), 9),
        "unknown-category": Case(d.replace("{queue: center}",
                                           "[{set: {category: vip}}, {queue: center}]")
                                 .encode(), 9),
        # Values.
        "timeout-nan": Case(d.replace("timeout: 3", "timeout: .nan").encode(), 11),
        "timeout-inf": Case(d.replace("timeout: 3", "timeout: 1.0e+400").encode(), 11),
        "attempts-huge": Case(d.replace("max_attempts: 1",
                                        "max_attempts: 99999999999999999999999").encode(), 12),
        "transfer-nul": Case(d.replace("{queue: center}",
                                       '{transfer: "1236\\0"}').encode(), 9),
        "prompt-name-surrogate": Case(d.replace("  bye:", '  "\\ud800":').encode(), 4),
        "prompt-name-path": Case(d.replace("  bye:", '  "../../etc/bye":').encode(), 4),
        "prompt-name-space": Case(d.replace("  bye:", '  "bye now":').encode(), 4),
        "prompt-file-nul": Case(d.replace("hello: 您好，这里是热线测试。",
                                          'hello: {file: "hello\\0.wav"}').encode(), 3),
        "prompt-file-newline": Case(d.replace("hello: 您好，这里是热线测试。",
                                              'hello: {file: "a\\nb.wav"}').encode(), 3),
        "prompt-text-bell": Case(d.replace("hello: 您好", 'hello: "您好\\a').replace(
            "测试。", '测试。"').encode(), 3),
        "prompt-text-surrogate": Case(d.replace("bye: 再见。", 'bye: "\\udc80"').encode(), 4),
        "prompt-text-3000": Case(d.replace("再见。", "再" * 3000).encode(), 4),
        "menu-name-surrogate": Case(d.replace("  main:", '  "\\udfff":').encode(), 6),
        "menu-key-newline": Case(d.replace("  main:", '  "ma\\nin":').encode(), 6),
        # Sizes the compiler bounds.
        "options-101": Case(d.replace('      "1": {queue: center}\n      "2": {hangup: bye}\n',
                                      _menu(101)).encode(), 8),
        "menus-201": Case((d + "".join(f"  m{i}: {{greeting: hello, options: "
                                       f"{{\"1\": {{hangup: bye}}}}}}\n"
                                       for i in range(201))).replace(
            "max_attempts: 1\n    on_exhausted: {hangup: bye}\n",
            "max_attempts: 1\n    on_exhausted: {hangup: bye}\n", 1).encode(), 5),
        "prompts-1001": Case(d.replace("  bye: 再见。\n", "  bye: 再见。\n" + prompts_extra)
                             .encode(), 2),
        "steps-51": Case(d.replace("{queue: center}", "[" + ", ".join(
            ["{play: hello}"] * 50) + ", {queue: center}]").encode(), 9),
        "play-51": Case(d.replace("{queue: center}", "{play: [" + ", ".join(
            ["hello"] * 51) + "]}").encode(), 9),
        "when-51": Case(d.replace("{queue: center}", "{when: [" + ", ".join(
            ["{if: {calendar: open}, then: {queue: center}}"] * 51) + "]}").encode(), 9),
        "regex-nested-repeat": Case(d.replace("{queue: center}", '{collect: {into: id, prompt: '
                                              'hello, pattern: "^(\\\\d+)+$"}}').encode(), 9),
        "regex-backreference": Case(d.replace("{queue: center}", '{collect: {into: id, prompt: '
                                              'hello, pattern: "(1)\\\\1"}}').encode(), 9),
        "regex-alternation-repeat": Case(d.replace("{queue: center}", '{collect: {into: id, '
                                                   'prompt: hello, pattern: "^(1|11)*$"}}')
                                         .encode(), 9),
        # Made by the tests: too big to commit.
        "one-point-one-mib": Case(("x-pad: " + "a" * (1024 * 1024 + 100_000) + "\n" + d)
                                  .encode(), 1, big=True),
        "options-100000": Case(d.replace('      "1": {queue: center}\n      "2": {hangup: bye}\n',
                                         _menu(100_000)).encode(), 1, big=True),
        "options-30000-in-300-menus": Case((d.replace(
            '      "1": {queue: center}\n      "2": {hangup: bye}\n', _menu(100)) + "".join(
            f"  m{i}:\n    greeting: hello\n    options:\n" + _menu(100)
            for i in range(299))).encode(), 5, big=True),
    }


def _routing_cases() -> dict[str, Case]:
    r = ROUTING
    at8 = len(r.splitlines()) + 1
    seat = r.splitlines(keepends=True)[-1]  # the seat 8001
    return {
        "nul-byte": Case(r.replace("综合咨询", "综合\x00咨询").encode(), 2),
        "not-utf8": Case(r.encode().replace("综合咨询".encode(), b"\xd7\xdb\xba\xcf"), 2),
        "recursive-alias": Case((r + "x: &r [*r]\n").encode(), at8),
        "deep-flow-5000": Case((r + "x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n")
                               .encode(), at8),
        "billion-laughs": Case((r.replace("queues:", _laughs("x") + "queues:", 1)).encode(), 1),
        "queues-list": Case(r.replace("  center: {name: 综合咨询, ring_timeout: 15}",
                                      "  - center").encode(), 1),
        "queue-id-surrogate": Case(r.replace("  center:", '  "\\ud800":').encode(), 2),
        "queue-name-bell": Case(r.replace("综合咨询", '"综合\\a咨询"').encode(), 2),
        "ring-timeout-huge": Case(r.replace("ring_timeout: 15",
                                            "ring_timeout: 99999999999999999999999").encode(), 2),
        "ring-timeout-nan": Case(r.replace("ring_timeout: 15", "ring_timeout: .nan").encode(),
                                 2),
        "strategy-list": Case(r.replace("ring_timeout: 15", "strategy: [a]").encode(), 2),
        "device-crlf": Case(r.replace("device: Local/8001@seats/n",
                                      'device: "Local/8001@seats/n\\r\\nAction: Originate"')
                            .encode(), 7),
        "seat-name-escape": Case(r.replace("name: 演示座席8001", 'name: "\\e[2J座席"').encode(), 7),
        "seat-id-slash": Case(r.replace('"8001":', '"../8001":').encode(), 7),
        "skill-unknown-queue": Case(r.replace("skills: {center: 5}", "skills: {nowhere: 5}")
                                    .encode(), 7),
        "skill-level-huge": Case(r.replace("skills: {center: 5}", "skills: {center: 1e400}")
                                 .encode(), 7),
        "area-code-arabic-digits": Case(r.replace('["0551"]', '["٠٥٥١"]').encode(), 5),
        "area-codes-101": Case(r.replace('["0551"]', "[" + ", ".join(
            f'"{551 + i:04d}"' for i in range(101)) + "]").encode(), 5),
        "pause-reason-code": Case((r + 'pause_reasons: {"午 休": 午休}\n').encode(), at8),
        "pause-reason-label-list": Case((r + "pause_reasons: {meal: [a, b]}\n").encode(), at8),
        "no-centre": Case(r.replace("kind: centre", "kind: remote").encode(), 3),
        "queues-201": Case(r.replace("  center: {name: 综合咨询, ring_timeout: 15}\n", "".join(
            f"  q{i}: {{name: 队列{i}}}\n" for i in range(201))).encode(), 1),
        "seats-5001": Case(r.replace(seat, "".join(seat.replace("8001", str(10000 + i))
                                                   for i in range(5001))).encode(), 6,
                           big=True),
    }


def _calendar_cases() -> dict[str, Case]:
    c = CALENDAR
    return {
        "nul-byte": Case(c.replace("08:30-12:00", "08:30\x00-12:00").encode(), 1),
        "recursive-alias": Case((c + "x: &r {a: *r}\n").encode(), 5),
        "deep-flow-5000": Case((c + "x: " + "[" * 5000 + "]" * 5000 + "\n").encode(), 5),
        "billion-laughs": Case((_laughs("x") + c).encode(), 1),
        "hours-25-00": Case(c.replace("13:30-17:30", "25:00-26:00").encode(), 1),
        "hours-empty-range": Case(c.replace("13:30-17:30", "13:30-13:30").encode(), 1),
        "hours-25-ranges": Case(c.replace('["08:30-12:00", "13:30-17:30"]', "[" + ", ".join(
            f'"{h:02d}:00-{h:02d}:30"' for h in range(24)) + ', "23:40-23:50"]').encode(), 1),
        "hours-overlap": Case(c.replace("13:30-17:30", "11:00-17:30").encode(), 1),
        "queue-hours-list": Case(c.replace("queue_hours: {}", "queue_hours: [a]").encode(), 2),
        "queue-hours-unknown": Case(c.replace("queue_hours: {}",
                                              'queue_hours: {nowhere: ["18:00-21:00"]}')
                                    .encode(), 2),
        "year-five-digits": Case(c.replace("years: {}", "years: {20270: {}}").encode(), 3),
        "year-dates-elsewhere": Case(c.replace("years: {}", "years:\n  2027:\n    holidays: "
                                               "[{date: 2028-01-01}]").encode(), 5),
        "holidays-367": Case(c.replace("years: {}", "years:\n  2027:\n    holidays:\n" + "".join(
            "      - {date: 2027-01-01}\n" for _ in range(367))).encode(), 5),
        "years-101": Case(c.replace("years: {}", "years:\n" + "".join(
            f"  {2000 + i}: {{}}\n" for i in range(101))).encode(), 3),
        "override-bad-date": Case(c.replace("overrides: []", "overrides:\n  - {date: 2027-02-30, "
                                            "closed: true, reason: x}").encode(), 5),
        "override-year-1": Case(c.replace("overrides: []", "overrides:\n  - {date: 0001-01-01x, "
                                          "closed: true, reason: x}").encode(), 5),
        "override-to-9999": Case(c.replace("overrides: []", "overrides:\n  - {from: 2026-01-01, "
                                           "to: 9999-12-31, closed: true, reason: 永久关闭}")
                                 .encode(), 5),
        "override-no-reason": Case(c.replace("overrides: []", "overrides:\n  - {date: 2026-09-15,"
                                             " closed: true}").encode(), 5),
        "override-reversed": Case(c.replace("overrides: []", "overrides:\n  - {from: 2026-09-15,"
                                            " to: 2026-09-01, closed: true, reason: x}")
                                  .encode(), 5),
        "override-reason-escape": Case(c.replace("overrides: []", "overrides:\n  - {date: "
                                                 '2026-09-15, closed: true, reason: "\\e]0;x"}')
                                       .encode(), 5),
        "overrides-mapping": Case(c.replace("overrides: []", "overrides: {a: 1}").encode(), 4),
        "overrides-1001": Case(c.replace("overrides: []", "overrides:\n" + "".join(
            f"  - {{date: 2026-09-15, closed: true, reason: r{i}}}\n" for i in range(1001)))
                               .encode(), 4),
    }


def cases() -> dict[tuple[str, str], Case]:
    """Every case, by (kind, name)."""
    out: dict[tuple[str, str], Case] = {}
    for kind, made in (("dialplan", _dialplan_cases()), ("routing", _routing_cases()),
                       ("calendar", _calendar_cases())):
        out.update({(kind, name): case for name, case in made.items()})
    return out


def path_of(kind: str, name: str) -> Path:
    return HERE / kind / f"{name}.yaml"


def write(folder: Path = HERE) -> None:
    for (kind, name), case in cases().items():
        if case.big:
            continue
        target = folder / kind / f"{name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(case.data)


if __name__ == "__main__":
    write()
