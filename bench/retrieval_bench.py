"""Retrieval benchmark: does search find what the user meant? (issue 18)

    make bench-retrieval
    python -m bench.retrieval_bench --conversations 6 --turns 400 --latency-rows 6000

The set is bench/retrieval_data.py: one user per conversation, every turn a memory, questions
with known evidence of four types. Memories are embedded by the real local model
(EMBEDDING_BACKEND=local). For each question: recall@5/10/20 and hit@10 of Engram's semantic,
keyword and hybrid search and of a plain BM25 baseline (``rank-bm25``, a test requirement, over
lower-cased words). Conversations are split: the first half tunes the fusion (weight and depth,
convex combination against reciprocal rank fusion) and the relevance floor, the second half is
reported with what the tuning chose. Hybrid's recall@10 is of answers ten long, as a search with
``top_k`` 10 gives them (the keyword leg's best keeps a place among the first ``top_k``).
Latency (bench/retrieval_latency.py): p50/p95 of the search endpoint over HTTP (the server
`make run` starts, bench/search_http.py) for a user with ``--latency-rows`` memories, with the
query embedded (a new query) and cached (the same query again), next to baselines timed in the
same run: the model alone, an in-process exact search, and that search served by the same
server with nothing else (bench/search_floor.py).

Runs in its own database (``engram_bench_retrieval``); results: a JSON file in bench/results/
and markdown on stdout (copied into bench/README.md by hand).
"""

import argparse
import hashlib
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from bench import retrieval_latency
from bench.memories_bench import bench_setup, machine
from bench.results_io import bench_write_results
from bench.retrieval_data import Conversation, Question, conversation

KINDS = ["wrong_person", "spread", "paraphrase", "rare_word"]
SYSTEMS = ["semantic", "keyword", "hybrid", "bm25"]
WEIGHTS = [round(0.1 * i, 1) for i in range(1, 10)]
DEPTHS = [50, 100, 150, 200]
RRF_K = 60
_WORD = re.compile(r"\w+")


# --- Set-up ----------------------------------------------------------------------------------


def load(conversations: list[Conversation], *, batch: int = 64) -> list[tuple[Any, list]]:
    """A user per conversation with its turns as embedded memories: ``(user, memory ids)``."""
    from accounts.models import User
    from billing.tiers import Tier
    from memories.models import Memory, MemoryChunk
    from providers.embeddings import get_embedder

    User.objects.filter(email__startswith="retrieval-").delete()
    embedder = get_embedder()
    loaded = []
    for number, talk in enumerate(conversations):
        user = User.objects.create(email=f"retrieval-{number}@example.com", tier=Tier.TEAM)
        vectors = []
        for start in range(0, len(talk.turns), batch):
            vectors.extend(embedder.embed(talk.turns[start : start + batch]))
        memories = Memory.objects.bulk_create(
            Memory(
                user=user, content=text, content_hash=hashlib.sha256(text.encode()).hexdigest(),
                size_bytes=len(text.encode()), embedding_status="ready",
                embedding_model=embedder.name,
            )
            for text in talk.turns
        )  # fmt: skip
        MemoryChunk.objects.bulk_create(
            MemoryChunk(
                memory=memory, user=user, model=embedder.name, position=0, start=0,
                end=len(memory.content), embedding=list(vector),
            )
            for memory, vector in zip(memories, vectors, strict=True)
        )  # fmt: skip
        loaded.append((user, [memory.pk for memory in memories]))
    return loaded


# --- Ranking ---------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def bm25_rankings(talk: Conversation, ids: list, top: int) -> list[list]:
    from rank_bm25 import BM25Okapi

    index = BM25Okapi([words(turn) for turn in talk.turns])
    rankings = []
    for question in talk.questions:
        scores = index.get_scores(words(question.text))
        order = sorted(range(len(ids)), key=lambda i: -scores[i])[:top]
        rankings.append([ids[i] for i in order if scores[i] > 0])
    return rankings


def engram_rankings(user, talk: Conversation, mode: str, top: int) -> list[list]:
    """Each question's ``top`` memories. Hybrid's first ten are those of a search asking for
    ten: the keyword leg's best keeps a place among the first ``top_k``, so a longer answer's
    first ten can differ."""
    from memories.selectors import memories_search

    def found(text: str, top_k: int) -> list:
        return [hit.memory.pk for hit in memories_search(
            user=user, query=text, mode=mode, top_k=top_k).hits]  # fmt: skip

    rankings = []
    for question in talk.questions:
        ranking = found(question.text, top)
        if mode == "hybrid" and top > 10:
            first = found(question.text, 10)
            ranking = first + [pk for pk in ranking if pk not in first]
        rankings.append(ranking)
    return rankings


def legs(user, talk: Conversation, depth: int) -> list[tuple[list, list]]:
    """Each question's two candidate lists, ``depth`` long, as hybrid search fetches them."""
    from memories.filters import MemoryFilters
    from memories.search.query_vectors import query_vector
    from memories.search.rankers import SqlRanker
    from providers.embeddings import get_embedder

    embedder = get_embedder()
    out = []
    for question in talk.questions:
        ranker = SqlRanker(
            user=user, query=question.text, model=embedder.name, filters=MemoryFilters(),
            heavy=False,
        )  # fmt: skip
        legs = ranker.rank(
            vector=query_vector(embedder, question.text), threshold=None, keyword=True,
            depth=depth,
        )  # fmt: skip
        out.append((legs.semantic, legs.keyword))
    return out


def convex(semantic: list, keyword: list, depth: int, weight: float) -> list:
    """The hybrid ranking search would answer with ``top_k`` 10."""
    from memories.search.fusion import fuse, keyword_best_kept

    keyword = keyword[:depth]
    fused = fuse(semantic[:depth], keyword, depth=depth, weight=weight)
    return keyword_best_kept(fused, keyword, top_k=10)


def rrf(semantic: list, keyword: list, depth: int) -> list:
    """Reciprocal rank fusion. Equal sums are common (first in one leg only against first in
    the other only): they go to the better best rank, then to the semantic leg's order, so that
    the memories' ids, new each run, do not decide them (the baseline moved ±0.02 between runs)."""
    scores: dict = defaultdict(float)
    best: dict = {}
    semantic_rank: dict = {}
    for leg, ranked in enumerate((semantic[:depth], keyword[:depth])):
        for position, row in enumerate(ranked, start=1):
            pk = row[0]
            scores[pk] += 1.0 / (RRF_K + position)
            best[pk] = min(best.get(pk, position), position)
            if leg == 0:
                semantic_rank[pk] = position
    return sorted(scores, key=lambda pk: (-scores[pk], best[pk], semantic_rank.get(pk, depth + 1)))


# --- Metrics ---------------------------------------------------------------------------------


Judged = list[tuple[Question, set, list]]  # (question, its evidence's ids, ranking)


def judged(sets: list[tuple[Any, list, Conversation]], rankings: list[list]) -> Judged:
    """Evidence questions with their evidence ids and rankings (``rankings`` in the order of
    the sets' questions)."""
    pairs = [(q, ids) for _, ids, talk in sets for q in talk.questions]
    return [
        (q, {ids[i] for i in q.evidence}, ranking)
        for (q, ids), ranking in zip(pairs, rankings, strict=True)
        if q.evidence
    ]


def metrics(rows: Judged) -> dict[str, dict]:
    """recall@5/10/20 and hit@10 per question type and over all types ("all")."""
    per_kind: dict[str, list[dict]] = defaultdict(list)
    for question, evidence, ranking in rows:
        row = {f"recall@{k}": len(evidence & set(ranking[:k])) / len(evidence) for k in (5, 10, 20)}
        row["hit@10"] = float(bool(evidence & set(ranking[:10])))
        row["answered"] = float(bool(ranking))
        per_kind[question.kind].append(row)
        per_kind["all"].append(row)
    return {
        kind: {key: round(statistics.mean(r[key] for r in rows), 4) for key in rows[0]}
        | {"questions": len(rows)}
        for kind, rows in per_kind.items()
    }


def recall_by_kind(rows: Judged, k: int = 10) -> dict[str, float]:
    """recall@k per question type."""
    by_kind: dict[str, list[float]] = defaultdict(list)
    for question, evidence, ranking in rows:
        by_kind[question.kind].append(len(evidence & set(ranking[:k])) / len(evidence))
    return {kind: statistics.mean(values) for kind, values in by_kind.items()}


def tune(tuning: list[tuple[Any, list, Conversation]]) -> dict:
    """Weight and depth of the convex fusion, and RRF's best depth, on the tuning conversations;
    then the relevance floor. The product's promise is "never worse than BM25, nor than its own
    keyword search, on any kind of question", so the choice is the best macro recall@10 (each
    type counting the same) among the settings that match both on every type (failing that,
    the smallest loss), then the best macro recall@5. Depths start past 40: a rank-41 semantic
    hit with a strong keyword match must be able to surface (issue 18)."""
    all_legs = [pair for user, _, talk in tuning for pair in legs(user, talk, max(DEPTHS))]
    bm25 = recall_by_kind(
        judged(tuning, [r for user, ids, talk in tuning for r in bm25_rankings(talk, ids, 20)])
    )
    keyword = recall_by_kind(judged(tuning, [[row[0] for row in k] for _, k in all_legs]))
    grid = []

    def add(row: dict, rankings: list[list]) -> None:
        rows = judged(tuning, rankings)
        by_kind = recall_by_kind(rows)
        row["macro_recall@10"] = round(statistics.mean(by_kind.values()), 4)
        row["macro_recall@5"] = round(statistics.mean(recall_by_kind(rows, 5).values()), 4)
        row["worst_gap"] = round(min(by_kind[k] - max(bm25[k], keyword[k]) for k in by_kind), 4)
        grid.append(row)

    for depth in DEPTHS:
        for weight in WEIGHTS:
            rankings = [[item.pk for item in convex(s, k, depth, weight)] for s, k in all_legs]
            add({"fusion": "convex", "depth": depth, "weight": weight}, rankings)
        add({"fusion": "rrf", "depth": depth, "k": RRF_K}, [rrf(s, k, depth) for s, k in all_legs])

    def rank(row: dict) -> tuple:
        return (min(row["worst_gap"], 0), row["macro_recall@10"], row["macro_recall@5"],
                -abs(row["weight"] - 0.5))  # fmt: skip

    best = max((row for row in grid if row["fusion"] == "convex"), key=rank)
    best_rrf = max(
        (row for row in grid if row["fusion"] == "rrf"),
        key=lambda row: (min(row["worst_gap"], 0), row["macro_recall@10"]),
    )
    return {"grid": grid, "bm25_recall@10": bm25, "keyword_recall@10": keyword, "best": best,
            "best_rrf": best_rrf,
            "floor": floor(tuning, all_legs, best)}  # fmt: skip


def floor(sets: list[tuple[Any, list, Conversation]], all_legs: list, best: dict) -> dict:
    """The relevance floor: the fused score that 95% of evidence found in the top 5 reaches,
    and how many off-topic questions still send a memory above it."""
    evidence_scores, unrelated_top = [], []
    pairs = [(q, ids) for _, ids, talk in sets for q in talk.questions]
    for (semantic, keyword), (question, ids) in zip(all_legs, pairs, strict=True):
        fused = convex(semantic, keyword, best["depth"], best["weight"])[:5]
        if not question.evidence:
            unrelated_top.append(fused[0].score if fused else 0.0)
            continue
        wanted = {ids[i] for i in question.evidence}
        evidence_scores += [item.score for item in fused if item.pk in wanted]
    evidence_scores.sort()
    value = round(evidence_scores[int(0.05 * len(evidence_scores))], 2)
    kept = sum(s >= value for s in evidence_scores) / len(evidence_scores)
    return {
        "value": value,
        "evidence_in_top5_kept": round(kept, 4),
        "unrelated_questions": len(unrelated_top),
        "unrelated_with_any_memory_above": sum(s >= value for s in unrelated_top),
        "unrelated_top_score_max": round(max(unrelated_top), 4),
    }


# --- Run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    from django.conf import settings

    started = time.perf_counter()
    conversations = [conversation(seed, args.turns) for seed in range(args.conversations)]
    loaded = load(conversations)
    half = max(1, len(conversations) // 2)
    sets = [(user, ids, talk) for (user, ids), talk in zip(loaded, conversations, strict=True)]
    tuning_set, report_set = sets[:half], sets[half:]
    result: dict[str, Any] = {
        "benchmark": "retrieval",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": "after",
        "memories": sum(len(t.turns) for t in conversations),
        "questions": sum(evidence_questions(t) for t in conversations),
        "report_questions": sum(evidence_questions(t) for _, _, t in report_set),
    }
    tuned = tune(tuning_set)
    result["tuning"] = tuned
    if not args.keep_settings:
        settings.MEMORY_SEARCH_DEPTH = tuned["best"]["depth"]
        settings.MEMORY_SEARCH_SEMANTIC_WEIGHT = tuned["best"]["weight"]
    result["settings"] = {
        "MEMORY_SEARCH_DEPTH": settings.MEMORY_SEARCH_DEPTH,
        "MEMORY_SEARCH_SEMANTIC_WEIGHT": settings.MEMORY_SEARCH_SEMANTIC_WEIGHT,
    }
    report: dict[str, dict] = {}
    questions = [q for _, _, talk in report_set for q in talk.questions]
    for system in [*SYSTEMS, "rrf"]:
        rankings = []
        for user, ids, talk in report_set:
            if system == "bm25":
                rankings += bm25_rankings(talk, ids, 20)
            elif system == "rrf":
                depth = result["tuning"]["best_rrf"]["depth"]
                rankings += [rrf(s, k, depth)[:20] for s, k in legs(user, talk, depth)]
            else:
                rankings += engram_rankings(user, talk, system, 20)
        report[system] = metrics(judged(report_set, rankings))
    result["report"] = report
    if args.latency_rows:
        print(markdown(result), file=sys.stderr)  # the recall figures, should timing fail
        # Distinct questions: each is a new query to the server once.
        texts = list(dict.fromkeys(q.text for q in questions))
        texts = texts[: args.latency_queries + retrieval_latency.WARM_UP]
        latency: dict[str, Any] = {
            "queries": len(texts) - retrieval_latency.WARM_UP,
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "users": [],
        }
        for rows in args.latency_rows:
            user = retrieval_latency.load_latency_user(loaded, rows)
            latency["users"].append(retrieval_latency.endpoint(user, texts))
        latency["breakdown"] = retrieval_latency.breakdown(user, texts)
        latency["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        result["latency"] = latency
    result["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def evidence_questions(talk: Conversation) -> int:
    return sum(1 for q in talk.questions if q.evidence)


def markdown(result: dict) -> str:
    load = result["machine"]["load_average_at_start"]
    lines = [
        f"Retrieval ({result['code']}): {result['memories']:,} memories, "
        f"{result['report_questions']} report questions; load {load}",
        "",
        "| system | type | recall@5 | recall@10 | recall@20 | hit@10 | answered |",
        "|---|---|---|---|---|---|---|",
    ]
    for system, kinds in result["report"].items():
        for kind in [*KINDS, "all"]:
            if row := kinds.get(kind):
                recalls = " | ".join(f"{row[f'recall@{k}']:.3f}" for k in (5, 10, 20))
                lines.append(
                    f"| {system} | {kind} | {recalls} | {row['hit@10']:.3f} "
                    f"| {row['answered']:.2f} |"
                )
    if "latency" in result:
        lines += ["", *retrieval_latency.markdown(result["latency"])]
    if "tuning" in result:
        tuned = result["tuning"]
        lines += [
            "",
            f"Tuned: {tuned['best']}; best RRF: {tuned['best_rrf']}; floor: {tuned['floor']}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=6)
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument(
        "--latency-rows", type=int, nargs="*", default=[600, 6_000], help="none: no latency"
    )
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument(
        "--keep-settings",
        action="store_true",
        help="Report with the configured weight and depth, not the tuned ones.",
    )
    args = parser.parse_args(argv)
    os.environ["EMBEDDING_BACKEND"] = "local"
    bench_setup("engram_bench_retrieval")
    result = run(args)
    bench_write_results(f"retrieval-{result['code']}", result, markdown(result))


if __name__ == "__main__":
    main()
