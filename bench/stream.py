"""A recorded-like AMI event stream of the 12366 call centre, generated deterministically.

What Asterisk 22 sends an AMI user with read = system,call,agent,user,dtmf,agi,reporting
and `timestampevents = yes` (config/asterisk/manager.conf) while calls come in: callers
reach the IVR over AsyncAGI (`AGI(agi:async)`), press keys, wait in a queue, talk to a
seat and hang up; some abandon in the IVR or in the queue; a seat sometimes does not
answer. Newexten and VarSet are included although hotline's manager.conf disables them,
so the stream is also what a default AMI user receives.

Header order and names follow Asterisk 22's manager code: `Event`, `Privilege`,
`Timestamp`, then the channel snapshot (`Channel` ... `Linkedid`, with a `Dest` prefix for
the second channel of Agent* events), then the event's own headers. Caller names are
mostly Chinese (taxpayers, companies, tax bureaus), of varied lengths; the AsyncAGIStart
`Env` and the AsyncAGIExec `Result` are URL-encoded as Asterisk sends them.

`events()` yields each event as a dict (the ground truth); `frame()` encodes one as AMI
bytes (UTF-8, CRLF, ended by an empty line); `chunks()` cuts a byte string the way TCP
reads of 64 KiB would.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from urllib.parse import quote

GREETING = b"Asterisk Call Manager/11.0.0\r\n"
DEFAULT_COUNT = 100_000
DEFAULT_SEED = 12366
CHUNK_SIZE = 64 * 1024
CONCURRENT_CALLS = 60
START_EPOCH = 1_764_205_200  # 2025-11-27 09:00 (UTC+8), a Thursday morning

SURNAMES = (
    "张王李赵刘陈杨黄吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉斌宇浩"
    "凯健俊帆帅旭宁龙林欣悦梓涵子轩一诺浩然雨桐若汐"
)
CITIES = ["合肥市", "芜湖市", "蚌埠市", "淮南市", "马鞍山市", "淮北市", "铜陵市", "安庆市",
          "黄山市", "滁州市", "阜阳市", "宿州市", "六安市", "亳州市", "池州市", "宣城市"]
DISTRICTS = ["蜀山区", "包河区", "瑶海区", "庐阳区", "高新区", "经开区", "镜湖区", "龙子湖区",
             "田家庵区", "雨山区", "相山区", "铜官区", "迎江区", "屯溪区", "琅琊区", "颍州区"]
TRADES = ["科技", "商贸", "建筑工程", "餐饮管理", "物流", "新能源", "医疗器械", "农业开发",
          "文化传媒", "电子商务", "房地产开发", "机械制造", "软件", "食品", "汽车销售"]
BUREAUS = ["税务局", "税务局第一税务所", "税务局第二税务分局", "税务局办税服务厅",
           "税务局纳税服务科", "税务局征收管理科"]
ASCII_NAMES = ["Zhang Wei", "LI NA", "Wang Fang", "ACME Trading", "Anhui Hengtai Ltd",
               "Chen Jing", "Liu Yang", "Sales Dept"]
SEAT_NAMES = ["陈静", "王芳", "李娜", "张敏", "刘洋", "杨帆", "赵磊", "黄丽", "周杰", "吴艳",
              "徐强", "孙悦", "马超", "朱琳", "胡斌", "郭宁", "何欣", "高鹏", "林涵", "罗宇",
              "欧阳晓雯", "司马一鸣", "王静", "李强", "张丽", "刘敏", "陈杰", "杨洋", "赵敏",
              "黄磊", "周芳", "吴娜", "徐丽", "孙强", "马静", "朱伟", "胡杰", "郭敏", "何磊",
              "高芳"]
SEATS = [(f"{8001 + n}", name) for n, name in enumerate(SEAT_NAMES)]
QUEUES = ["center", "center", "center", "hefei", "wuhu", "bengbu"]
PROMPTS = ["hotline/welcome", "hotline/menu-main", "hotline/menu-invoice",
           "hotline/menu-declare", "hotline/menu-social-insurance", "hotline/please-hold"]


def person(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given


def caller_name(rng: random.Random) -> str:
    """A CallerIDName as a 12366 trunk delivers them: mostly Chinese, 2 to 25 characters."""
    roll = rng.random()
    if roll < 0.28:
        return "纳税人" + person(rng)
    if roll < 0.46:
        return person(rng)
    if roll < 0.66:
        city = rng.choice(CITIES)
        return (city + rng.choice(DISTRICTS) + person(rng)[:2] + rng.choice(TRADES)
                + rng.choice(("有限公司", "有限责任公司", "股份有限公司")))
    if roll < 0.76:
        city = rng.choice(CITIES)
        return city + rng.choice(("", rng.choice(DISTRICTS))) + rng.choice(BUREAUS)
    if roll < 0.80:
        return rng.choice(("安徽省税务局", "国家税务总局安徽省税务局12366纳税缴费服务中心"))
    if roll < 0.84:
        return person(rng)[0] + rng.choice(("先生", "女士", "会计", "经理"))
    if roll < 0.92:
        return rng.choice(ASCII_NAMES)
    return ""  # withheld / not delivered by the trunk


def mobile(rng: random.Random) -> str:
    return rng.choice(("138", "139", "151", "155", "177", "180", "186", "199")) + (
        f"{rng.randrange(10**8):08d}")


def caller_number(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return mobile(rng)
    return "0" + rng.choice(("551", "553", "552", "554", "555")) + f"{rng.randrange(10**7):07d}"


class _Clock:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.micros = START_EPOCH * 1_000_000
        self.seq = 0

    def tick(self) -> str:
        self.micros += self.rng.randrange(50, 4000)
        return f"{self.micros // 1_000_000}.{self.micros % 1_000_000:06d}"

    def uniqueid(self) -> str:
        self.seq += 1
        return f"{self.micros // 1_000_000}.{self.seq}"


class _Channel:
    __slots__ = ("accountcode", "cid_name", "cid_num", "cl_name", "cl_num", "context",
                 "exten", "language", "linkedid", "name", "priority", "state", "uniqueid")

    def __init__(self, name: str, uniqueid: str, linkedid: str, cid_num: str, cid_name: str,
                 context: str, exten: str) -> None:
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.cid_num = cid_num
        self.cid_name = cid_name
        self.cl_num = "<unknown>"
        self.cl_name = "<unknown>"
        self.language = "zh"
        self.accountcode = ""
        self.context = context
        self.exten = exten
        self.priority = 1
        self.state = 0

    def snapshot(self, prefix: str = "") -> list[tuple[str, str]]:
        return [
            (prefix + "Channel", self.name),
            (prefix + "ChannelState", str(self.state)),
            (prefix + "ChannelStateDesc", STATE_DESC[self.state]),
            (prefix + "CallerIDNum", self.cid_num),
            (prefix + "CallerIDName", self.cid_name or "<unknown>"),
            (prefix + "ConnectedLineNum", self.cl_num),
            (prefix + "ConnectedLineName", self.cl_name),
            (prefix + "Language", self.language),
            (prefix + "AccountCode", self.accountcode),
            (prefix + "Context", self.context),
            (prefix + "Exten", self.exten),
            (prefix + "Priority", str(self.priority)),
            (prefix + "Uniqueid", self.uniqueid),
            (prefix + "Linkedid", self.linkedid),
        ]


STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
CAUSES = {16: "Normal Clearing", 17: "User busy", 19: "No user responding",
          127: "Interworking, unspecified"}


_DONE: dict[str, str] = {}


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = _Clock(self.rng)
        self.channel_seq = self.rng.randrange(0x1000, 0x8000)
        self.command_seq = 0
        self.bridge_seq = 0
        self.free_seats = list(SEATS)
        self.rng.shuffle(self.free_seats)

    # -- building blocks ------------------------------------------------------------

    def event(self, name: str, privilege: str, *parts: list[tuple[str, str]]
              ) -> dict[str, str]:
        headers = {"Event": name, "Privilege": privilege, "Timestamp": self.clock.tick()}
        for part in parts:
            headers.update(part)
        return headers

    def new_channel(self, tech: str, cid_num: str, cid_name: str, context: str, exten: str,
                    linkedid: str | None = None) -> _Channel:
        self.channel_seq += 1
        uniqueid = self.clock.uniqueid()
        return _Channel(f"{tech}-{self.channel_seq:08x}", uniqueid, linkedid or uniqueid,
                        cid_num, cid_name, context, exten)

    def agi_env(self, chan: _Channel) -> str:
        env = [
            ("agi_request", "async"), ("agi_channel", chan.name), ("agi_language", "zh"),
            ("agi_type", "PJSIP"), ("agi_uniqueid", chan.uniqueid),
            ("agi_version", "22.10.1+dfsg+~cs6.17.60671434-1"),
            ("agi_callerid", chan.cid_num), ("agi_calleridname", chan.cid_name or "unknown"),
            ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"),
            ("agi_callingtns", "0"), ("agi_dnid", "12366"), ("agi_rdnis", "unknown"),
            ("agi_context", chan.context), ("agi_extension", chan.exten),
            ("agi_priority", str(chan.priority)), ("agi_enhanced", "0.0"),
            ("agi_accountcode", ""), ("agi_threadid", str(self.rng.randrange(10**14, 10**15))),
        ]
        return quote("".join(f"{k}: {v}\n" for k, v in env) + "\n", safe="")

    # -- one call, as a sequence of events ------------------------------------------

    def call(self) -> Iterator[dict[str, str] | None]:
        """The events of one call; None means "waiting for a free seat, nothing yet"."""
        rng = self.rng
        trunk = rng.choice(("PJSIP/trunk-telecom", "PJSIP/trunk-unicom", "PJSIP/trunk-mobile"))
        chan = self.new_channel(trunk, caller_number(rng), caller_name(rng), "ivr", "12366")
        snap = chan.snapshot
        yield self.event("Newchannel", "call,all", snap())
        chan.state = 4
        yield self.event("Newstate", "call,all", snap())
        for variable, value in (("__FROM_DID", "12366"), ("HB", str(START_EPOCH))):
            yield self.event("VarSet", "dialplan,all", snap(),
                             [("Variable", variable), ("Value", value)])
        for app, data in (("NoOp", f"12366 call from \"{chan.cid_name}\" <{chan.cid_num}>"),
                          ("Set", "HB=${GLOBAL(HOTLINE_HEARTBEAT)}"),
                          ("AGI", "agi:async")):
            yield self.event("Newexten", "dialplan,all", snap(),
                             [("Extension", chan.exten), ("Application", app),
                              ("AppData", data)])
            chan.priority += 1
        chan.priority = 5
        yield self.event("AsyncAGIStart", "agi,all", snap(), [("Env", self.agi_env(chan))])
        chan.state = 6
        yield self.event("Newstate", "call,all", snap())

        # The IVR: a few menu prompts with type-ahead keys.
        for round_ in range(rng.choice((1, 2, 2, 3, 3, 4))):
            self.command_seq += 1
            command_id = f"hotline-5f3a9c1e-{self.command_seq}"
            prompt = PROMPTS[0] if round_ == 0 else rng.choice(PROMPTS[1:])
            command = f"STREAM FILE {prompt} \"0123456789*#\""
            yield self.event("AGIExecStart", "agi,all", snap(),
                             [("Command", command), ("CommandId", str(self.command_seq))])
            digits = "" if rng.random() < 0.2 else "".join(
                rng.choice("0123456789*#") for _ in range(rng.choice((1, 1, 1, 2))))
            for digit in digits:
                yield self.event("DTMFBegin", "dtmf,all", snap(),
                                 [("Digit", digit), ("Direction", "Received")])
                yield self.event("DTMFEnd", "dtmf,all", snap(),
                                 [("Digit", digit), ("DurationMs", str(rng.randrange(80, 400))),
                                  ("Direction", "Received")])
            code = str(ord(digits[0])) if digits else "0"
            endpos = str(rng.randrange(8000, 160000))
            yield self.event("AGIExecEnd", "agi,all", snap(),
                             [("Command", command), ("CommandId", str(self.command_seq)),
                              ("ResultCode", "200"), ("Result", f"Success result={code} "
                                                                f"endpos={endpos}")])
            yield self.event("AsyncAGIExec", "agi,all", snap(),
                             [("CommandID", command_id),
                              ("Result", quote(f"200 result={code} endpos={endpos}\n",
                                               safe=""))])

        if rng.random() < 0.12:  # hangs up in the IVR
            yield from self.hangup(chan, 16)
            return
        yield self.event("VarSet", "dialplan,all", snap(),
                         [("Variable", "HOTLINE_DONE"), ("Value", "1")])
        yield self.event("AsyncAGIEnd", "agi,all", snap())
        chan.context, chan.exten, chan.priority = "fallback", "s", 4
        yield self.event("Newexten", "dialplan,all", snap(),
                         [("Extension", "s"), ("Application", "Queue"),
                          ("AppData", "center,r,,,120")])

        queue = rng.choice(QUEUES)
        yield self.event("QueueCallerJoin", "agent,all", snap(),
                         [("Queue", queue), ("Position", str(rng.randrange(1, 12))),
                          ("Count", str(rng.randrange(1, 15)))])
        for attempt in range(3):
            while not self.free_seats:
                yield None
            if rng.random() < 0.08:  # gives up waiting
                yield self.event("QueueCallerAbandon", "agent,all", snap(),
                                 [("Queue", queue), ("Position", "1"),
                                  ("OriginalPosition", str(rng.randrange(1, 8))),
                                  ("HoldTime", str(rng.randrange(5, 180)))])
                yield self.event("QueueCallerLeave", "agent,all", snap(),
                                 [("Queue", queue), ("Count", "0"), ("Position", "1")])
                yield from self.hangup(chan, 16)
                return
            seat_num, seat_name = self.free_seats.pop(0)
            member = f"座席{seat_num} {seat_name}"
            interface = f"PJSIP/seat{seat_num}"
            agent = self.new_channel(interface, seat_num, member, "from-queue", seat_num,
                                     linkedid=chan.linkedid)
            agent.cl_num, agent.cl_name = chan.cid_num, chan.cid_name or "<unknown>"
            member_headers = [("Queue", queue), ("Interface", interface),
                              ("MemberName", member)]
            yield self.event("Newchannel", "call,all", agent.snapshot())
            yield self.event("AgentCalled", "agent,all", snap(), agent.snapshot("Dest"),
                             member_headers)
            agent.state = 5
            yield self.event("Newstate", "call,all", agent.snapshot())
            yield self.device_state(interface, "RINGING")
            ring = str(rng.randrange(2, 15))
            if attempt < 2 and rng.random() < 0.1:  # seat does not answer
                yield self.event("AgentRingNoAnswer", "agent,all", snap(),
                                 agent.snapshot("Dest"), member_headers, [("RingTime", ring)])
                yield from self.hangup(agent, 19)
                yield self.device_state(interface, "NOT_INUSE")
                self.free_seats.append((seat_num, seat_name))
                continue
            break
        agent.state = 6
        yield self.event("Newstate", "call,all", agent.snapshot())
        hold = str(rng.randrange(3, 240))
        yield self.event("AgentConnect", "agent,all", snap(), agent.snapshot("Dest"),
                         member_headers, [("HoldTime", hold), ("RingTime", ring)])
        yield self.event("QueueCallerLeave", "agent,all", snap(),
                         [("Queue", queue), ("Count", str(rng.randrange(0, 10))),
                          ("Position", "1")])
        yield self.device_state(interface, "INUSE")
        chan.cl_num, chan.cl_name = seat_num, member
        yield self.event("NewConnectedLine", "call,all", snap())
        self.bridge_seq += 1
        bridge = [("BridgeUniqueid", f"3c9d{self.bridge_seq:04x}-8e1f-4b2a-9c7d-"
                                     f"{self.bridge_seq:012x}"),
                  ("BridgeType", "basic"), ("BridgeTechnology", "simple_bridge"),
                  ("BridgeCreator", "<unknown>"), ("BridgeName", "<unknown>"),
                  ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")]
        yield self.event("BridgeCreate", "call,all", bridge)
        for n, leg in enumerate((chan, agent), 1):
            bridge[5] = ("BridgeNumChannels", str(n))
            yield self.event("BridgeEnter", "call,all", bridge, leg.snapshot())
        yield self.event("HangupRequest", "call,all", agent.snapshot() if rng.random() < 0.5
                         else snap(), [("Cause", "16")])
        for n, leg in enumerate((agent, chan)):
            bridge[5] = ("BridgeNumChannels", str(1 - n))
            yield self.event("BridgeLeave", "call,all", bridge, leg.snapshot())
        yield self.event("AgentComplete", "agent,all", snap(), agent.snapshot("Dest"),
                         member_headers, [("HoldTime", hold),
                                          ("TalkTime", str(rng.randrange(20, 900))),
                                          ("Reason", rng.choice(("caller", "agent")))])
        yield self.event("BridgeDestroy", "call,all", bridge)
        yield from self.hangup(agent, 16)
        yield self.device_state(interface, "NOT_INUSE")
        yield self.event("QueueMemberStatus", "agent,all", member_headers, [
            ("StateInterface", interface), ("Membership", "dynamic"), ("Penalty", "0"),
            ("CallsTaken", str(rng.randrange(1, 80))), ("LastCall", self.clock.tick()[:10]),
            ("LastPause", "0"), ("LoginTime", str(START_EPOCH - 1800)), ("InCall", "0"),
            ("Status", "1"), ("Paused", "0"), ("PausedReason", ""), ("Ringinuse", "0"),
            ("Wrapuptime", "0")])
        self.free_seats.append((seat_num, seat_name))
        yield from self.hangup(chan, 16)

    def hangup(self, chan: _Channel, cause: int) -> Iterator[dict[str, str]]:
        yield self.event("SoftHangupRequest", "call,all", chan.snapshot(),
                         [("Cause", str(cause))])
        yield self.event("Hangup", "call,all", chan.snapshot(),
                         [("Cause", str(cause)), ("Cause-txt", CAUSES[cause])])

    def device_state(self, device: str, state: str) -> dict[str, str]:
        return self.event("DeviceStateChange", "call,all", [("Device", device),
                                                            ("State", state)])

    # -- many calls at once -----------------------------------------------------------

    def stream(self, count: int) -> Iterator[dict[str, str]]:
        active: list[Iterator[dict[str, str] | None]] = []
        produced = 0
        while produced < count:
            while len(active) < CONCURRENT_CALLS:
                active.append(self.call())
            index = self.rng.randrange(len(active))
            event = next(active[index], _DONE)
            if event is _DONE:
                active[index] = active[-1]
                active.pop()
                continue
            if event is None:  # that call waits for a seat
                continue
            produced += 1
            yield event


def events(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> Iterator[dict[str, str]]:
    """`count` events, the same ones for the same seed."""
    return _Generator(seed).stream(count)


def frame(event: dict[str, str]) -> bytes:
    """One event as Asterisk writes it: `Key: Value` lines, CRLF, an empty line."""
    return "".join(f"{k}: {v}\r\n" for k, v in event.items()).encode() + b"\r\n"


def chunks(data: bytes, size: int = CHUNK_SIZE) -> list[bytes]:
    """`data` cut every `size` bytes, wherever that falls (inside a character too)."""
    return [data[i:i + size] for i in range(0, len(data), size)]
