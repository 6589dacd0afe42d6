"""The operations server: /healthz, /readyz and /metrics, as an operator's tools see them."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from bot.app import Hearth
from bot.log_setup import configure_logging
from tests.fakes.tcp_proxy import TcpProxy
from tests.harness.console_harness import make_config, run_script

WEB = '\n[web]\nlisten = "127.0.0.1:0"\n'


async def get(hearth: Hearth, path: str) -> tuple[int, str]:
    assert hearth.ops is not None and hearth.ops.port is not None
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{hearth.ops.port}{path}") as response,
    ):
        return response.status, await response.text()


def samples(page: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, parsed by prometheus-client's own parser."""
    found = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_health_readiness_and_metrics_answer_while_hearth_runs(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path, extra=WEB)
    seen: dict[str, Any] = {}

    async def probe(hearth: Hearth) -> None:
        seen["healthz"] = await get(hearth, "/healthz")
        seen["readyz"] = await get(hearth, "/readyz")
        seen["missing"] = await get(hearth, "/nothing-here")

    async def scrape(hearth: Hearth) -> None:
        seen["metrics"] = await get(hearth, "/metrics")

    out = io.StringIO()
    await run_script(
        config, [probe, "/insight Small PRs get better reviews #review", scrape], out=out
    )

    assert seen["healthz"][0] == 200
    status, body = seen["readyz"]
    assert status == 200, body
    assert '"database"' in body and '"console"' in body
    assert seen["missing"][0] == 404
    status, page = seen["metrics"]
    assert status == 200
    parsed = samples(page)
    assert parsed[("hearth_database_connections_in_use", ())] >= 0
    assert (
        any(name == "hearth_relay_outbox_depth" for name, _ in parsed)
        or "hearth_relay_outbox_depth" in page
    )


@pytest.mark.postgres
async def test_readiness_turns_503_while_postgresql_is_unreachable_and_back(
    postgres_url: str, tmp_path: Path
) -> None:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    config = make_config(through_proxy, tmp_path, extra=WEB)
    seen: list[tuple[int, str]] = []

    async def ready(hearth: Hearth) -> None:
        seen.append(await get(hearth, "/readyz"))

    async def stop_database(_: Hearth) -> None:
        await proxy.cut()

    async def start_database(_: Hearth) -> None:
        await proxy.restore()

    try:
        await run_script(config, [ready, stop_database, ready, start_database, ready])
    finally:
        await proxy.cut()

    (before, _), (during, body), (after, _) = seen
    assert before == 200
    assert during == 503
    assert '"database"' in body and "not ready" in body
    assert after == 200


async def test_json_logs_carry_the_event_on_every_line_and_the_libraries_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in ("discord", "nio", "aiohttp")}
    configure_logging("INFO", "json")
    try:
        config = make_config(f"sqlite:///{tmp_path / 'hearth.db'}", tmp_path)

        async def library_speaks(_: Hearth) -> None:
            logging.getLogger("aiohttp.client").warning("a library's own record")

        await run_script(config, ["/insight Logs are for operators #ops", library_speaks])
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]
    finally:
        # Leave logging as the other tests found it: their capture_logs sees INFO events.
        structlog.configure(**before)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, library_level in libraries.items():
            logging.getLogger(name).setLevel(library_level)
    handled = [x for x in lines if x["event"] == "command.handled"]
    assert handled and handled[0]["platform"] == "console" and handled[0]["community"] == "guild"
    assert handled[0]["event_id"] and handled[0]["command"].startswith("insight")
    library = [x for x in lines if x.get("logger") == "aiohttp.client"]
    assert library and library[0]["level"] == "warning"
