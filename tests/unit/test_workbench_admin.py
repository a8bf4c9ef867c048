"""The administrator's page: the configuration view shows what is in force in the staff's
words (seat groups and queue names, remote groups, the calendar's holidays and make-up
days). The page's route by role is in tests/unit/test_accounts_web.py's table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hotline.common.yamlsrc import load_file
from hotline.core.calendar.schedule import parse_calendar
from hotline.core.configuration import Configuration
from hotline.features.workbench.admin import config_view
from tests.unit.test_accounts_web import ROUTING

CALENDAR = parse_calendar(load_file(Path(__file__).parents[2] / "config" / "calendar.yaml"),
                          set(ROUTING.queues))


def test_the_configuration_view_names_what_is_in_force() -> None:
    """The view of 30 September 2026: the routing.yaml seats with their group's Chinese
    name and skills by queue name, Hefei as a remote group, and two weeks of the calendar
    from Beijing's today with 国庆节 closed and the make-up Saturday 10 October open."""
    snapshot = Configuration(routing=ROUTING, calendar=CALENDAR, generation=4)
    view = config_view(lambda: snapshot, datetime(2026, 9, 29, 17, 0, tzinfo=UTC))
    assert view["generation"] == 4
    seats = {s["id"]: s for s in view["seats"]}
    assert seats["8101"]["group_name"] == ROUTING.groups["hefei"].name
    assert {k["queue_name"] for k in seats["8001"]["skills"]} <= {
        q.name for q in ROUTING.queues.values()}
    assert {g["id"]: g["remote"] for g in view["groups"]}["hefei"] is True
    days = {d["date"]: d for d in view["calendar"]}
    assert len(days) == 14
    assert min(days) == "2026-09-30"  # 17:00 UTC on the 29th is the 30th in Beijing
    assert not days["2026-10-01"]["working"]
    assert "国庆节" in days["2026-10-01"]["label"]
    assert days["2026-10-10"]["working"]
    assert days["2026-10-10"]["label"].startswith("调休上班")
