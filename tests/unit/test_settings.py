"""Service config: every problem names its file and line (or variable) and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from hotline.app.settings import load_settings
from hotline.common.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path | None, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env or {})
    return info.value.problems


def test_defaults_use_the_embedded_sandbox() -> None:
    """With no file and no variables the settings point at the embedded sandbox's AMI, with
    its generated secret."""
    settings = load_settings(None, {})
    assert settings.ami.host == "127.0.0.1"
    assert settings.ami.port == 5038
    assert settings.ami.secret is None


def test_shipped_config_is_valid() -> None:
    """The shipped config/hotline.yaml is valid."""
    settings = load_settings(Path(__file__).parents[2] / "config" / "hotline.yaml", {})
    assert settings.ami.username == "hotline"


def test_wrong_type_names_file_line_and_key(tmp_path: Path) -> None:
    """A value of the wrong type is reported with file, line and key path."""
    path = write(tmp_path, "ami:\n  host: 127.0.0.1\n  port: fifty\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:3: ami.port: ")
    assert "integer" in problem


def test_unknown_key_names_its_line(tmp_path: Path) -> None:
    """An unknown key is reported at its line."""
    path = write(tmp_path, "ami:\n  port: 5038\nledger:\n  pth: x.db\n")
    assert problems(path) == [f"{path}:4: ledger.pth: unknown key"]


def test_missing_secret_for_a_remote_asterisk(tmp_path: Path) -> None:
    """An Asterisk that is not on this machine requires ami.secret."""
    path = write(tmp_path, "ami:\n  host: pbx.example.org\n")
    assert problems(path) == [f"{path}:1: ami.secret: required key is missing"]


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    """Broken YAML is reported as invalid YAML near the broken line."""
    path = write(tmp_path, "ami:\n  port: 5038\n  host: [127.0.0.1\nlog:\n  level: info\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:")
    assert "invalid YAML" in problem
    line = int(problem.split(":")[1])
    assert 3 <= line <= 5


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    """A key given twice is an error at its second line."""
    path = write(tmp_path, "ami:\n  port: 1\n  port: 2\n")
    assert problems(path) == [f"{path}:3: ami.port: duplicate key 'port'"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Every problem of a file is reported in one go, each at its line."""
    path = write(tmp_path, "ami:\n  port: 99999\nlog:\n  level: loud\n")
    found = problems(path)
    assert len(found) == 2
    assert found[0].startswith(f"{path}:2: ami.port:")
    assert found[1].startswith(f"{path}:4: log.level:")


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A config file that does not exist is named."""
    path = tmp_path / "nope.yaml"
    assert problems(path) == [f"{path}: config file not found"]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """HOTLINE_<SECTION>_<KEY> variables override the file's values."""
    path = write(tmp_path, "ami:\n  port: 5038\n")
    settings = load_settings(path, {"HOTLINE_AMI_PORT": "5039",
                                    "HOTLINE_AMI_ACTION_TIMEOUT": "2.5"})
    assert settings.ami.port == 5039
    assert settings.ami.action_timeout == 2.5


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    """A bad value in a variable is reported under the variable's name."""
    path = write(tmp_path, "ami:\n  port: 5038\n")
    assert problems(path, {"HOTLINE_AMI_PORT": "abc"})[0].startswith(
        "$HOTLINE_AMI_PORT: ami.port: ")


def test_unknown_environment_variable_is_an_error() -> None:
    """A HOTLINE_ variable naming no setting is an error (a typo is not ignored)."""
    [problem] = problems(None, {"HOTLINE_AMI_PROT": "5039"})
    assert problem.startswith("$HOTLINE_AMI_PROT: no such setting")


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """Relative paths resolve against the config file's folder."""
    path = write(tmp_path, "ledger:\n  path: data/ledger.sqlite3\n")
    settings = load_settings(path, {})
    assert settings.resolve(settings.ledger.path) == tmp_path / "data" / "ledger.sqlite3"


def test_secret_never_appears_in_repr_or_logs(tmp_path: Path) -> None:
    """The AMI secret is readable by the code but never appears in a repr or a log line."""
    path = write(tmp_path, "ami:\n  secret: s3cr3t-value\n")
    settings = load_settings(path, {})
    assert settings.ami.secret is not None
    assert settings.ami.secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)
    with structlog.testing.capture_logs() as logs:
        structlog.get_logger().info("settings", settings=settings)
    assert "s3cr3t-value" not in str(logs)
