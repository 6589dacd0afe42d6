"""Structured logs to stderr: one event name plus fields per thing that happened.

Hearth's own structlog events and the libraries' standard-library records (discord.py,
matrix-nio, aiohttp, SQLAlchemy, APScheduler) go through one ProcessorFormatter, so with
`log_format = "json"` every line on stderr is one JSON object, and fields bound for the
event being handled (event id, platform, community) appear on every line it causes.
"""

from __future__ import annotations

import logging
import sys

import structlog

SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str, fmt: str) -> None:
    numeric = logging.getLevelNamesMapping()[level]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *SHARED,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if fmt == "json" else _keep,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # The libraries are chatty at INFO; they speak at WARNING unless Hearth is at DEBUG.
    for noisy in ("discord", "nio", "aiohttp", "sqlalchemy", "apscheduler", "slack_bolt"):
        logging.getLogger(noisy).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)


def _keep(
    _logger: object, _name: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    return event  # the console renderer prints exceptions itself, prettily
