"""Semantic search: the vector store on both backends, the endpoint embedder (loopback
server, hashed bag-of-words vectors) with per-community opt-in, and a local model2vec
static model built here from a hand-made vocabulary, saved, and loaded like a real one."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model2vec import StaticModel
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.normalizers import Lowercase
from tokenizers.pre_tokenizers import Whitespace

from adapters.console.adapter import ConsoleAdapter
from adapters.local_embeddings import (
    PACKAGED_MODEL,
    WORDLLAMA_SETTING,
    LazyEmbedder,
    LocalModelUnavailable,
    LocalStaticEmbedder,
    load_packaged_model,
    load_static_model,
)
from adapters.minilm import MINILM_SETTING, PACKAGED_MINILM, load_minilm, packaged_minilm
from adapters.openai_assist import OpenAIAssist
from bot.app import Hearth
from bot.assist.semantic import Embedder, EmbeddingFailed, fuse
from bot.config import Config
from knowledge.db import Database
from knowledge.directory import Directory
from knowledge.embeddings import EmbeddingStore, Vector
from knowledge.insights import InsightStore
from knowledge.search import SearchQuery, parse_terms
from knowledge.views import CommunityInfo, InsightView, SourceMessage
from tests.fakes.openai_loopback import OpenAILoopback, openai_server, status  # noqa: F401
from tests.harness.config_builder import OTHER
from tests.harness.console_harness import make_config, run_script

EMBEDDINGS = "/v1/embeddings"

# ---------------------------------------------------------------- store, both backends


async def test_vectors_rank_by_cosine_within_one_community_and_model(database: Database) -> None:
    directory = Directory(database)
    guild = await directory.ensure_community("guild", "Guild", "UTC")
    other = await directory.ensure_community("other", "Other", "UTC")
    cora = await directory.resolve_member(guild.id, "console", "cora", "Cora")
    olga = await directory.resolve_member(other.id, "console", "olga", "Olga")
    insights = InsightStore(database)
    ids = []
    for n, (body, tags) in enumerate(
        [
            ("mentoring juniors", ["people"]),
            ("release trains", ["ops"]),
            ("draft review notes", ["ops"]),
        ],
        start=1,
    ):
        result = await insights.capture(
            guild.id,
            SourceMessage("console", "local", "general", str(n), body, "alice", "Alice"),
            curator=cora,
            tags=tags,
        )
        ids.append(result.insight)
    theirs = await insights.capture(
        other.id,
        SourceMessage("console", "local", "else", "9", "their mentoring", "olga", "Olga"),
        curator=olga,
    )
    store = EmbeddingStore(database)
    assert [p.insight_id for p in await store.missing(guild.id, "m")] == [i.id for i in ids]
    vectors = [[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 5.0]]
    stored = await store.upsert(
        "m", [Vector(i.id, i.updated_at, v) for i, v in zip(ids, vectors, strict=True)]
    )
    assert stored == 3
    await store.upsert("m", [Vector(theirs.insight.id, theirs.insight.updated_at, [1.0, 0.0, 0.0])])
    await store.upsert("other-model", [])
    assert await store.missing(guild.id, "m") == []
    assert len(await store.missing(guild.id, "other-model")) == 3  # never mixed across models

    nearest = await store.nearest(guild.id, [2.0, 0.1, 0.0], 5, "m")
    assert [i for i, _ in nearest] == [ids[0].id, ids[1].id, ids[2].id]  # not another community's
    assert nearest[0][1] == pytest.approx(0.9988, abs=1e-3)
    assert [i for i, _ in await store.nearest(guild.id, [2.0, 0.1, 0.0], 1, "m")] == [ids[0].id]
    assert await store.nearest(guild.id, [1.0, 0.0], 5, "m") == []  # other dimensions
    assert await store.nearest(guild.id, [0.0, 0.0, 0.0], 5, "m") == []
    above = await store.nearest(guild.id, [1.0, 0.0, 0.0], 5, "m", min_similarity=0.5)
    assert [i for i, _ in above] == [ids[0].id, ids[1].id]
    filtered = SearchQuery(guild.id, parse_terms("anything -draft"), tags=("ops",))
    assert [
        i for i, _ in await store.nearest(guild.id, [1.0, 1.0, 1.0], 5, "m", query=filtered)
    ] == [ids[1].id]

    # An edit makes the vector stale; a deletion takes it away.
    await insights.edit(guild.id, ids[1].id, cora, "release trains every two weeks")
    stale = await store.missing(guild.id, "m")
    assert [(p.insight_id, p.text) for p in stale] == [
        (ids[1].id, "release trains every two weeks")
    ]
    await insights.delete(guild.id, ids[0].id, cora)
    assert ids[0].id not in [i for i, _ in await store.nearest(guild.id, [1.0, 0.0, 0.0], 5, "m")]
    assert await store.upsert("m", [Vector(ids[0].id, ids[0].updated_at, [1.0, 0.0, 0.0])]) == 0


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    assert fuse([[1, 2, 3], [3, 4]]) == [3, 1, 2, 4]
    assert fuse([[], [7, 8]]) == [7, 8]


# ---------------------------------------------------------------- the endpoint embedder


def endpoint_config(database_url: str, tmp_path: Path, opted_in: bool = True) -> Config:
    return make_config(
        database_url,
        tmp_path,
        extra='[assist]\nembedding_model = "hash-64"\nsemantic_min_similarity = 0.2\n',
        others=(OTHER,),
        community_extra="assist = true" if opted_in else "",
    )


def model_for(server: OpenAILoopback) -> OpenAIAssist:
    return OpenAIAssist(
        base_url=server.base_url,
        api_key="sk-test",
        model="test-model",
        embedding_model="hash-64",
        timeout_seconds=5,
        max_retries=0,
    )


CAPTURES = [
    "/insight Pairing newcomers with a buddy speeds up onboarding #onboarding",
    "/insight Newcomers settle in faster with a checklist #onboarding",
    "/insight Deploy on Fridays only with a rollback plan #ops",
]


def embedded_texts(server: OpenAILoopback) -> list[str]:
    return [text for body in server.bodies(EMBEDDINGS) for text in body["input"]]


async def test_search_blends_in_an_insight_full_text_alone_misses(
    database_url: str, tmp_path: Path, openai_server: OpenAILoopback
) -> None:
    output = await run_script(
        endpoint_config(database_url, tmp_path),
        [*CAPTURES, "/search pairing newcomers"],
        model=model_for(openai_server),
    )
    # #1 has both words; the checklist shares one (full text with any of the words, and
    # a near neighbour): both rankings agree, and the words are highlighted.
    assert "🔎 2 insight(s) match “pairing newcomers”" in output
    assert "1. #1 Pairing newcomers with a buddy" in output
    assert "2. #2 Newcomers settle in faster with a checklist" in output
    assert "#3 Deploy" not in output
    texts = embedded_texts(openai_server)
    assert "Newcomers settle in faster with a checklist" in texts  # embedded at capture
    assert texts[-1] == "pairing newcomers"  # then the query


async def test_a_community_that_did_not_opt_in_sends_no_embeddings_request(
    database_url: str, tmp_path: Path, openai_server: OpenAILoopback
) -> None:
    output = await run_script(
        endpoint_config(database_url, tmp_path, opted_in=False),
        [*CAPTURES, "/search pairing newcomers"],
        model=model_for(openai_server),
    )
    assert "🔎 2 insight(s) match “pairing newcomers”" in output  # full text, any word
    assert openai_server.requests == []


async def test_only_opted_in_communities_text_is_embedded_and_edits_are_re_embedded(
    database_url: str, tmp_path: Path, openai_server: OpenAILoopback
) -> None:
    output = await run_script(
        endpoint_config(database_url, tmp_path),
        [
            ":channel other",
            "/insight Secret newcomers handbook of the other community #onboarding",
            "/search pairing buddy",
            ":channel general",
            *CAPTURES,
            "/insight edit 4 Newcomers settle in faster with a written checklist",
            "/search pairing newcomers",
        ],
        model=model_for(openai_server),
    )
    assert "No insights match “pairing buddy”." in output  # other: full text only
    assert "Secret" not in str(openai_server.bodies(EMBEDDINGS))
    assert "Newcomers settle in faster with a written checklist" in embedded_texts(openai_server)
    assert "#1 Secret" not in output


async def test_search_falls_back_to_full_text_when_the_endpoint_fails(
    database_url: str, tmp_path: Path, openai_server: OpenAILoopback
) -> None:
    async def endpoint_down(_: Hearth) -> None:
        openai_server.script(status(500), status(500))

    output = await run_script(
        endpoint_config(database_url, tmp_path),
        [*CAPTURES, endpoint_down, "/search pairing buddy"],
        model=model_for(openai_server),
    )
    assert "🔎 1 insight(s) match “pairing buddy”" in output
    assert "incident" not in output.lower()


# ---------------------------------------------------------------- a local static model

TOPICS = {  # word -> topic: 0 people, 1 delivery, 2 feedback
    "mentoring": 0,
    "coaching": 0,
    "mentor": 0,
    "juniors": 0,
    "apprentice": 0,
    "release": 1,
    "deploys": 1,
    "shipping": 1,
    "trains": 1,
    "review": 2,
    "feedback": 2,
    "critique": 2,
}
FILLER = ["weekly", "sessions", "help", "grow", "make", "boring", "small", "kind", "is", "be"]


def build_static_model(folder: Path) -> Path:
    words = ["[UNK]", "[PAD]", *TOPICS, *FILLER]
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.normalizer = Lowercase()
    tokenizer.pre_tokenizer = Whitespace()
    vectors = np.zeros((len(words), 4), dtype=np.float32)
    for index, word in enumerate(words):
        if word in TOPICS:
            vectors[index, TOPICS[word]] = 1.0
        elif word in FILLER:
            vectors[index, 3] = 0.3
    StaticModel(vectors, tokenizer, normalize=True).save_pretrained(str(folder))
    return folder


async def run_with_embedder(config: Config, lines: list[str], embedder: Embedder) -> str:
    hearth = await Hearth.open(config, embedder=embedder)
    pending = list(lines)

    async def read_line() -> str | None:
        return pending.pop(0) + "\n" if pending else None

    out = io.StringIO()
    try:
        await hearth.run([ConsoleAdapter(config.adapters.console, read_line, out)])
    finally:
        await hearth.close()
    return out.getvalue()


async def test_a_local_model_finds_synonyms_for_every_community_without_an_endpoint(
    database_url: str, tmp_path: Path
) -> None:
    embedder = load_static_model(str(build_static_model(tmp_path / "tiny-model")))
    assert isinstance(embedder, LocalStaticEmbedder) and embedder.local
    assert embedder.name.startswith("local:tiny-model@")
    config = make_config(database_url, tmp_path)  # assist off: a local model is still fine
    output = await run_with_embedder(
        config,
        [
            "/insight Weekly mentoring sessions help juniors grow #people",
            "/insight Release trains make deploys boring #delivery",
            "/insight Kind critique is small and weekly #feedback",
            "/search coaching",
            "/search shipping",
            "/search shipping -boring",
        ],
        embedder,
    )
    assert "🔎 1 insight(s) match “coaching”" in output
    assert "1. #1 Weekly mentoring sessions help juniors grow" in output
    assert "1. #2 Release trains make deploys boring" in output
    assert "No insights match “shipping -boring”." in output  # semantic hits obey exclusions


async def test_vectors_missing_for_older_insights_are_back_filled_at_search(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    await run_script(config, ["/insight Weekly mentoring sessions help juniors grow"])
    embedder = load_static_model(str(build_static_model(tmp_path / "m")))
    output = await run_with_embedder(config, ["/search apprentice"], embedder)
    assert "1. #1 Weekly mentoring sessions" in output


def test_a_missing_local_model_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(LocalModelUnavailable, match="cannot load the local embedding model"):
        load_static_model(str(tmp_path / "no-such-model" / "x"))  # not a folder, not on the hub


# ---------------------------------------------------------------- the packaged default model

DEFAULT_CAPTURES = [
    "/insight Fine dust from sanding is the real long-term health hazard in the workshop #safety",
    "/insight Marigolds planted between the tomatoes kept aphids away without spraying #garden",
    "/insight Thank every donor within 48 hours; second gifts depend on it #fundraising",
]


def test_the_opt_in_wordllama_loads_from_its_installed_package_without_a_network() -> None:
    embedder = load_packaged_model()
    assert embedder.local and embedder.name == f"local:{PACKAGED_MODEL}"
    [lungs, dust, garden] = embedder.encode(
        [
            "is sawdust bad for your lungs",
            "Fine dust from sanding is a health hazard",
            "Marigolds keep aphids off tomatoes",
        ]
    )
    assert len(lungs) == 256
    similarity = np.asarray(lungs) @ np.asarray(dust)
    assert similarity > np.asarray(lungs) @ np.asarray(garden) + 0.2
    assert embedder.encode(["", "🔥"])[0] == [0.0] * 256  # nothing to embed: a zero vector


def test_the_packaged_minilm_loads_without_a_network_and_reads_long_text() -> None:
    embedder = load_minilm()
    assert embedder.local and embedder.name == f"local:{PACKAGED_MINILM}"
    [lungs, dust, garden, empty, emoji] = embedder.encode(
        [
            "is sawdust bad for your lungs",
            "Fine dust from sanding is a health hazard",
            "Marigolds keep aphids off tomatoes",
            "",
            "🔥" * 2000,  # longer than the model reads: cut, not an error
        ]
    )
    assert len(lungs) == 384 and len(empty) == 384 and len(emoji) == 384
    similarity = np.asarray(lungs) @ np.asarray(dust)
    assert similarity > np.asarray(lungs) @ np.asarray(garden) + 0.2
    assert abs(float(np.linalg.norm(lungs)) - 1.0) < 1e-5


def test_the_default_is_the_packaged_minilm_and_wordllama_can_be_chosen(tmp_path: Path) -> None:
    from bot.cli.common import config_from
    from bot.cli.running import local_embedder

    for setting, model in ((MINILM_SETTING, PACKAGED_MINILM), (WORDLLAMA_SETTING, PACKAGED_MODEL)):
        (tmp_path / "hearth.toml").write_text(f'[assist]\nlocal_embedding_model = "{setting}"\n')
        embedder = local_embedder(config_from(tmp_path / "hearth.toml"), load_now=True)
        assert embedder is not None and embedder.name == f"local:{model}"
    (tmp_path / "default.toml").write_text("")
    default = local_embedder(config_from(tmp_path / "default.toml"))
    assert default is not None and default.name == f"local:{PACKAGED_MINILM}"


def console_run(workdir: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`hearth run` on the console with `script` as its input, no config file found."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", *args],
        cwd=workdir,
        input=script + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HEARTH_CONFIG": ""},
    )


def test_a_fresh_install_answers_a_question_in_other_words(tmp_path: Path) -> None:
    """`hearth run` on the default config: no model to find, download or configure."""
    script = "\n".join(
        [*DEFAULT_CAPTURES, "/search is sawdust bad for your lungs", "/search bugs eat my veg"]
    )
    run = console_run(tmp_path, script)
    assert run.returncode == 0, run.stderr
    # no word in common with the question: found for what it means, and says so
    assert "🔎 1 insight(s) match “is sawdust bad for your lungs”" in run.stdout
    assert "1. #1 Fine dust from sanding" in run.stdout
    assert "≈ similar meaning" in run.stdout
    assert "1. #2 Marigolds planted between the tomatoes" in run.stdout


def test_weak_neighbours_join_only_when_words_found_little(tmp_path: Path) -> None:
    """A paraphrased question finds its insight by meaning, but a word every insight-to-be
    shows exactly is not padded with loosely related ones (MiniLM scores "reviews" and
    "Ship small, ship often" 0.17: above the bar alone, below it beside an exact match)."""
    script = "\n".join(
        [
            "/insight Small PRs get better reviews #review",
            "/insight Timebox standups to fifteen minutes #meetings",
            "/insight Ship small, ship often",
            "/search what keeps our meetings from running over",
            "/search reviews",
        ]
    )
    run = console_run(tmp_path, script)
    assert run.returncode == 0, run.stderr
    assert "match “what keeps our meetings from running over”" in run.stdout
    assert "1. #2 Timebox standups to fifteen minutes" in run.stdout
    assert "🔎 1 insight(s) match “reviews”" in run.stdout
    assert "#3 Ship small, ship often\n" not in run.stdout.split("match “reviews”")[1]


def test_semantic_search_can_be_turned_off(tmp_path: Path) -> None:
    (tmp_path / "hearth.toml").write_text("[assist]\nsemantic_search = false\n")
    run = console_run(
        tmp_path,
        "\n".join([*DEFAULT_CAPTURES, "/search is sawdust bad for your lungs"]),
        "--config",
        "hearth.toml",
    )
    assert run.returncode == 0, run.stderr
    assert "No insights match “is sawdust bad for your lungs”" in run.stdout


async def test_semantic_hits_obey_filters_and_cover_siblings_shared_insights(
    database: Database,
) -> None:
    from bot.assist.semantic import SemanticIndex
    from knowledge.search import open_search
    from knowledge.sharing import SharedKnowledge
    from knowledge.vocabulary import Visibility

    directory = Directory(database)
    guild = await directory.ensure_community("guild", "Guild", "UTC")
    forge = await directory.ensure_community("forge", "Forge", "UTC")
    cora = await directory.resolve_member(guild.id, "console", "cora", "Cora")
    fred = await directory.resolve_member(forge.id, "console", "fred", "Fred")
    insights = InsightStore(database)
    own = await insights.capture(
        guild.id,
        SourceMessage("console", "l", "g", "1", DEFAULT_CAPTURES[1][9:], "cora", "Cora"),
        curator=cora,
        tags=["garden"],
    )
    theirs = await insights.capture(
        forge.id,
        SourceMessage("console", "l", "f", "2", DEFAULT_CAPTURES[0][9:], "fred", "Fred"),
        curator=fred,
    )
    embedder = load_minilm()
    index = SemanticIndex(
        embedder, EmbeddingStore(database), insights, frozenset(), min_similarity=0.15
    )
    backend = open_search(database)
    question = parse_terms("is sawdust bad for your lungs")
    across = SearchQuery(guild.id, question, shared_from=(forge.id,))
    assert (await index.search(backend, across, guild)).hits == ()  # forge keeps it to itself
    await SharedKnowledge(database).set_visibility(
        forge.id, theirs.insight.id, fred, Visibility.CONSTELLATION, theirs.insight.created_at
    )
    [hit] = (await index.search(backend, across, guild)).hits
    assert (hit.insight_id, hit.community_id, hit.matched) == (
        theirs.insight.id,
        forge.id,
        "meaning",
    )
    alone = SearchQuery(guild.id, question)
    assert (await index.search(backend, alone, guild)).hits == ()  # community scope only
    veg = SearchQuery(guild.id, parse_terms("bugs eat my veg"), tags=("garden",))
    assert [h.insight_id for h in (await index.search(backend, veg, guild)).hits] == [
        own.insight.id
    ]
    other_tag = SearchQuery(guild.id, parse_terms("bugs eat my veg"), tags=("safety",))
    assert (await index.search(backend, other_tag, guild)).hits == ()


def test_reindex_embeds_what_has_no_vector_and_goes_on_where_it_stopped(tmp_path: Path) -> None:
    def hearth(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args, "--config", "hearth.toml"],
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HEARTH_CONFIG": ""},
        )

    config = tmp_path / "hearth.toml"
    config.write_text("[assist]\nsemantic_search = false\n")
    assert hearth("run", stdin="\n".join(DEFAULT_CAPTURES) + "\n").returncode == 0
    off = hearth("reindex")
    assert off.returncode == 2 and "semantic search is off" in off.stderr
    config.write_text("")  # the default: the packaged model
    first = hearth("reindex")
    assert first.returncode == 0, first.stderr
    assert f"default: embedded 3 insight(s) with local:{PACKAGED_MINILM}" in first.stdout
    again = hearth("reindex")
    assert "embedded 0 insight(s)" in again.stdout  # nothing left: it resumes, never repeats


async def guild_with(
    database: Database, bodies: list[str]
) -> tuple[CommunityInfo, list[InsightView]]:
    """The guild, and one insight per body captured by Cora (message ids 1, 2, …)."""
    directory = Directory(database)
    guild = await directory.ensure_community("guild", "Guild", "UTC")
    cora = await directory.resolve_member(guild.id, "console", "cora", "Cora")
    insights = InsightStore(database)
    made = []
    for n, body in enumerate(bodies, start=1):
        source = SourceMessage("console", "l", "g", str(n), body, "cora", "Cora")
        made.append((await insights.capture(guild.id, source, curator=cora)).insight)
    return guild, made


async def test_vectors_are_stored_as_float16_and_older_float32_rows_still_rank(
    database: Database,
) -> None:
    from sqlalchemy import select, update

    from knowledge.models import InsightEmbedding

    guild, made = await guild_with(database, ["north", "east"])
    store = EmbeddingStore(database)
    await store.upsert(
        "m",
        [
            Vector(made[0].id, made[0].updated_at, [1.0, 0.0, 0.0, 0.0]),
            Vector(made[1].id, made[1].updated_at, [0.0, 1.0, 0.0, 0.0]),
        ],
    )
    async with database.sessions.begin() as session:
        blobs = (await session.scalars(select(InsightEmbedding.vector))).all()
        assert sorted(len(b) for b in blobs) == [8, 8]  # 4 dims × 2 bytes
        older = np.asarray([0.0, 1.0, 0.0, 0.0], dtype="<f4").tobytes()  # as stored before
        await session.execute(
            update(InsightEmbedding)
            .where(InsightEmbedding.insight_id == made[1].id)
            .values(vector=older)
        )
    ranked = await store.nearest(guild.id, [0.1, 1.0, 0.0, 0.0], 5, "m")
    assert [i for i, _ in ranked] == [made[1].id, made[0].id]
    assert ranked[0][1] == pytest.approx(0.995, abs=1e-3)


async def test_vectors_held_in_memory_follow_this_process_writes_and_others_after_max_age(
    database: Database,
) -> None:
    from knowledge.vector_cache import VectorCache

    guild, made = await guild_with(database, [f"insight {n}" for n in range(3)])
    this = EmbeddingStore(database)
    other_instance = EmbeddingStore(database, VectorCache(max_age=0.0))
    await this.upsert("m", [Vector(made[0].id, made[0].updated_at, [1.0, 0.0])])
    assert [i for i, _ in await this.nearest(guild.id, [1.0, 0.0], 5, "m")] == [made[0].id]
    await this.upsert("m", [Vector(made[1].id, made[1].updated_at, [1.0, 0.1])])
    assert [i for i, _ in await this.nearest(guild.id, [1.0, 0.1], 5, "m")] == [
        made[1].id,
        made[0].id,
    ]
    await other_instance.nearest(guild.id, [1.0, 0.0], 5, "m")
    await this.upsert("m", [Vector(made[2].id, made[2].updated_at, [0.0, 1.0])])
    seen = await other_instance.nearest(guild.id, [0.0, 1.0], 1, "m")
    assert [i for i, _ in seen] == [made[2].id]  # reloaded: another instance's write


# ---------------------------------------------------------------- the model loads when used


def test_an_idle_bot_has_not_loaded_the_model_until_something_is_embedded() -> None:
    """The packaged model (and numpy, tokenizers) costs ~70 MiB: a bot that never
    searches never pays it. A fresh interpreter shows what start-up imported."""
    probe = (
        "import asyncio, sys\n"
        "from bot.cli.common import config_from\n"
        "from bot.cli.running import local_embedder\n"
        "embedder = local_embedder(config_from(None))\n"
        "print('before', embedder.name, embedder.loaded, 'tokenizers' in sys.modules)\n"
        "[vector] = asyncio.run(embedder.embed(['is sawdust bad for your lungs']))\n"
        "print('after', embedder.loaded, len(vector), 'tokenizers' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HEARTH_CONFIG": ""},
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert run.returncode == 0, run.stderr
    assert f"before local:{PACKAGED_MINILM} False False" in run.stdout
    assert "after True 384 True" in run.stdout


async def test_concurrent_first_searches_share_one_load_and_a_failed_load_falls_back() -> None:
    loads: list[str] = []

    def load() -> Embedder:
        loads.append("loaded")
        return load_minilm()

    embedder = LazyEmbedder(f"local:{PACKAGED_MINILM}", load)
    first, second = await asyncio.gather(embedder.embed(["dust"]), embedder.embed(["dust"]))
    assert first == second and loads == ["loaded"]

    def broken() -> Embedder:
        raise LocalModelUnavailable("the packaged embedding model cannot be loaded: gone")

    with pytest.raises(EmbeddingFailed, match="gone"):
        await LazyEmbedder("local:broken", broken).embed(["dust"])


async def test_a_search_right_after_a_save_finds_it_by_meaning(
    database_url: str, tmp_path: Path
) -> None:
    """Saves are embedded in the background (the reply does not wait for the model);
    the next search waits for them, so a new insight is found by what it means."""
    config = make_config(database_url, tmp_path)
    output = await run_with_embedder(
        config,
        [
            "/search anything",  # the back-fill ran: later saves rely on their own embedding
            "/insight Fine dust from sanding is the real long-term health hazard #safety",
            "/search is sawdust bad for your lungs",
        ],
        packaged_minilm(),
    )
    assert "1. #1 Fine dust from sanding" in output
    assert "≈ similar meaning" in output
