"""`hearth run`: the adapters the config enables, the assist model and the embedder,
stopped cleanly by SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import signal

from bot.adapter import Adapter
from bot.app import Hearth
from bot.assist import LanguageModel
from bot.assist.semantic import Embedder
from bot.cli.common import (
    ConfigOption,
    app,
    config_from,
    err,
    fail,
    log,
    run_async,
)
from bot.config import Config
from bot.supervise import AdapterFailed
from knowledge.errors import UserError
from knowledge.inbound import InboundLog


@app.command()
def run(config: ConfigOption = None) -> None:
    """Start Hearth with the adapters the config enables (console by default)."""
    from adapters.console.adapter import ConsoleAdapter, database_numbers
    from knowledge.sync_tokens import SyncTokens

    settings = config_from(config)

    async def main() -> None:
        embedder = await asyncio.to_thread(local_embedder, settings)
        hearth = await Hearth.open(settings, model=language_model(settings), embedder=embedder)
        stop = stop_on_signals()
        adapters: list[Adapter] = []
        if settings.adapters.console.enabled:
            console = settings.adapters.console
            numbers = database_numbers(SyncTokens(hearth.database), console.space)
            adapters.append(ConsoleAdapter(console, on_quit=stop.set, numbers=numbers))
        if settings.adapters.slack.enabled:
            from adapters.slack import SlackAdapter
            from knowledge.slack_installs import SlackInstalls

            slack = settings.adapters.slack
            installs = SlackInstalls(hearth.database, slack.token_key) if slack.oauth else None
            adapters.append(
                SlackAdapter(
                    slack, InboundLog(hearth.database), server=hearth.ops, installs=installs
                )
            )
        if settings.adapters.discord.enabled:
            from adapters.discord_gateway.adapter import DiscordAdapter

            adapters.append(
                DiscordAdapter(
                    settings.adapters.discord,
                    suggestions=hearth.services.suggestions(),
                    inbound_log=InboundLog(hearth.database),
                )
            )
        if settings.adapters.matrix.enabled:
            from adapters.matrix import MatrixAdapter

            adapters.append(
                MatrixAdapter(
                    settings.adapters.matrix,
                    InboundLog(hearth.database),
                    SyncTokens(hearth.database),
                    server=hearth.ops,
                    public_url=hearth.public_url,
                )
            )
        if not adapters:
            raise UserError("no adapter is enabled in the config: nothing to run")
        try:
            await hearth.run(adapters, stop)
        except asyncio.CancelledError:
            pass
        finally:
            await hearth.close()

    try:
        run_async(main())
    except AdapterFailed as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        err.print("stopped")


def stop_on_signals() -> asyncio.Event:
    """SIGTERM or SIGINT (Ctrl-C) stops Hearth cleanly: adapters finish the event in hand,
    then everything closes. A second signal cancels whatever is still running."""
    stop = asyncio.Event()
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def signalled(name: str) -> None:
        if stop.is_set():
            log.warning("hearth.stop_forced", signal=name)
            task.cancel()
        else:
            log.info("hearth.stop_requested", signal=name)
            stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, signalled, signum.name)
    return stop


def language_model(settings: Config) -> LanguageModel | None:
    """The configured assist endpoint, or None for offline drafts only."""
    assist = settings.assist
    if not assist.base_url:
        return None
    from adapters.openai_assist import OpenAIAssist

    return OpenAIAssist(
        base_url=assist.base_url,
        api_key=assist.api_key or "not-needed",  # local servers often want no key
        model=assist.model,
        embedding_model=assist.embedding_model or None,
        timeout_seconds=assist.timeout_seconds,
        max_retries=assist.max_retries,
        max_input_tokens=assist.max_input_tokens,
    )


def local_embedder(settings: Config, load_now: bool = False) -> Embedder | None:
    """The local embedding model: the configured one, else the packaged one; None when
    semantic search is off or the endpoint embeds instead. It loads at its first use
    (an idle bot never pays its memory) unless `load_now` (check-config proves it)."""
    assist = settings.assist
    if not assist.semantic_search:
        return None
    from adapters.local_embeddings import (
        WORDLLAMA_SETTING,
        LazyEmbedder,
        LocalModelUnavailable,
        packaged_model,
        static_model,
    )
    from adapters.minilm import MINILM_SETTING, packaged_minilm

    embedder: Embedder

    try:
        if assist.local_embedding_model == MINILM_SETTING:
            embedder = packaged_minilm()  # the default, named
        elif assist.local_embedding_model == WORDLLAMA_SETTING:
            embedder = packaged_model()  # the static default before (extra: wordllama)
        elif assist.local_embedding_model:
            embedder = static_model(assist.local_embedding_model)
        elif assist.base_url and assist.embedding_model:
            return None  # Hearth.open uses the endpoint's embeddings (opted-in communities)
        else:
            embedder = packaged_minilm()
        if load_now and isinstance(embedder, LazyEmbedder):
            embedder.load()
    except LocalModelUnavailable as exc:
        raise UserError(str(exc)) from None
    return embedder
