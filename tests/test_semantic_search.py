"""Semantic search: the vector store on both backends, the endpoint embedder (loopback
server, hashed bag-of-words vectors) with per-community opt-in, and a local model2vec
static model built here from a hand-made vocabulary, saved, and loaded like a real one."""

# ruff: noqa: F811
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from model2vec import StaticModel
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.normalizers import Lowercase
from tokenizers.pre_tokenizers import Whitespace

from adapters.console.adapter import ConsoleAdapter
from adapters.local_embeddings import LocalModelUnavailable, LocalStaticEmbedder, load_static_model
from adapters.openai_assist import OpenAIAssist
from bot.app import Hearth
from bot.assist.semantic import Embedder, fuse
from bot.config import Config
from knowledge.db import Database
from knowledge.directory import Directory
from knowledge.embeddings import EmbeddingStore, Vector
from knowledge.insights import InsightStore
from knowledge.search import SearchQuery, parse_terms
from knowledge.views import SourceMessage
from tests.console_harness import make_config, run_script
from tests.openai_loopback import OpenAILoopback, openai_server, status  # noqa: F401

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

OTHER_COMMUNITY = """
[[communities]]
slug = "other"
name = "Other"
[[communities.channels]]
platform = "console"
space = "local"
channel = "other"
"""


def endpoint_config(database_url: str, tmp_path: Path, opted_in: bool = True) -> Config:
    return make_config(
        database_url,
        tmp_path,
        extra=f'[assist]\nembedding_model = "hash-64"\nsemantic_min_similarity = 0.2\n{OTHER_COMMUNITY}',
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
    # Full text needs both words: only #1. The checklist shares one word, close enough.
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
    assert "🔎 1 insight(s) match “pairing newcomers”" in output  # exactly full text
    assert openai_server.requests == []


async def test_only_opted_in_communities_text_is_embedded_and_edits_are_re_embedded(
    database_url: str, tmp_path: Path, openai_server: OpenAILoopback
) -> None:
    output = await run_script(
        endpoint_config(database_url, tmp_path),
        [
            ":channel other",
            "/insight Secret newcomers handbook of the other community #onboarding",
            "/search pairing newcomers",
            ":channel general",
            *CAPTURES,
            "/insight edit 4 Newcomers settle in faster with a written checklist",
            "/search pairing newcomers",
        ],
        model=model_for(openai_server),
    )
    assert "No insights match “pairing newcomers”." in output  # other: full text only
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
        [*CAPTURES, endpoint_down, "/search pairing newcomers"],
        model=model_for(openai_server),
    )
    assert "🔎 1 insight(s) match “pairing newcomers”" in output
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
