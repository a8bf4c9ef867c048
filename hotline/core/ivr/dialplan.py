"""YAML dialplans: the schema, compiled once into frozen objects, with `file:line` errors.

A dialplan file (dialplans/*.yaml):

    dialplan: "12366"              # its name
    language: zh-CN
    entry: {goto: main}            # what a new call does first (any action)
    prompts:
      welcome: {text: 您好，欢迎致电……}        # text (synthesised) and/or file (recorded)
    menus:
      main:
        greeting: {first: welcome, again: main_short}
        options:
          "1": {goto: consult}
          "0": {queue: center}
        timeout: 5                 # seconds to wait for a first key after the greeting
        inter_digit_timeout: 2     # seconds between the keys of a multi-key option
        max_attempts: 3
        invalid: invalid_key       # prompt after a key that means nothing here
        no_input: no_input         # prompt after a timeout
        on_exhausted: {queue: center}
        self_service: false        # true: answers by itself (hours, FAQ); see the ledger
        label: 主菜单              # what staff read for the menu (the seat's screen pop)
        labels: {"1": 税务咨询}     # what staff read for an option (a topic it sets)

An action is one step or a list of steps run in order. Steps:
`goto: MENU`, `back`, `repeat`, `play: PROMPT | [PROMPTS]`, `collect: {...}`,
`set: {category: ..., topic: ...}`, `queue: NAME`, `voicemail`, `transfer: NUMBER`,
`hangup` (or `hangup: PROMPT`), and `when: [{if: COND, then: ACTION}, ..., {else: ACTION}]`
with conditions `calendar: open | after_hours | non_working_day` (by the line's hours, or
with `queue: NAME` by that queue's own `queue_hours` in config/calendar.yaml) and
`caller_prefix: ["0551", ...]`. A list that ends without leaving the menu returns to it.

The knowledge base (published entries, hotline.core.ivr.kbline):
`kb_menu: {topic: invoice, max: 8, solved: "1", seat: "2", queue: center}` lists the
entries of a topic as keys 1..max, each question read; `kb: KB-00012` (or `kb: {entry:
KB-00012, ...}`) plays one entry. After an answer the caller presses `solved` ("this
solved my question": the call ends, with the prompt `thanks` if given) or `seat`
(`to_seat` played, then the `queue`); the prompt `feedback` (default kb_feedback) says
so. Another key, or none, returns to the menu.

When no seat answers a queue within its `max_wait`, config/routing.yaml's `on_no_answer`
of the queue says what follows (voicemail, callback or hangup) and the dialplan says how
it sounds:

    unanswered:
      voicemail: [{play: no_seat_message}, {voicemail: {...}}]
      callback: {hangup: callback_promise}   # hotline has registered a callback order
      hangup: {hangup: goodbye}

A missing entry hangs up. These actions end the call: they never return to a menu.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

# Problem (`file:line: key.path: message`) and DialplanInvalid are the shared ones, kept
# importable from here.
from hotline.common import labels
from hotline.common.errors import DialplanInvalid as DialplanInvalid
from hotline.common.phone import is_phone_number
from hotline.common.validate import Checker, syntax_problems
from hotline.common.yamlsrc import PathKey, Sourced, YamlSyntaxError, load_file
from hotline.common.yamlsrc import Problem as Problem
from hotline.core.kb import ENTRY_ID as KB_ENTRY_ID

CATEGORIES = tuple(labels.CATEGORIES)  # the codes a dialplan may set
CALENDAR_STATES = ("open", "after_hours", "non_working_day")
OPTION_KEY = re.compile(r"^[0-9*#]{1,8}$")
MENU_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# A prompt's name is the name of its audio file and a word of an AGI command: no path
# separator, space or quote.
PROMPT_NAME = MENU_NAME
# Far above any real dialplan (12366.yaml has 5 menus of at most 8 options and 32
# prompts): they bound the time a reload spends compiling and linting a file, whatever
# a file of at most 1 MiB holds.
MAX_MENUS = 200
MAX_OPTIONS = 100  # per menu
MAX_PROMPTS = 1000
MAX_STEPS = 50  # in one action list, or branches of one `when`
MAX_PROMPT_TEXT = 2000  # characters: espeak-ng speaks them when the prompt is built
MAX_FILE_PATH = 1024
MAX_KB_KEYS = 9  # a generated knowledge-base menu: keys 1 to 9


# -- the compiled form -------------------------------------------------------------------


@dataclass(frozen=True)
class Goto:
    menu: str


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class Repeat:
    pass


@dataclass(frozen=True)
class Play:
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class Collect:
    into: str
    prompt: str
    min_length: int = 1
    max_length: int = 32
    pattern: str | None = None
    terminator: str = "#"
    timeout: float = 8.0
    inter_digit_timeout: float = 4.0
    attempts: int = 3
    invalid: str | None = None
    on_fail: tuple[Step, ...] = ()
    label: str | None = None  # what staff read for the value (纳税人识别号)


@dataclass(frozen=True)
class SetCall:
    category: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class ToQueue:
    queue: str
    prefer_region: bool = False


@dataclass(frozen=True)
class ToVoicemail:
    box: str = "12366"
    max_seconds: float = 120.0
    silence_seconds: float = 5.0
    review: str | None = None  # prompt offering: listen (1), record again (2), save (#)
    saved: str | None = None  # prompt after saving
    failed: str | None = None  # prompt when the recording could not be made


@dataclass(frozen=True)
class Transfer:
    number: str
    prompt: str | None = None


@dataclass(frozen=True)
class HangUp:
    prompt: str | None = None


@dataclass(frozen=True)
class Condition:
    calendar: tuple[str, ...] = ()
    caller_prefix: tuple[str, ...] = ()
    queue: str | None = None  # `calendar` by this queue's hours (queue_hours)


@dataclass(frozen=True)
class Branch:
    condition: Condition | None  # None: the `else` branch
    then: tuple[Step, ...]


@dataclass(frozen=True)
class When:
    branches: tuple[Branch, ...]


@dataclass(frozen=True)
class KbFeedback:
    """After a knowledge-base answer: the key for "this solved my question" (the call
    then ends with `thanks`), the key for "transfer me to a seat" (`queue`), and the
    prompt that says so (`prompt`). Any other key, or none, returns to the menu."""

    solved: str = "1"
    seat: str = "2"
    queue: str = "center"
    prompt: str = "kb_feedback"
    thanks: str | None = None
    to_seat: str | None = None  # played before the queue
    line: int = field(default=0, compare=False)  # where it is written (hotline check)


@dataclass(frozen=True)
class KbMenu:
    """A menu generated from the published entries of `topic`: keys 1..max read each
    entry's question; a key plays that entry's spoken answer, then `feedback`."""

    topic: str
    max: int
    feedback: KbFeedback
    greeting: tuple[str, ...] = ()  # played before the questions
    empty: str | None = None  # played when the topic offers no entry (back to the menu)


@dataclass(frozen=True)
class KbPlay:
    """Play one entry's spoken answer, then `feedback`."""

    entry_id: str
    feedback: KbFeedback
    missing: str | None = None  # played when the entry is not offered (back to the menu)


Step = Goto | Back | Repeat | Play | Collect | SetCall | ToQueue | ToVoicemail | Transfer \
    | HangUp | When | KbMenu | KbPlay
UNANSWERED_MODES = ("voicemail", "callback", "hangup")
TERMINAL = (ToQueue, ToVoicemail, Transfer, HangUp)
# A knowledge-base step may end the call (solved, seat) or come back to its menu.
LEAVES_MENU = (Goto, Back, Repeat, KbMenu, KbPlay, *TERMINAL)


@dataclass(frozen=True)
class PromptDef:
    name: str
    text: str | None
    file: Path | None


@dataclass(frozen=True)
class Menu:
    name: str
    greeting_first: tuple[str, ...]
    greeting_again: tuple[str, ...]
    options: Mapping[str, tuple[Step, ...]]
    timeout: float = 5.0
    inter_digit_timeout: float = 2.0
    max_attempts: int = 3
    invalid: str | None = None
    no_input: str | None = None
    on_exhausted: tuple[Step, ...] = (HangUp(),)
    # Self-service answers (自助服务): a call that walked such a menu and ended in the
    # IVR is recorded as served by self-service, not as ended in the menu.
    self_service: bool = False
    label: str | None = None  # what staff read for the menu (税务咨询): the seat's pop
    option_labels: Mapping[str, str] = field(default_factory=dict)  # key -> 个人所得税


@dataclass(frozen=True)
class Dialplan:
    name: str
    language: str
    entry: tuple[Step, ...]
    prompts: Mapping[str, PromptDef]
    menus: Mapping[str, Menu]
    source: str = ""
    version: str = ""
    # What a caller hears when no seat answered within the queue's max_wait, by the
    # queue's `on_no_answer` of config/routing.yaml: voicemail | callback | hangup.
    unanswered: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)

    def menu_label(self, menu: str) -> str:
        """What staff read for a menu of the IVR path: its `label`, else its id."""
        found = self.menus.get(menu)
        return found.label if found is not None and found.label else menu

    def topic_label(self, topic: str) -> str | None:
        """The label of the option that sets `topic` (`labels:` of its menu), or None."""
        for menu in self.menus.values():
            for key, steps in menu.options.items():
                if key in menu.option_labels and any(
                        isinstance(s, SetCall) and s.topic == topic for s in steps):
                    return menu.option_labels[key]
        return None

    def input_label(self, name: str) -> str | None:
        """The `label` of a `collect` step that fills variable `name`, or None."""
        for menu in self.menus.values():
            for steps in menu.options.values():
                for step in steps:
                    if isinstance(step, Collect) and step.into == name and step.label:
                        return step.label
        return None


# -- problems -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reference:
    kind: str  # "menu", "prompt" or "queue"
    name: str
    path: PathKey


class _Compiler(Checker):
    def __init__(self, source: Sourced) -> None:
        super().__init__(source)
        self.refs: list[Reference] = []

    def ref(self, kind: str, name: str | None, path: PathKey) -> str | None:
        if name is not None:
            self.refs.append(Reference(kind, name, path))
        return name

    def seconds(self, value: Any, path: PathKey, low: float, high: float) -> float | None:
        return self.number(value, path, low, high, unit="seconds")

    def prompt_list(self, value: Any, path: PathKey) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        if len(items) > MAX_STEPS:
            self.error(path, f"at most {MAX_STEPS} prompts in a row, not {len(items)}")
            return ()
        before = len(self.problems)
        out = []
        for i, item in enumerate(items):
            sub = (*path, i) if isinstance(value, list) else path
            name = self.ref("prompt", self.text(item, sub, "a prompt name"), sub)
            if name is not None:
                out.append(name)
        if not out and len(self.problems) == before:
            self.error(path, "needs at least one prompt")
        return tuple(out)

    # -- the document -----------------------------------------------------------------

    def dialplan(self) -> Dialplan | None:
        data = self.mapping(self.source.data, (), "a dialplan")
        if data is None:
            return None
        # `x-...` keys hold shared pieces for YAML anchors (&name / *name): not read.
        self.unknown_keys({k: v for k, v in data.items() if not str(k).startswith("x-")},
                          ("dialplan", "language", "entry", "prompts", "menus", "unanswered"),
                          ())
        name = self.text(data.get("dialplan", Path(self.source.filename).stem),
                         ("dialplan",), "the dialplan name") or "?"
        language = self.text(data.get("language", "zh-CN"), ("language",)) or "zh-CN"
        prompts = self.prompts(data.get("prompts", {}), ("prompts",))
        menus_raw = data.get("menus")
        if menus_raw is None:
            self.error(("menus",) if "menus" in data else (), "required key 'menus' is missing"
                       if "menus" not in data else "menus is empty: a dialplan needs a menu")
            menus_raw = {}
        menus: dict[str, Menu] = {}
        raw = self.at_most(self.mapping(menus_raw, ("menus",), "menus"), MAX_MENUS,
                           ("menus",), "menus")
        for menu_name, menu_data in (raw or {}).items():
            path = ("menus", menu_name)
            if not MENU_NAME.match(menu_name):
                self.error(path, "a menu name is a letter then letters, digits, _ or -")
            menu = self.menu(menu_name, menu_data, path)
            if menu is not None:
                menus[menu_name] = menu
        default_entry = {"goto": "main"}
        entry = self.action(data.get("entry", default_entry), ("entry",))
        unanswered: dict[str, tuple[Step, ...]] = {}
        raw_unanswered = self.mapping(data.get("unanswered", {}), ("unanswered",),
                                      "unanswered")
        for mode, action in (raw_unanswered or {}).items():
            if mode not in UNANSWERED_MODES:
                self.error(("unanswered", mode), f"unknown case '{mode}' (expected one of: "
                           f"{', '.join(UNANSWERED_MODES)}, as in routing.yaml's on_no_answer)")
                continue
            steps = self.action(action, ("unanswered", mode))
            for step in steps:
                if isinstance(step, (Goto, Back, Repeat, ToQueue)):
                    self.error(("unanswered", mode), f"'{_step_name(step)}' cannot follow "
                               "an unanswered queue: end the call (voicemail, hangup)")
            unanswered[str(mode)] = steps
        return Dialplan(name, language, entry, prompts, menus, self.source.filename,
                        unanswered=unanswered)

    def prompts(self, value: Any, path: PathKey) -> dict[str, PromptDef]:
        out: dict[str, PromptDef] = {}
        data = self.at_most(self.mapping(value, path, "prompts"), MAX_PROMPTS, path,
                            "prompts")
        for name, spec in (data or {}).items():
            sub = (*path, name)
            if not PROMPT_NAME.match(name):
                self.error(sub, "a prompt name is a letter then letters, digits, _ or - "
                           "(at most 64): it names the prompt's audio file")
                continue
            if isinstance(spec, str):
                spec = {"text": spec}
            body = self.mapping(spec, sub, "a prompt")
            if body is None:
                continue
            self.unknown_keys(body, ("text", "file"), sub)
            text = self.text(body["text"], (*sub, "text")) if "text" in body else None
            if text is not None and len(text) > MAX_PROMPT_TEXT:
                self.error((*sub, "text"), f"a prompt's text is at most {MAX_PROMPT_TEXT} "
                           f"characters, not {len(text)}")
                text = None
            file = self.file_path(body["file"], (*sub, "file")) if "file" in body else None
            out[name] = PromptDef(name, text, Path(file) if file else None)
        return out

    def file_path(self, value: Any, path: PathKey) -> str | None:
        """The path of a recording: text that names a file (no NUL or other control
        character, which no file name on disk holds and which sox and Asterisk would cut
        or refuse), of reasonable length."""
        text = self.text(value, path, "a file path")
        if text is None:
            return None
        if not text.strip():
            self.error(path, "the file path is empty")
            return None
        bad = next((c for c in text if ord(c) < 0x20 or ord(c) == 0x7F), None)
        if bad is not None:
            self.error(path, f"a file path cannot hold the control character "
                       f"U+{ord(bad):04X}")
            return None
        if len(text) > MAX_FILE_PATH:
            self.error(path, f"a file path is at most {MAX_FILE_PATH} characters, not "
                       f"{len(text)}")
            return None
        return text

    def at_most(self, data: dict[str, Any] | None, limit: int, path: PathKey, what: str,
                ) -> dict[str, Any] | None:
        """`data`, unless it has more than `limit` entries: then an error, and nothing
        of it is compiled (the time a file takes to check stays bounded)."""
        if data is not None and len(data) > limit:
            self.error(path, f"at most {limit} {what}, not {len(data)}")
            return None
        return data

    def menu(self, name: str, value: Any, path: PathKey) -> Menu | None:
        data = self.mapping(value, path, "a menu")
        if data is None:
            return None
        self.unknown_keys(data, ("greeting", "options", "timeout", "inter_digit_timeout",
                                 "max_attempts", "invalid", "no_input", "on_exhausted",
                                 "self_service", "label", "labels"), path)
        greeting = data.get("greeting")
        first: tuple[str, ...] = ()
        again: tuple[str, ...] = ()
        if greeting is None:
            self.error(path, "required key 'greeting' is missing")
        elif isinstance(greeting, dict):
            self.unknown_keys(greeting, ("first", "again"), (*path, "greeting"))
            if "first" not in greeting:
                self.error((*path, "greeting"), "required key 'first' is missing")
            else:
                first = self.prompt_list(greeting["first"], (*path, "greeting", "first"))
            again = (self.prompt_list(greeting["again"], (*path, "greeting", "again"))
                     if "again" in greeting else first)
        else:
            first = again = self.prompt_list(greeting, (*path, "greeting"))
        options: dict[str, tuple[Step, ...]] = {}
        raw_options = self.mapping(data.get("options", {}), (*path, "options"), "options")
        too_many = raw_options is not None and len(raw_options) > MAX_OPTIONS
        if too_many:
            self.error((*path, "options"), f"at most {MAX_OPTIONS} options in a menu, not "
                       f"{len(raw_options or {})}")
            raw_options = None  # not compiled: the error is enough
        for key, action in (raw_options or {}).items():
            sub = (*path, "options", key)
            if not OPTION_KEY.match(key):
                self.error(sub, "an option is 1 to 8 keys of 0-9, * and #")
                continue
            options[key] = self.action(action, sub)
        if not options and not too_many:
            self.error((*path, "options"), "a menu needs at least one option")
        timeout = self.seconds(data.get("timeout", 5), (*path, "timeout"), 1, 60)
        inter = self.seconds(data.get("inter_digit_timeout", 2),
                            (*path, "inter_digit_timeout"), 0.5, 30)
        attempts = self.integer(data.get("max_attempts", 3), (*path, "max_attempts"), 1, 10)
        invalid = (self.ref("prompt", self.text(data["invalid"], (*path, "invalid"),
                                                "a prompt name"), (*path, "invalid"))
                   if "invalid" in data else None)
        no_input = (self.ref("prompt", self.text(data["no_input"], (*path, "no_input"),
                                                 "a prompt name"), (*path, "no_input"))
                    if "no_input" in data else None)
        exhausted = (self.action(data["on_exhausted"], (*path, "on_exhausted"))
                     if "on_exhausted" in data else (HangUp(),))
        self_service = self.boolean(data.get("self_service", False), (*path, "self_service"))
        label = self.label(data["label"], (*path, "label")) if "label" in data else None
        option_labels: dict[str, str] = {}
        raw_labels = self.mapping(data.get("labels", {}), (*path, "labels"), "labels")
        for key, text in (raw_labels or {}).items():
            if key not in options:
                self.error((*path, "labels", key), f"'{key}' is not an option of this menu")
                continue
            shown = self.label(text, (*path, "labels", key))
            if shown is not None:
                option_labels[key] = shown
        return Menu(name, first, again, options, timeout or 5.0, inter or 2.0, attempts or 3,
                    invalid, no_input, exhausted, self_service, label, option_labels)

    def label(self, value: Any, path: PathKey) -> str | None:
        """What staff read (a menu's, an option's, an input's): one line, 1 to 40
        characters."""
        text = self.text(value, path, "a label")
        if text is not None and not 1 <= len(text.strip()) <= 40:
            self.error(path, "a label is 1 to 40 characters")
            return None
        return text.strip() if text is not None else None

    # -- actions ----------------------------------------------------------------------

    def action(self, value: Any, path: PathKey) -> tuple[Step, ...]:
        if isinstance(value, list):
            if not value:
                self.error(path, "an action list needs at least one step")
            if len(value) > MAX_STEPS:
                self.error(path, f"an action list has at most {MAX_STEPS} steps, not "
                           f"{len(value)}")
                return ()
            steps = [self.step(item, (*path, i)) for i, item in enumerate(value)]
        else:
            steps = [self.step(value, path)]
        out = tuple(s for s in steps if s is not None)
        for i, step in enumerate(out[:-1]):
            if isinstance(step, LEAVES_MENU):
                sub = (*path, i) if isinstance(value, list) else path
                self.error(sub, f"'{_step_name(step)}' leaves the menu: the steps after it "
                           "would never run")
        return out

    def step(self, value: Any, path: PathKey) -> Step | None:
        if isinstance(value, str):
            shorthand: dict[str, Step] = {"back": Back(), "repeat": Repeat(),
                                          "hangup": HangUp(), "voicemail": ToVoicemail()}
            if value in shorthand:
                return shorthand[value]
            self.error(path, f"unknown action '{value}' (expected a mapping such as "
                       "{goto: MENU}, or one of: back, repeat, hangup, voicemail)")
            return None
        data = self.mapping(value, path, "an action")
        if data is None:
            return None
        if len(data) != 1:
            self.error(path, f"an action has exactly one key, found {len(data)}: "
                       f"{', '.join(sorted(data))} (use a list for several steps)")
            return None
        kind, arg = next(iter(data.items()))
        sub = (*path, kind)
        handler = getattr(self, f"_step_{kind}", None)
        if handler is None:
            self.error(sub, "unknown action (expected one of: back, collect, goto, hangup, "
                       "kb, kb_menu, play, queue, repeat, set, transfer, voicemail, when)")
            return None
        result: Step | None = handler(arg, sub)
        return result

    def _step_goto(self, arg: Any, path: PathKey) -> Step | None:
        name = self.ref("menu", self.text(arg, path, "a menu name"), path)
        return Goto(name) if name else None

    def _step_back(self, arg: Any, path: PathKey) -> Step | None:
        return Back()

    def _step_repeat(self, arg: Any, path: PathKey) -> Step | None:
        return Repeat()

    def _step_play(self, arg: Any, path: PathKey) -> Step | None:
        prompts = self.prompt_list(arg, path)
        return Play(prompts) if prompts else None

    def _step_hangup(self, arg: Any, path: PathKey) -> Step | None:
        if arg is None or arg is True:
            return HangUp()
        if isinstance(arg, dict):
            self.unknown_keys(arg, ("prompt",), path)
            arg = arg.get("prompt")
            path = (*path, "prompt")
        prompt = self.ref("prompt", self.text(arg, path, "a prompt name"), path)
        return HangUp(prompt)

    def _step_voicemail(self, arg: Any, path: PathKey) -> Step | None:
        if arg is None or arg is True:
            return ToVoicemail()
        if not isinstance(arg, dict):
            box = self.text(arg, path, "a voicemail box")
            return ToVoicemail(box) if box else None
        self.unknown_keys(arg, ("box", "max_seconds", "silence_seconds", "review", "saved",
                                "failed"), path)
        box = self.text(arg.get("box", "12366"), (*path, "box"), "a voicemail box") or "12366"
        longest = self.seconds(arg.get("max_seconds", 120), (*path, "max_seconds"), 5, 600)
        silence = self.seconds(arg.get("silence_seconds", 5), (*path, "silence_seconds"), 1, 60)
        prompts: dict[str, str | None] = {}
        for key in ("review", "saved", "failed"):
            prompts[key] = (self.ref("prompt", self.text(arg[key], (*path, key),
                                                         "a prompt name"), (*path, key))
                            if key in arg else None)
        return ToVoicemail(box, longest or 120.0, silence or 5.0, prompts["review"],
                           prompts["saved"], prompts["failed"])

    def _step_queue(self, arg: Any, path: PathKey) -> Step | None:
        if isinstance(arg, dict):
            self.unknown_keys(arg, ("name", "prefer_region"), path)
            if "name" not in arg:
                self.error(path, "required key 'name' is missing")
                return None
            name = self.ref("queue", self.text(arg["name"], (*path, "name"), "a queue name"),
                            (*path, "name"))
            prefer = self.boolean(arg.get("prefer_region", False), (*path, "prefer_region"))
            return ToQueue(name, prefer) if name else None
        name = self.ref("queue", self.text(arg, path, "a queue name"), path)
        return ToQueue(name) if name else None

    def _step_transfer(self, arg: Any, path: PathKey) -> Step | None:
        prompt = None
        if isinstance(arg, dict):
            self.unknown_keys(arg, ("number", "prompt"), path)
            prompt = (self.ref("prompt", self.text(arg["prompt"], (*path, "prompt")),
                               (*path, "prompt")) if "prompt" in arg else None)
            if "number" not in arg:
                self.error(path, "required key 'number' is missing")
                return None
            arg = arg["number"]
            path = (*path, "number")
        number = self.text(arg, path, "a phone number")
        if number is None:
            return None
        if not is_phone_number(number):
            self.error(path, f"'{number}' is not a phone number (3 to 20 digits)")
            return None
        return Transfer(number, prompt)

    def _step_set(self, arg: Any, path: PathKey) -> Step | None:
        data = self.mapping(arg, path, "set")
        if data is None:
            return None
        self.unknown_keys(data, ("category", "topic"), path)
        category = None
        if "category" in data:
            category = self.text(data["category"], (*path, "category"))
            if category is not None and category not in CATEGORIES:
                self.error((*path, "category"), f"unknown category '{category}' (expected "
                           f"one of: {', '.join(CATEGORIES)})")
                category = None
        topic = self.text(data["topic"], (*path, "topic")) if "topic" in data else None
        return SetCall(category, topic)

    def _step_collect(self, arg: Any, path: PathKey) -> Step | None:
        data = self.mapping(arg, path, "collect")
        if data is None:
            return None
        allowed = ("into", "prompt", "min_length", "max_length", "pattern", "terminator",
                   "timeout", "inter_digit_timeout", "attempts", "invalid", "on_fail",
                   "label")
        self.unknown_keys(data, allowed, path)
        for required in ("into", "prompt"):
            if required not in data:
                self.error(path, f"required key '{required}' is missing")
        if "into" not in data or "prompt" not in data:
            return None
        into = self.text(data["into"], (*path, "into"), "a variable name")
        if into is not None and not re.match(r"^[a-z][a-z0-9_]{0,31}$", into):
            self.error((*path, "into"), "a variable name is lower-case letters, digits, _")
        prompt = self.ref("prompt", self.text(data["prompt"], (*path, "prompt"),
                                              "a prompt name"), (*path, "prompt"))
        low = self.integer(data.get("min_length", 1), (*path, "min_length"), 1, 64) or 1
        high = self.integer(data.get("max_length", 32), (*path, "max_length"), 1, 64) or 32
        if low > high:
            self.error((*path, "min_length"), f"min_length {low} is above max_length {high}")
        pattern = None
        if "pattern" in data:
            pattern = self.text(data["pattern"], (*path, "pattern"))
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    self.error((*path, "pattern"), f"invalid regular expression: {exc}")
                    pattern = None
                else:
                    slow = _backtracks(pattern)
                    if slow:
                        self.error((*path, "pattern"), f"{slow}: matching the caller's keys "
                                   "could take minutes (a pattern such as ^[0-9]{15,20}$ "
                                   "checks the same)")
                        pattern = None
        terminator = self.text(data.get("terminator", "#"), (*path, "terminator")) or "#"
        if terminator not in ("#", "*"):
            self.error((*path, "terminator"), "the terminator is # or *")
        timeout = self.seconds(data.get("timeout", 8), (*path, "timeout"), 1, 60) or 8.0
        inter = self.seconds(data.get("inter_digit_timeout", 4),
                            (*path, "inter_digit_timeout"), 0.5, 30) or 4.0
        attempts = self.integer(data.get("attempts", 3), (*path, "attempts"), 1, 10) or 3
        invalid = (self.ref("prompt", self.text(data["invalid"], (*path, "invalid"),
                                                "a prompt name"), (*path, "invalid"))
                   if "invalid" in data else None)
        on_fail = (self.action(data["on_fail"], (*path, "on_fail"))
                   if "on_fail" in data else (Repeat(),))
        label = self.label(data["label"], (*path, "label")) if "label" in data else None
        if into is None or prompt is None:
            return None
        return Collect(into, prompt, low, high, pattern, terminator, timeout, inter, attempts,
                       invalid, on_fail, label)

    def kb_feedback(self, data: dict[str, Any], path: PathKey) -> KbFeedback | None:
        keys = {}
        for name, default in (("solved", "1"), ("seat", "2")):
            value = data.get(name, default)
            text = str(value) if isinstance(value, int) and not isinstance(value, bool) \
                else value
            key = self.text(text, (*path, name), "a key")
            if key is not None and (len(key) != 1 or key not in "0123456789*#"):
                self.error((*path, name), f"'{key}' is not one key (0-9, * or #)")
                key = None
            if key is None:
                return None
            keys[name] = key
        if keys["solved"] == keys["seat"]:
            self.error((*path, "seat"), f"seat and solved are both '{keys['seat']}': the "
                       "caller could not say which")
            return None
        queue = self.ref("queue", self.text(data.get("queue", "center"), (*path, "queue"),
                                            "a queue name"), (*path, "queue"))
        prompts: dict[str, str | None] = {}
        defaults: tuple[tuple[str, str | None], ...] = (
            ("feedback", "kb_feedback"), ("thanks", None), ("to_seat", None))
        for which, fallback in defaults:
            value = data.get(which, fallback)
            prompts[which] = (self.ref("prompt", self.text(value, (*path, which),
                                                           "a prompt name"), (*path, which))
                              if value is not None else None)
        if queue is None or prompts["feedback"] is None:
            return None
        return KbFeedback(keys["solved"], keys["seat"], queue, prompts["feedback"],
                          prompts["thanks"], prompts["to_seat"],
                          line=self.source.line_of(path))

    def _step_kb_menu(self, arg: Any, path: PathKey) -> Step | None:
        if isinstance(arg, str):
            arg = {"topic": arg}
        data = self.mapping(arg, path, "kb_menu")
        if data is None:
            return None
        self.unknown_keys(data, ("topic", "max", "solved", "seat", "queue", "feedback",
                                 "thanks", "to_seat", "greeting", "empty"), path)
        if "topic" not in data:
            self.error(path, "required key 'topic' is missing (the dialplan topic whose "
                       "entries are listed, e.g. invoice)")
            return None
        topic = self.text(data["topic"], (*path, "topic"), "a topic")
        most = self.integer(data.get("max", 8), (*path, "max"), 1, MAX_KB_KEYS)
        feedback = self.kb_feedback(data, path)
        greeting = (self.prompt_list(data["greeting"], (*path, "greeting"))
                    if "greeting" in data else ())
        empty = (self.ref("prompt", self.text(data["empty"], (*path, "empty"),
                                              "a prompt name"), (*path, "empty"))
                 if "empty" in data else None)
        if topic is None or most is None or feedback is None:
            return None
        return KbMenu(topic, most, feedback, greeting, empty)

    def _step_kb(self, arg: Any, path: PathKey) -> Step | None:
        if not isinstance(arg, dict):
            arg = {"entry": arg}
        data = self.mapping(arg, path, "kb")
        if data is None:
            return None
        self.unknown_keys(data, ("entry", "solved", "seat", "queue", "feedback", "thanks",
                                 "to_seat", "missing"), path)
        if "entry" not in data:
            self.error(path, "required key 'entry' is missing (an entry id, e.g. KB-00012)")
            return None
        sub = (*path, "entry") if isinstance(arg, dict) and path[-1:] != ("entry",) else path
        text = self.text(data["entry"], sub, "an entry id")
        entry = text.strip().upper() if text is not None else None
        if entry is not None and not KB_ENTRY_ID.fullmatch(entry):
            self.error(sub, f"'{text}' is not an entry id (KB- and 5 to 9 digits, e.g. "
                       "KB-00012)")
            entry = None
        feedback = self.kb_feedback(data, path)
        missing = (self.ref("prompt", self.text(data["missing"], (*path, "missing"),
                                                "a prompt name"), (*path, "missing"))
                   if "missing" in data else None)
        if entry is None or feedback is None:
            return None
        return KbPlay(entry, feedback, missing)

    def _step_when(self, arg: Any, path: PathKey) -> Step | None:
        if not isinstance(arg, list) or not arg:
            self.error(path, "when is a list of {if: CONDITION, then: ACTION} and an "
                       "optional final {else: ACTION}")
            return None
        if len(arg) > MAX_STEPS:
            self.error(path, f"when has at most {MAX_STEPS} branches, not {len(arg)}")
            return None
        branches = []
        for i, item in enumerate(arg):
            sub = (*path, i)
            data = self.mapping(item, sub, "a branch")
            if data is None:
                continue
            if "else" in data:
                self.unknown_keys(data, ("else",), sub)
                if i != len(arg) - 1:
                    self.error(sub, "else must be the last branch")
                branches.append(Branch(None, self.action(data["else"], (*sub, "else"))))
                continue
            self.unknown_keys(data, ("if", "then"), sub)
            if "if" not in data or "then" not in data:
                self.error(sub, "a branch needs both 'if' and 'then' (or only 'else')")
                continue
            condition = self.condition(data["if"], (*sub, "if"))
            then = self.action(data["then"], (*sub, "then"))
            if condition is not None:
                branches.append(Branch(condition, then))
        return When(tuple(branches))

    def condition(self, value: Any, path: PathKey) -> Condition | None:
        data = self.mapping(value, path, "a condition")
        if data is None:
            return None
        self.unknown_keys(data, ("calendar", "caller_prefix", "queue"), path)
        if not data:
            self.error(path, "a condition needs calendar and/or caller_prefix")
            return None
        queue = None
        if "queue" in data:
            queue = self.ref("queue", self.text(data["queue"], (*path, "queue"), "a queue name"),
                             (*path, "queue"))
            if "calendar" not in data:
                self.error((*path, "queue"), "queue only says whose hours 'calendar' is "
                           "checked against: add calendar: open (or another state)")
        calendar: list[str] = []
        if "calendar" in data:
            raw = data["calendar"] if isinstance(data["calendar"], list) else [data["calendar"]]
            for state in raw:
                if state not in CALENDAR_STATES:
                    self.error((*path, "calendar"), f"unknown calendar state '{state}' "
                               f"(expected one of: {', '.join(CALENDAR_STATES)})")
                else:
                    calendar.append(state)
        prefixes: list[str] = []
        if "caller_prefix" in data:
            raw = data["caller_prefix"]
            raw = raw if isinstance(raw, list) else [raw]
            for i, prefix in enumerate(raw):
                sub = ((*path, "caller_prefix", i) if isinstance(data["caller_prefix"], list)
                       else (*path, "caller_prefix"))
                if self.misread(prefix, sub):
                    continue
                text = str(prefix) if isinstance(prefix, (str, int)) else None
                if text is None or not is_phone_number(text, min_digits=1):
                    self.error(sub, f"'{prefix}' is not a number prefix "
                               "(quote it to keep a leading 0)")
                else:
                    prefixes.append(text)
        return Condition(tuple(calendar), tuple(prefixes), queue)


MAX_PATTERN = 200
MAX_VARIABLE_REPEATS = 3


def _backtracks(pattern: str) -> str | None:
    """Why matching `pattern` may take exponential time (a repeat inside a repeat, an
    alternative inside a repeat, a back-reference), or too long; None: it is safe. The
    engine matches the caller's keys on the event loop, where Python's re cannot be
    interrupted: a pattern is refused rather than risked."""
    import warnings

    if len(pattern) > MAX_PATTERN:
        return f"a pattern is at most {MAX_PATTERN} characters"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import sre_constants as c
        import sre_parse

    variable = 0

    def visit(items: Any, repeated: bool) -> str | None:
        nonlocal variable
        for op, arg in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT):
                low, high, body = arg
                if high != low:
                    variable += 1
                if repeated and high != low:  # a fixed count ({3}) is never ambiguous
                    return "a repeat inside a repeat"
                found = visit(body, repeated or high > 1)
            elif op is c.BRANCH:
                if repeated:
                    return "alternatives (|) inside a repeat"
                found = next((r for b in arg[1] if (r := visit(b, repeated))), None)
            elif op is c.SUBPATTERN:
                found = visit(arg[-1], repeated)
            elif op in (c.ASSERT, c.ASSERT_NOT):
                found = visit(arg[1], repeated)
            elif op in (c.GROUPREF, c.GROUPREF_EXISTS):
                found = "a back-reference"
            else:
                found = None
            if found:
                return found
        return None

    found = visit(sre_parse.parse(pattern), False)
    if found is None and variable > MAX_VARIABLE_REPEATS:
        found = f"more than {MAX_VARIABLE_REPEATS} repeats of varying length"
    return found


def _step_name(step: Step) -> str:
    return {Goto: "goto", Back: "back", Repeat: "repeat", ToQueue: "queue",
            ToVoicemail: "voicemail", Transfer: "transfer", HangUp: "hangup",
            KbMenu: "kb_menu", KbPlay: "kb"}.get(
                type(step), type(step).__name__.lower())


def compile_source(source: Sourced, queues: Iterable[str] | None = None,
                   ) -> tuple[Dialplan | None, list[Problem]]:
    """Compile a loaded YAML document; returns the dialplan (None if unusable) and every
    problem found (errors make the dialplan unusable; warnings do not). `queues`: the
    queue names routing knows (None: not checked)."""
    compiler = _Compiler(source)
    plan = compiler.dialplan()
    if plan is not None:
        from hotline.core.ivr.lint import lint

        compiler.problems.extend(lint(plan, source, compiler.refs, queues))
    errors = [p for p in compiler.problems if p.severity == "error"]
    return (None if errors else plan), compiler.problems


def load_dialplan(path: Path, display: str | None = None,
                  queues: Iterable[str] | None = None) -> tuple[Dialplan | None, list[Problem]]:
    """Load and compile one file. Never raises for a bad file: problems say what is wrong."""
    name = display or str(path)
    try:
        source = load_file(path, name)
    except FileNotFoundError:
        return None, [Problem(name, 1, (), "file not found")]
    except YamlSyntaxError as exc:
        return None, syntax_problems(exc)
    except OSError as exc:  # a folder, no permission...: refused like any bad file
        return None, [Problem(name, 1, (), f"cannot read the file: {exc.strerror or exc}")]
    plan, problems = compile_source(source, queues)
    if plan is not None:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        except OSError as exc:  # gone or changed since it was read: the next reload
            return None, [Problem(name, 1, (), f"cannot read the file: "
                                  f"{exc.strerror or exc}")]
        plan = replace(plan, source=name, version=digest)
    return plan, problems
