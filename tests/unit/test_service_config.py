"""The service refuses a bad configuration before it opens anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.settings import load_settings
from hotline.common.errors import ConfigError
from hotline.pbx.gateway import AmiGateway

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("seats", "message"), [
    (["9999"], "sandbox.demo_seats: unknown seat '9999' (routing.yaml has: 8001, 8002, "
               "8101, 8201)"),
    (["8101"], "sandbox.demo_seats: '8101' is a remote seat; demo seats are centre seats"),
])
async def test_bad_demo_seats_stop_the_start(tmp_path: Path, seats: list[str],
                                             message: str) -> None:
    """Demo seats routing.yaml does not know stop the service's start before the ledger is
    opened."""
    ledger = tmp_path / "ledger.sqlite3"
    settings = load_settings(REPO / "config" / "hotline.yaml",
                             {"HOTLINE_LEDGER_PATH": str(ledger)})
    service = Service(settings, AmiGateway("127.0.0.1", 1, "nobody", "x"), login_seats=seats)
    with pytest.raises(ConfigError) as error:
        await service.run()
    assert message in str(error.value)
    assert not ledger.exists()  # refused before anything was opened
