"""The account rules of the pure core: roles by name or label, the permission table, who
sees which bureau, password rules, and the login throttle's memory bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotline.core.accounts import (
    AccountRuleError,
    Person,
    Throttle,
    ThrottleLimits,
    allowed,
    password_problems,
    roles,
    username,
    visible_bureau,
)

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def test_roles_by_name_or_chinese_label_and_unknown_ones_refused() -> None:
    """`seat,班长` is {seat, leader}; an unknown role is refused naming the known ones."""
    assert roles(["seat", "班长", " Auditor "]) == {"seat", "leader", "auditor"}
    with pytest.raises(AccountRuleError, match=r"unknown role 'boss'.*seat, expert"):
        roles(["boss"])


def test_user_names_are_folded_and_checked() -> None:
    """Zhang and zhang are one name; spaces, non-ASCII and a leading digit are refused."""
    assert username(" Zhang.Min ") == "zhang.min"
    for bad in ("", "1abc", "张敏", "a b", "x" * 33):
        with pytest.raises(AccountRuleError):
            username(bad)


def test_permissions_and_bureau_visibility() -> None:
    """Only an auditor unmasks, only an admin manages accounts, an unknown permission
    grants nothing; a remote bureau's seat sees only its bureau, a remote leader and
    centre people see everything."""
    assert allowed({"auditor"}, "ledger.unmask")
    assert not allowed({"leader", "admin", "seat", "expert", "liaison"}, "ledger.unmask")
    assert allowed({"admin"}, "users.manage")
    assert not allowed({"leader"}, "users.manage")
    assert not allowed({"admin"}, "no.such.thing")
    assert visible_bureau(Person("a", frozenset({"seat"}), "8101", "hefei",
                                 remote=True)) == "hefei"
    assert visible_bureau(Person("b", frozenset({"seat", "leader"}), "8101", "hefei",
                                 remote=True)) is None
    assert visible_bureau(Person("c", frozenset({"seat"}), "8001", "centre")) is None


def test_password_rules_name_each_problem() -> None:
    """Too short, too few distinct characters, the user name inside: each named."""
    assert password_problems("Tax-12366-ok", "zhang") == []
    assert password_problems("aaa", "zhang") == ["at least 10 characters",
                                                 "at least 4 different characters"]
    assert "not containing the user name" in password_problems("zhang-12366!", "zhang")


def test_the_throttle_remembers_a_bounded_number_of_keys() -> None:
    """A flood of failures from 10,000 addresses keeps at most `keys` entries, and the
    account being attacked stays counted (and blocked) through it."""
    throttle = Throttle(ThrottleLimits(keys=100))
    for i in range(5):
        throttle.failed(["user:li"], T0 + timedelta(seconds=i))
    for i in range(10_000):
        throttle.failed([f"addr:10.0.{i // 256}.{i % 256}"], T0 + timedelta(seconds=10))
    assert len(throttle._failures) <= 100
    assert throttle.blocked_until(["user:li"], T0 + timedelta(seconds=11)) is not None
    assert throttle.blocked_until(["user:li"], T0 + timedelta(minutes=16)) is None
