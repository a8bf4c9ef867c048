"""YAML dialplans: the schema, its `file:line: key.path: message` problems, and the lints.

Every dialplan is written inline, so the line a problem names can be counted in the test.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
import yaml

from hotline.common.yamlsrc import load_text
from hotline.core.ivr.dialplan import (
    Back,
    Branch,
    Collect,
    Condition,
    Dialplan,
    DialplanInvalid,
    Goto,
    HangUp,
    Play,
    Problem,
    Repeat,
    SetCall,
    ToQueue,
    ToVoicemail,
    Transfer,
    When,
    compile_source,
    load_dialplan,
)

REPO = Path(__file__).resolve().parents[2]


def check(tmp_path: Path, text: str, queues: list[str] | None = None,
          ) -> tuple[Dialplan | None, list[str]]:
    """Write `text` (dedented) to plan.yaml and compile it; problems as printed."""
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    plan, problems = load_dialplan(path, "plan.yaml", queues)
    return plan, [str(p) for p in problems]


def errors(tmp_path: Path, text: str, queues: list[str] | None = None) -> list[str]:
    """The problems of a plan that must be rejected."""
    plan, problems = check(tmp_path, text, queues)
    assert plan is None, "a plan with errors must not be usable"
    return problems


def routing_queues() -> list[str]:
    data = yaml.safe_load((REPO / "config" / "routing.yaml").read_text(encoding="utf-8"))
    return list(data["queues"])


# -- what a valid plan compiles to -----------------------------------------------------------


def test_valid_plan_compiles_to_frozen_objects(tmp_path: Path) -> None:
    """A valid plan compiles to frozen Dialplan/Menu objects with every step typed."""
    plan, problems = check(tmp_path, """\
        dialplan: "12366"
        prompts:
          hi: Hello
          again: Choose
          bye: Goodbye
          id: Your id
        menus:
          main:
            greeting: {first: hi, again: again}
            options:
              "1": [{set: {category: complaint, topic: vat}}, {queue: center}]
              "2": {queue: {name: property, prefer_region: true}}
              "3": [{play: [hi, again]}, {goto: sub}]
              "4": {transfer: "+8655112366"}
              "5": voicemail
              "6": {hangup: bye}
              "7": [{collect: {into: tax_id, prompt: id, max_length: 20}}, hangup]
              "#": repeat
          sub:
            greeting: again
            options:
              "*": back
        """)
    assert problems == []
    assert plan is not None
    assert plan.name == "12366"
    assert plan.language == "zh-CN"
    assert plan.source == "plan.yaml"
    assert len(plan.version) == 12
    assert plan.entry == (Goto("main"),)
    main = plan.menus["main"]
    assert (main.greeting_first, main.greeting_again) == (("hi",), ("again",))
    assert (main.timeout, main.inter_digit_timeout, main.max_attempts) == (5.0, 2.0, 3)
    assert main.on_exhausted == (HangUp(),)
    assert main.options["1"] == (SetCall("complaint", "vat"), ToQueue("center"))
    assert main.options["2"] == (ToQueue("property", prefer_region=True),)
    assert main.options["3"] == (Play(("hi", "again")), Goto("sub"))
    assert main.options["4"] == (Transfer("+8655112366"),)
    assert main.options["5"] == (ToVoicemail("12366"),)
    assert main.options["6"] == (HangUp("bye"),)
    assert main.options["7"] == (Collect("tax_id", "id", max_length=20, on_fail=(Repeat(),)),
                                 HangUp())
    assert main.options["#"] == (Repeat(),)
    assert plan.menus["sub"].greeting_again == ("again",)  # `again` defaults to `first`
    assert plan.menus["sub"].options["*"] == (Back(),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        main.timeout = 9  # type: ignore[misc]


def test_when_compiles_branches_in_order(tmp_path: Path) -> None:
    """`when` keeps its branches in order; `else` has no condition; quoted prefixes stay text."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: Hello
        entry:
          when:
            - if: {calendar: [after_hours, non_working_day]}
              then: voicemail
            - if: {caller_prefix: ["0551", "+86551"]}
              then: {queue: hefei}
            - else: {goto: main}
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
        """)
    assert problems == []
    assert plan is not None
    assert plan.name == "plan"  # no `dialplan:` key: the file's name
    assert plan.entry == (When((
        Branch(Condition(calendar=("after_hours", "non_working_day")), (ToVoicemail(),)),
        Branch(Condition(caller_prefix=("0551", "+86551")), (ToQueue("hefei"),)),
        Branch(None, (Goto("main"),)),
    )),)


def test_a_condition_may_name_the_queue_whose_hours_count(tmp_path: Path) -> None:
    """A calendar condition may name a known queue whose hours it checks."""
    plan, problems = check(tmp_path, """\
        entry:
          when:
            - if: {calendar: open, queue: vip}
              then: {queue: vip}
            - else: hangup
        menus: {}
        """, queues=["vip"])
    assert problems == []
    assert plan is not None
    assert plan.entry[0] == When((
        Branch(Condition(calendar=("open",), queue="vip"), (ToQueue("vip"),)),
        Branch(None, (HangUp(),))))


def test_a_condition_queue_must_be_known_and_go_with_calendar(tmp_path: Path) -> None:
    """A condition's queue must go with a calendar state and be a queue routing knows."""
    assert errors(tmp_path, """\
        entry:
          when:
            - if: {queue: vip}
              then: hangup
            - if: {calendar: open, queue: nosuch}
              then: hangup
        menus: {}
        """, queues=["vip"]) == [
        "plan.yaml:3: entry.when[0].if.queue: queue only says whose hours 'calendar' is "
        "checked against: add calendar: open (or another state)",
        "plan.yaml:5: entry.when[1].if.queue: unknown queue 'nosuch' (routing knows: vip)",
    ]


def test_problem_prints_file_line_path_and_message() -> None:
    """A Problem prints as `file:line: key.path: message`, warnings tagged, quoting odd keys."""
    error = Problem("plan.yaml", 7, ("menus", "main", "options", "1"), "boom")
    warning = Problem("plan.yaml", 3, ("prompts", "x"), "unused", "warning")
    assert str(error) == 'plan.yaml:7: menus.main.options."1": boom'
    assert str(warning) == "plan.yaml:3: prompts.x: warning: unused"


def test_dialplan_invalid_carries_every_problem() -> None:
    """DialplanInvalid's message is one problem a line and it keeps the Problem objects."""
    found = [Problem("a.yaml", 1, ("menus",), "one"), Problem("a.yaml", 2, ("entry",), "two")]
    exc = DialplanInvalid(found)
    assert str(exc) == "a.yaml:1: menus: one\na.yaml:2: entry: two"
    assert exc.problems == found
    assert exc.code == "dialplan-invalid"


def test_compile_source_works_on_text_without_a_file() -> None:
    """compile_source compiles a document loaded from text (no file, no version digest)."""
    source = load_text('menus:\n  main:\n    greeting: hi\n    options: {"1": hangup}\n'
                       "prompts: {hi: Hello}\n", "inline.yaml")
    plan, problems = compile_source(source)
    assert problems == []
    assert plan is not None
    assert plan.name == "inline"
    assert plan.version == ""


# -- schema errors --------------------------------------------------------------------------


def test_unknown_key_in_a_menu(tmp_path: Path) -> None:
    """An unknown key in a menu is named with its line and the keys allowed."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            colour: red
            options:
              "1": hangup
        """) == [
        "plan.yaml:6: menus.main.colour: unknown key (expected one of: greeting, "
        "inter_digit_timeout, invalid, label, labels, max_attempts, no_input, "
        "on_exhausted, options, self_service, timeout)"]


def test_unknown_action(tmp_path: Path) -> None:
    """A mapping step with an unknown key is an unknown action, at its key's path."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {jump: main}
        """) == [
        'plan.yaml:7: menus.main.options."1".jump: unknown action (expected one of: back, '
        "collect, goto, hangup, kb, kb_menu, play, queue, repeat, set, transfer, voicemail, "
        "when)"]


def test_unknown_shorthand_action(tmp_path: Path) -> None:
    """A bare word that is not back/repeat/hangup/voicemail is an unknown action."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": hangpu
        """) == [
        "plan.yaml:7: menus.main.options.\"1\": unknown action 'hangpu' (expected a mapping "
        "such as {goto: MENU}, or one of: back, repeat, hangup, voicemail)"]


def test_action_mapping_with_two_keys(tmp_path: Path) -> None:
    """One mapping with two actions is refused, suggesting a list."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {play: hi, queue: center}
        """) == [
        'plan.yaml:7: menus.main.options."1": an action has exactly one key, found 2: '
        "play, queue (use a list for several steps)"]


def test_step_after_goto_leaves_the_menu(tmp_path: Path) -> None:
    """A step after `goto` in a list would never run: the goto is named at its list item."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                - {goto: main}
                - {play: hi}
              "2": hangup
        """) == [
        "plan.yaml:8: menus.main.options.\"1\"[0]: 'goto' leaves the menu: the steps after "
        "it would never run"]


def test_step_after_queue_leaves_the_menu(tmp_path: Path) -> None:
    """A queue ends the menu too: a step after it is an error named 'queue'."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": [{queue: center}, hangup]
        """) == [
        "plan.yaml:7: menus.main.options.\"1\"[0]: 'queue' leaves the menu: the steps after "
        "it would never run"]


def test_bad_option_key(tmp_path: Path) -> None:
    """An option key other than 1-8 of 0-9, * and # is refused."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1a": hangup
              "2": hangup
        """) == ['plan.yaml:7: menus.main.options."1a": an option is 1 to 8 keys of 0-9, * and #']


def test_unquoted_numeric_option_key_is_the_same_key(tmp_path: Path) -> None:
    """An unquoted key `1:` means option "1", and `01:` keeps its leading zero."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              1: hangup
              01: voicemail
        """)
    assert problems == []
    assert plan is not None
    assert set(plan.menus["main"].options) == {"1", "01"}


def test_menu_without_options(tmp_path: Path) -> None:
    """A menu needs at least one option."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options: {}
        """) == ["plan.yaml:6: menus.main.options: a menu needs at least one option"]


def test_timeout_out_of_range(tmp_path: Path) -> None:
    """A timeout above 60 s is out of range."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
            timeout: 90
        """) == ["plan.yaml:8: menus.main.timeout: must be a number of seconds from 1 to 60, "
                 "not 90"]


def test_timeout_of_the_wrong_type(tmp_path: Path) -> None:
    """A timeout that is text is refused."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
            timeout: soon
        """) == ["plan.yaml:8: menus.main.timeout: must be a number of seconds from 1 to 60, "
                 "not text"]


def test_timeout_true_is_not_a_number(tmp_path: Path) -> None:
    """`timeout: yes` (YAML true) is not taken as the number 1."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
            inter_digit_timeout: yes
        """) == ["plan.yaml:8: menus.main.inter_digit_timeout: must be a number of seconds "
                 "from 0.5 to 30, not true/false"]


def test_max_attempts_must_be_whole(tmp_path: Path) -> None:
    """max_attempts is a whole number."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
            max_attempts: 2.5
        """) == ["plan.yaml:8: menus.main.max_attempts: must be a whole number from 1 to 10, "
                 "not a number"]


def test_unknown_category_in_set(tmp_path: Path) -> None:
    """`set: {category: ...}` accepts only the known categories."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                - set: {category: gossip}
                - {queue: center}
        """) == [
        "plan.yaml:8: menus.main.options.\"1\"[0].set.category: unknown category 'gossip' "
        "(expected one of: consultation, tip_off, complaint, suggestion, other)"]


def test_collect_missing_into(tmp_path: Path) -> None:
    """collect without `into` names the collect step."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                - collect:
                    prompt: hi
                - {queue: center}
        """) == ["plan.yaml:8: menus.main.options.\"1\"[0].collect: required key 'into' is missing"]


def test_collect_bad_regex(tmp_path: Path) -> None:
    """An invalid `pattern` is reported with the regex error."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                - collect:
                    into: tax_id
                    prompt: hi
                    pattern: "[0-9"
                - {queue: center}
        """) == [
        'plan.yaml:11: menus.main.options."1"[0].collect.pattern: invalid regular expression: '
        "unterminated character set at position 0"]


def test_collect_min_above_max(tmp_path: Path) -> None:
    """min_length above max_length is refused at min_length."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                - collect: {into: x, prompt: hi, min_length: 9,
                            max_length: 4}
                - hangup
        """) == ['plan.yaml:8: menus.main.options."1"[0].collect.min_length: min_length 9 is '
                 "above max_length 4"]


def test_caller_prefix_with_a_leading_zero_unquoted(tmp_path: Path) -> None:
    """Unquoted 0551 is YAML 1.1 octal 361: refused with the text as written and the fix."""
    assert yaml.safe_load("p: 0551") == {"p": 361}  # what YAML does
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                when:
                  - if: {caller_prefix: [0551, "0552"]}
                    then: {queue: hefei}
                  - else: {queue: center}
        """) == [
        'plan.yaml:9: menus.main.options."1".when[0].if.caller_prefix[0]: YAML reads 0551 as '
        'the number 361: write "0551" (in quotes) to keep it as written']


def test_caller_prefix_unquoted_without_leading_zero_is_fine(tmp_path: Path) -> None:
    """An unquoted prefix that YAML reads back unchanged (138) is accepted as text."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                when:
                  - if: {caller_prefix: 138}
                    then: {queue: mobile}
                  - else: {queue: center}
        """)
    assert problems == []
    assert plan is not None
    when = plan.menus["main"].options["1"][0]
    assert isinstance(when, When)
    assert when.branches[0].condition == Condition(caller_prefix=("138",))


def test_caller_prefix_that_is_not_digits(tmp_path: Path) -> None:
    """A prefix with letters is not a number prefix."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                when:
                  - if: {caller_prefix: "05x1"}
                    then: hangup
        """) == ["plan.yaml:9: menus.main.options.\"1\".when[0].if.caller_prefix: '05x1' is not "
                 "a number prefix (quote it to keep a leading 0)"]


def test_unknown_calendar_state(tmp_path: Path) -> None:
    """A calendar condition accepts only open, after_hours and non_working_day."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                when:
                  - if: {calendar: lunch}
                    then: hangup
        """) == ["plan.yaml:9: menus.main.options.\"1\".when[0].if.calendar: unknown calendar "
                 "state 'lunch' (expected one of: open, after_hours, non_working_day)"]


def test_else_not_last_in_when(tmp_path: Path) -> None:
    """`else` must be the last branch of a `when`."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                when:
                  - else: hangup
                  - if: {calendar: open}
                    then: {queue: center}
        """) == ['plan.yaml:9: menus.main.options."1".when[0]: else must be the last branch']


def test_when_branch_without_then(tmp_path: Path) -> None:
    """A branch with `if` and no `then` is refused."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                when:
                  - if: {calendar: open}
              "2": hangup
        """) == ['plan.yaml:9: menus.main.options."1".when[0]: a branch needs both \'if\' and '
                 "'then' (or only 'else')"]


def test_transfer_number_invalid(tmp_path: Path) -> None:
    """A transfer number with a dash is not a phone number."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {transfer: 0551-12366}
        """) == ["plan.yaml:7: menus.main.options.\"1\".transfer: '0551-12366' is not a phone "
                 "number (3 to 20 digits)"]


def test_transfer_number_unquoted_with_leading_zero(tmp_path: Path) -> None:
    """An unquoted transfer number with a leading 0 would dial an octal misreading: refused."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                transfer:
                  number: 012366
                  prompt: hi
        """) == ['plan.yaml:9: menus.main.options."1".transfer.number: YAML reads 012366 as the '
                 'number 5366: write "012366" (in quotes) to keep it as written']


def test_queue_mapping_without_name(tmp_path: Path) -> None:
    """`queue: {...}` needs `name`."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {queue: {prefer_region: true}}
        """) == ["plan.yaml:7: menus.main.options.\"1\".queue: required key 'name' is missing"]


def test_empty_greeting_is_reported_beside_other_errors(tmp_path: Path) -> None:
    """An empty greeting is reported even when the file has another error before it."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            colour: red
            options:
              "1": {goto: other}
          other:
            greeting: []
            options:
              "1": hangup
        """) == [
        "plan.yaml:6: menus.main.colour: unknown key (expected one of: greeting, "
        "inter_digit_timeout, invalid, label, labels, max_attempts, no_input, "
        "on_exhausted, options, self_service, timeout)",
        "plan.yaml:10: menus.other.greeting: needs at least one prompt"]


def test_missing_menus(tmp_path: Path) -> None:
    """A dialplan without `menus` is refused at the top level (no key path to print)."""
    assert errors(tmp_path, """\
        dialplan: t
        prompts: {}
        """) == ["plan.yaml:1: required key 'menus' is missing",
                 "plan.yaml:1: entry.goto: unknown menu 'main'"]


def test_broken_yaml(tmp_path: Path) -> None:
    """An unclosed '{' is reported at the line that opens it, naming where the parser gave
    up."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main: {greeting: hi
          other: 1
        """) == ["plan.yaml:4: invalid YAML: the mapping opened with '{' here is not closed "
                 "with '}' (the parser gave up at line 5: expected ',' or '}', but got ':')"]


def test_duplicate_key(tmp_path: Path) -> None:
    """A key given twice (here "1" and 1, the same option) is named at its second line."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
              1: voicemail
        """) == ["plan.yaml:8: menus.main.options.\"1\": duplicate key '1'"]


def test_missing_file(tmp_path: Path) -> None:
    """A file that does not exist is one problem, not an exception."""
    plan, problems = load_dialplan(tmp_path / "nope.yaml", "nope.yaml")
    assert plan is None
    assert [str(p) for p in problems] == ["nope.yaml:1: file not found"]


# -- lints ------------------------------------------------------------------------------------


def test_unknown_menu_suggests_a_close_name(tmp_path: Path) -> None:
    """A goto to a misspelt menu is an error that suggests the menu meant."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {goto: consul}
              "2": hangup
          consult:
            greeting: hi
            options:
              "*": back
        """) == [
        "plan.yaml:7: menus.main.options.\"1\".goto: unknown menu 'consul' "
        "(did you mean 'consult'?)",
        "plan.yaml:9: menus.consult: warning: menu is unreachable from the entry"]


def test_unknown_menu_without_a_close_name(tmp_path: Path) -> None:
    """With nothing close, the unknown menu is reported without a suggestion."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {goto: xyz}
              "2": hangup
        """) == ["plan.yaml:7: menus.main.options.\"1\".goto: unknown menu 'xyz'"]


def test_unknown_entry_menu(tmp_path: Path) -> None:
    """The default entry goes to `main`: a plan without it says so."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          start:
            greeting: hi
            options:
              "1": hangup
        """) == ["plan.yaml:1: entry.goto: unknown menu 'main'",
                 "plan.yaml:4: menus.start: warning: menu is unreachable from the entry"]


def test_unknown_prompt(tmp_path: Path) -> None:
    """An unknown prompt is an error with a suggestion; the real one is then unused."""
    assert errors(tmp_path, """\
        prompts:
          hello: Hello
        menus:
          main:
            greeting: helo
            options:
              "1": hangup
        """) == [
        "plan.yaml:5: menus.main.greeting: unknown prompt 'helo' (did you mean 'hello'?)",
        "plan.yaml:2: prompts.hello: warning: prompt is never played"]


def test_unknown_queue_when_queues_are_given(tmp_path: Path) -> None:
    """With routing's queues given, a queue it does not know is an error listing them."""
    text = """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {queue: centre}
        """
    assert errors(tmp_path, text, ["center", "iit"]) == [
        "plan.yaml:7: menus.main.options.\"1\".queue: unknown queue 'centre' (routing knows: "
        "center, iit)"]


def test_queues_not_checked_when_not_given(tmp_path: Path) -> None:
    """Without a list of queues, any queue name is accepted."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {queue: centre}
        """)
    assert plan is not None
    assert problems == []


def test_unreachable_menu_is_a_warning(tmp_path: Path) -> None:
    """A menu no goto reaches is a warning: the plan is still usable."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
          orphan:
            greeting: hi
            options:
              "1": hangup
        """)
    assert plan is not None
    assert problems == ["plan.yaml:8: menus.orphan: warning: menu is unreachable from the entry"]


def test_loop_with_no_way_out(tmp_path: Path) -> None:
    """Two menus that only go to each other (even when exhausted) are an error for each."""
    loop = ("a loop with no way out: no queue, voicemail, transfer or hangup can be reached "
            "from this menu, so callers would go round forever")
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {goto: other}
            on_exhausted: {goto: other}
          other:
            greeting: hi
            options:
              "1": {goto: main}
            on_exhausted: {goto: main}
        """) == [f"plan.yaml:4: menus.main: {loop}", f"plan.yaml:9: menus.other: {loop}"]


def test_default_on_exhausted_is_a_way_out(tmp_path: Path) -> None:
    """Without on_exhausted a menu hangs up when exhausted, so a goto-only menu has a way out."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {goto: other}
          other:
            greeting: hi
            options:
              "1": {goto: main}
        """)
    assert plan is not None
    assert problems == []


def test_back_to_a_parent_with_a_way_out(tmp_path: Path) -> None:
    """A menu whose only exit is `back` to a menu with a way out is not a loop."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {goto: sub}
              "0": {queue: center}
          sub:
            greeting: hi
            options:
              "1": {play: hi}
              "*": back
            on_exhausted: back
        """)
    assert plan is not None
    assert problems == []


def test_option_shadowing_a_longer_one(tmp_path: Path) -> None:
    """Option '1' beside '12' is a warning saying how long callers wait after 1."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            inter_digit_timeout: 1.5
            options:
              "1": hangup
              "12": voicemail
        """)
    assert plan is not None
    assert problems == [
        "plan.yaml:8: menus.main.options.\"1\": warning: option '1' shadows '12': callers "
        "who press 1 wait 1.5 s for another key"]


def test_prompt_with_neither_text_nor_file(tmp_path: Path) -> None:
    """A prompt with no text and no file has nothing to play: an error."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
          silent: {}
        menus:
          main:
            greeting: [hi, silent]
            options:
              "1": hangup
        """) == ["plan.yaml:3: prompts.silent: a prompt needs text or a recorded file (or both)"]


def test_prompt_with_only_a_file_is_fine(tmp_path: Path) -> None:
    """A prompt with a recording and no text is valid."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: {file: sounds/hi.wav}
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
        """)
    assert problems == []
    assert plan is not None
    assert plan.prompts["hi"].file == Path("sounds/hi.wav")
    assert plan.prompts["hi"].text is None


def test_unused_prompt_is_a_warning(tmp_path: Path) -> None:
    """A prompt never played is a warning; the plan stays usable."""
    plan, problems = check(tmp_path, """\
        prompts:
          hi: Hello
          spare: Never heard
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
        """)
    assert plan is not None
    assert problems == ["plan.yaml:3: prompts.spare: warning: prompt is never played"]


def test_warnings_keep_the_plan_errors_drop_it(tmp_path: Path) -> None:
    """Warnings alone leave the plan usable; one error among them makes it None."""
    text = """\
        prompts:
          hi: Hello
          spare: Never heard
        menus:
          main:
            greeting: hi
            options:
              "1": hangup
              "12": {queue: %s}
        """
    plan, problems = check(tmp_path, text % "center", ["center"])
    assert plan is not None
    assert len(problems) == 2
    assert all(": warning: " in p for p in problems)
    plan, problems = check(tmp_path, text % "nowhere", ["center"])
    assert plan is None
    assert len(problems) == 3


# -- the shipped dialplan -----------------------------------------------------------------------


def test_shipped_12366_has_no_problems() -> None:
    """dialplans/12366.yaml, checked with routing.yaml's queues, has no errors or warnings."""
    plan, problems = load_dialplan(REPO / "dialplans" / "12366.yaml", "dialplans/12366.yaml",
                                   routing_queues())
    assert [str(p) for p in problems] == []
    assert plan is not None
    assert plan.name == "12366"
    assert set(plan.menus) == {"main", "consult", "self_service", "faq", "closed"}


def test_shipped_12366_fails_with_an_unknown_queue() -> None:
    """Without `iit` in routing, the shipped plan is rejected at the consult option 1 and
    at the faq's knowledge-base menu of individual income tax."""
    queues = [q for q in routing_queues() if q != "iit"]
    plan, problems = load_dialplan(REPO / "dialplans" / "12366.yaml", "dialplans/12366.yaml",
                                   queues)
    assert plan is None
    assert [str(p) for p in problems] == [
        "dialplans/12366.yaml:93: menus.consult.options.\"1\"[2].queue: unknown queue 'iit' "
        f"(routing knows: {', '.join(sorted(queues))})",
        "dialplans/12366.yaml:140: menus.faq.options.\"4\".kb_menu.queue: unknown queue 'iit' "
        f"(routing knows: {', '.join(sorted(queues))})"]


def test_hangup_prompt_and_voicemail_box_are_named_at_their_keys(tmp_path: Path) -> None:
    """Problems in `hangup: {prompt: ...}` and `voicemail: {box: ...}` name the inner key."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1":
                hangup:
                  prompt: byebye
              "2":
                voicemail:
                  box: 0551
        """) == [
        'plan.yaml:12: menus.main.options."2".voicemail.box: YAML reads 0551 as the number '
        '361: write "0551" (in quotes) to keep it as written',
        'plan.yaml:9: menus.main.options."1".hangup.prompt: unknown prompt \'byebye\'']


def test_unanswered_cases_are_checked(tmp_path: Path) -> None:
    """Only routing's on_no_answer cases, and steps that end the call."""
    found = errors(tmp_path, """\
        dialplan: test
        prompts: {hi: Hello}
        menus:
          main:
            greeting: hi
            options: {"1": {queue: center}}
        unanswered:
          voicemail: {goto: main}
          later: hangup
          callback: {hangup: missing}
        """)
    assert found == [
        "plan.yaml:8: unanswered.voicemail: 'goto' cannot follow an unanswered queue: end "
        "the call (voicemail, hangup)",
        "plan.yaml:9: unanswered.later: unknown case 'later' (expected one of: voicemail, "
        "callback, hangup, as in routing.yaml's on_no_answer)",
        "plan.yaml:10: unanswered.callback.hangup: unknown prompt 'missing'",
    ]


def test_labels_of_menus_options_and_inputs(tmp_path: Path) -> None:
    """A menu's `label`, its options' `labels` and a collect step's `label` are what staff
    read (the seat's screen pop): a label for a key that is no option, or one over 40
    characters, is named with its line; the shipped 12366 plan labels its menus, topics
    and the taxpayer ID."""
    assert errors(tmp_path, """\
        prompts:
          hi: Hello
        menus:
          main:
            label: 主菜单
            labels: {"1": 个税, "7": 没有这个}
            greeting: hi
            options:
              "1": [{set: {topic: iit}}, hangup]
              "2": [{collect: {into: tid, prompt: hi, label: "%s"}}, hangup]
        """ % ("长" * 41)) == [
        "plan.yaml:10: menus.main.options.\"2\"[0].collect.label: a label is 1 to 40 "
        "characters",
        "plan.yaml:6: menus.main.labels.\"7\": '7' is not an option of this menu"]
    plan, _ = load_dialplan(REPO / "dialplans" / "12366.yaml")
    assert plan is not None
    assert [plan.menu_label(m) for m in ("main", "consult", "nowhere")] == [
        "主菜单", "税务咨询", "nowhere"]
    assert (plan.topic_label("individual_income_tax"), plan.topic_label("x")) == (
        "个人所得税", None)
    assert plan.input_label("taxpayer_id") == "纳税人识别号"
