"""``prefkit explain principles``: Inverse Constitutional AI, with an LLM judge or offline (embeddings, reward)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from prefkit.cli._common import console, input_file, output_file, print_json
from prefkit.errors import InputError, ValidationError

MODEL_HELP = (
    "Chat model that proposes and/or votes: local:smollm2 (packaged local model) or a model name on an "
    "OpenAI-compatible server (--base-url; key from OPENAI_API_KEY)."
)


def read_principle_pairs(path: Path) -> Any:
    """ICAI's feedback CSV (text_a, text_b, preferred_text), its annotated-pairs v2 JSON, or any prefkit data
    file whose pairs carry texts (TRL / prefkit JSONL, a project store, an llmfao directory)."""
    from prefkit.analysis import principles as icai

    if path.is_file():
        with path.open("rb") as fh:
            head = fh.read(4096)
        first_line = head.split(b"\n", 1)[0]
        if path.suffix.lower() == ".csv" and b"text_a" in first_line and b"preferred_text" in first_line:
            return icai.read_icai_csv(path)
        if path.suffix.lower() == ".json" and head.lstrip().startswith(b"{") and b'"comparisons"' in head:
            return icai.read_annotated_pairs(path)
    from prefkit.cli.explain import load_pairs

    return icai.from_judged_pairs(load_pairs(path))


def read_pool(path: Path) -> list[str]:
    """One principle per line (blank lines and lines starting with # skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text; give one principle per line", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    out = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not out:
        raise InputError("no principle in the pool; give one principle per line", path=path)
    return out


def _encoder(name: str) -> Any:
    from prefkit.reward.encoders import make_encoder, parse_encoder

    return make_encoder(parse_encoder(name))


def _model_chat(
    stack: Any,
    model: str,
    base_url: str | None,
    cache: Path | None,
    no_cache: bool,
    max_tokens: int,
    seed: int,
    quiet: bool,
) -> Any:
    """The chat model of ``--model`` (a judge runner, replies cached), with a progress line of its calls."""
    from prefkit.cli._chat import open_chat
    from prefkit.cli._common import progress_bar

    advance = stack.enter_context(progress_bar("asking the model", None, quiet=quiet))
    return open_chat(
        stack,
        model,
        base_url=base_url,
        cache=cache,
        no_cache=no_cache,
        max_tokens=max_tokens,
        seed=seed,
        progress=advance,
        scripted=False,
    )


class PairJudgeConstitution:
    """A prefkit pair judge (the ``PairJudge`` protocol: scripted, reward model, an LLM with a prompt pack) as
    ICAI's constitution judge: the constitution goes into the question it is shown
    (:func:`prefkit.analysis.principles.constitution_question`); a tie, an unparsed or a failed verdict is 0."""

    def __init__(self, judge: Any) -> None:
        self.judge = judge

    def predict(self, constitution: Any, pairs: Any) -> Any:
        import numpy as np

        from prefkit.analysis.principles import constitution_question
        from prefkit.annotation.types import PairTask
        from prefkit.data.model import OUTCOME_A, OUTCOME_B

        tasks = [
            PairTask(
                constitution_question(list(constitution), pairs.prompts[i]), pairs.a[i], pairs.b[i], row=i
            )
            for i in range(len(pairs))
        ]
        code = {OUTCOME_A: 1, OUTCOME_B: -1}
        return np.asarray([code.get(v.outcome, 0) for v in self.judge.judge_pairs(tasks)], dtype=np.int64)


def _constitution_judge(
    stack: Any, name: str, chat: Any, model: str | None, open_model: Any, seed: int
) -> Any:
    """The judge that reads the constitution: ``scripted[:...]`` / ``reward:DIR`` through the pair-judge
    protocol, any chat model (``local:NAME``, a server's model) through ICAI's judge prompt."""
    from prefkit.analysis import principles as icai

    if name == "scripted" or name.startswith(("scripted:", "reward:")):
        from prefkit.annotation.factory import JudgeOptions, open_judge

        judge, _ = stack.enter_context(open_judge(name, JudgeOptions(seed=seed)))
        return PairJudgeConstitution(judge)
    return icai.ChatConstitutionJudge(chat if chat is not None and name == model else open_model(name))


def _chats_of(*objs: Any) -> list[Any]:
    """The chat models behind voters and judges (their ``failed`` counts say whether every request was answered)."""
    out = {id(c): c for c in (getattr(o, "chat", o) for o in objs if o is not None)}
    return list(out.values())


def principles_cmd(
    file: Path = typer.Argument(
        ..., help="Judged pairs with texts (ICAI CSV / JSON, TRL or prefkit JSONL).", callback=input_file
    ),
    voter: str = typer.Option("embedding", "--voter", help="judge (a chat model) | embedding | reward"),
    model: str = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    judge: str = typer.Option(
        None,
        "--judge",
        help="Judge that reads only the constitution and predicts the held-out verdicts (default: --model): "
        "local:smollm2, a server's model, scripted[:...] or reward:DIR.",
    ),
    reconstruct: str = typer.Option(
        "auto",
        "--reconstruct",
        help="judge (ICAI: the judge reads the constitution) | votes (offline: majority of the principles' "
        "votes) | auto (judge when --judge or --model is given).",
    ),
    cross_validate: int = typer.Option(
        0, "--cross-validate", help="K: reconstruct over K folds (every pair held out once); 0: one split."
    ),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server for --model."),
    propose: bool = typer.Option(
        False, "--propose", help="Let --model propose candidates from the pairs (ICAI)."
    ),
    pool: Path = typer.Option(
        None, "--pool", help="Candidate principles, one per line (default: the --preset pool)."
    ),
    preset: str = typer.Option(
        None,
        "--preset",
        help="Built-in pool when no --pool: properties (prefkit's; the default without --propose) | dissection "
        "(Preference Dissection's 29) | all | none (the default with --propose: the model's proposals only).",
    ),
    encoder: str = typer.Option(
        "all-MiniLM-L6-v2", "--encoder", help="Encoder of the embedding voter and the clustering."
    ),
    reward: Path = typer.Option(None, "--reward", help="Reward model directory for --voter reward."),
    clusters: int = typer.Option(
        20, "--clusters", help="Clusters of candidates (one principle kept from each)."
    ),
    min_relevance: float = typer.Option(
        0.1, "--min-relevance", help="Share of pairs a principle must apply to."
    ),
    min_accuracy: float = typer.Option(0.6, "--min-accuracy", help="Share of applied votes that must match."),
    max_principles: int = typer.Option(5, "--max-principles", help="Size of the constitution."),
    test_fraction: float = typer.Option(0.3, "--test-fraction", help="Pairs held out for reconstruction."),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Write the pairs and votes as ICAI annotated-pairs JSON.",
        callback=output_file,
    ),
    cache: Path = typer.Option(None, "--cache", help="Reply cache (SQLite; default ~/.cache/prefkit)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the reply cache."),
    max_tokens: int = typer.Option(128, "--max-tokens", help="Answer length cap of the chat model."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the clustering."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Mine the principles (a constitution) that explain the verdicts of FILE, and test them on held-out pairs.

    Example: prefkit explain principles synthetic_data_orthogonal_adcbg.csv --pool principles.txt --format json
    """
    from contextlib import ExitStack

    from prefkit.analysis import principles as icai

    if fmt not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {fmt!r}")
    if voter not in ("judge", "embedding", "reward"):
        raise ValidationError(f"--voter must be judge, embedding or reward, got {voter!r}")
    if reconstruct not in ("auto", "judge", "votes"):
        raise ValidationError(f"--reconstruct must be judge, votes or auto, got {reconstruct!r}")
    if (voter == "judge" or propose) and not model:
        raise ValidationError("--voter judge and --propose need --model (local:smollm2 or a server's model)")
    judge_name = (judge or model) if reconstruct != "votes" else None
    if reconstruct == "judge" and not judge_name:
        raise ValidationError(
            "--reconstruct judge needs --judge (or --model): the judge that reads the constitution"
        )
    if voter == "reward" and reward is None:
        raise ValidationError(
            "--voter reward needs --reward DIR (a model from prefkit reward train --out DIR)"
        )
    if clusters < 1 or max_principles < 1:
        raise ValidationError("--clusters and --max-principles must be >= 1")
    if cross_validate == 1 or cross_validate < 0:
        raise ValidationError(f"--cross-validate takes K >= 2 folds (0: one split), got {cross_validate}")
    for flag, x in (("--min-relevance", min_relevance), ("--min-accuracy", min_accuracy)):
        if not 0.0 <= x <= 1.0:
            raise ValidationError(f"{flag} must be in [0, 1], got {x}")
    pairs = read_principle_pairs(file)
    if cross_validate > len(pairs):
        raise ValidationError(f"--cross-validate {cross_validate}: more folds than the {len(pairs)} pairs")
    preset = preset or ("none" if propose else "properties")
    if preset not in (*icai.POOLS, "none"):
        raise ValidationError(f"--preset must be one of {', '.join(icai.POOLS)} or none, got {preset!r}")
    if preset == "none" and pool is None and not propose:
        raise ValidationError("--preset none leaves no candidates: give --pool FILE or --propose")
    candidates = read_pool(pool) if pool is not None else list(icai.POOLS.get(preset, ()))
    from prefkit.cli.bench import check_answered, resumable

    with resumable(no_cache), ExitStack() as stack:

        def open_model(name: str) -> Any:
            return _model_chat(stack, name, base_url, cache, no_cache, max_tokens, seed, quiet)

        chat = open_model(model) if (voter == "judge" or propose) else None
        cj = _constitution_judge(stack, judge_name, chat, model, open_model, seed) if judge_name else None
        enc = _encoder(encoder)
        v: Any
        if voter == "judge":
            v = icai.ChatVoter(chat)  # type: ignore[arg-type]
        elif voter == "embedding":
            v = icai.EmbeddingVoter(enc)
        else:
            from prefkit.cli._chat import reward_p_first

            v = icai.ProbabilityVoter(reward_p_first(str(reward)))
        kw: dict[str, Any] = dict(
            candidates=candidates, proposer=chat if propose else None, encoder=enc, judge=cj, n_clusters=clusters,
            min_relevance=min_relevance, min_accuracy=min_accuracy, max_principles=max_principles, seed=seed,
        )  # fmt: skip
        cv = icai.cross_validate(pairs, v, folds=cross_validate, **kw) if cross_validate else None
        res = icai.mine_constitution(pairs, v, test_fraction=0.0 if cv else test_fraction, **kw)
        check_answered(_chats_of(chat, cj), no_cache)
        if out is not None:
            texts = [s.text for s in res.principles]
            icai.write_annotated_pairs(out, pairs, texts, v.vote(texts, pairs), name=str(file))
            check_answered(_chats_of(chat), no_cache)
    rec = cv.reconstruction if cv is not None else res.reconstruction
    by = f"judge {judge_name}" if rec.method == "judge" else f"votes of the principles ({voter} voter)"
    doc = {**res.to_dict(), "reconstruction": rec.to_dict(), "reconstructed_by": by}
    if cv is not None:
        doc["folds"] = [{"principles": c} for c in cv.constitutions]
    if fmt == "json":
        print_json(doc)
        return
    from rich.table import Table

    t = Table(title=f"constitution mined from {len(res.train_idx)} pairs of {file.name}")
    for col in ("principle", "support", "relevance", "accuracy"):
        t.add_column(col, justify="left" if col == "principle" else "right")
    for s in res.principles:
        t.add_row(s.text, str(s.support), f"{s.relevance:.0%}", f"{s.accuracy:.0%}")
    console.print(t)
    where = f"{rec.n} pairs, each held out once ({cross_validate} folds)" if cv else f"{rec.n} held-out pairs"
    console.print(
        f"reconstruction by {by} on {where}: {rec.accuracy:.1%} (95% CI {rec.lower:.1%}-{rec.upper:.1%}; "
        f"{rec.abstained} without a verdict, counted one half); without the constitution: {rec.baseline:.1%}"
    )


CRITERIA_POOL = (
    "Select the response that is more accurate and correct.",
    "Select the response that is more helpful to the user.",
    "Select the response that is clearer and easier to follow.",
    "Select the response that is more complete.",
    "Select the response that is more concise.",
    "Select the response that is better organised.",
    "Select the response that is more specific and concrete.",
    "Select the response that is safer.",
)


def criteria_cmd(
    file: Path = typer.Argument(
        ...,
        help="Human-labelled pairs with texts (ICAI CSV / JSON, TRL or prefkit JSONL).",
        callback=input_file,
    ),
    voter: str = typer.Option("judge", "--voter", help="judge (a chat model) | embedding"),
    model: str = typer.Option(None, "--model", "-m", help=MODEL_HELP + " Also refines the criteria."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server for --model."),
    pool: Path = typer.Option(
        None, "--pool", help="Initial criteria, one per line (default: a generic list)."
    ),
    propose: bool = typer.Option(
        False,
        "--propose",
        help="Let --model propose initial criteria from the training pairs (added to --pool).",
    ),
    encoder: str = typer.Option("all-MiniLM-L6-v2", "--encoder", help="Encoder of the embedding voter."),
    train: int = typer.Option(30, "--train", help="Pairs to mine on (the rest test the scorer)."),
    rounds: int = typer.Option(3, "--rounds", help="Rounds of judge / keep / refine."),
    keep_accuracy: float = typer.Option(
        0.7, "--keep-accuracy", help="Agreement with the humans to keep a criterion."
    ),
    min_coverage: float = typer.Option(
        0.2, "--min-coverage", help="Share of pairs a kept criterion must decide."
    ),
    cache: Path = typer.Option(None, "--cache", help="Reply cache (SQLite; default ~/.cache/prefkit)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the reply cache."),
    max_tokens: int = typer.Option(128, "--max-tokens", help="Answer length cap of the chat model."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train / test split."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Evolve quality criteria from human-labelled pairs (CritiQ) and train a scorer on their verdicts.

    Example: prefkit explain criteria labelled.csv --model local:smollm2 --train 30 --rounds 2 --format json
    """
    from contextlib import ExitStack

    import numpy as np

    from prefkit.analysis import criteria as critiq
    from prefkit.analysis import principles as icai

    if fmt not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {fmt!r}")
    if voter not in ("judge", "embedding"):
        raise ValidationError(f"--voter must be judge or embedding, got {voter!r}")
    if voter == "judge" and not model:
        raise ValidationError("--voter judge needs --model (local:smollm2 or a server's model)")
    if propose and not model:
        raise ValidationError("--propose needs --model (local:smollm2 or a server's model)")
    if train < 2:
        raise ValidationError(f"--train must be >= 2, got {train}")
    for flag, x in (("--keep-accuracy", keep_accuracy), ("--min-coverage", min_coverage)):
        if not 0.0 <= x <= 1.0:
            raise ValidationError(f"{flag} must be in [0, 1], got {x}")
    pairs = read_principle_pairs(file)
    initial = read_pool(pool) if pool is not None else ([] if propose else list(CRITERIA_POOL))
    perm = np.random.default_rng(seed).permutation(len(pairs))
    tr, te = pairs.take(np.sort(perm[:train])), pairs.take(np.sort(perm[train:]))
    from prefkit.cli.bench import check_answered, resumable

    with resumable(no_cache), ExitStack() as stack:
        chat = None
        if model:
            chat = _model_chat(stack, model, base_url, cache, no_cache, max_tokens, seed, quiet)
        v: Any = icai.ChatVoter(chat) if voter == "judge" else icai.EmbeddingVoter(_encoder(encoder))  # type: ignore[arg-type]
        if propose:
            initial = list(dict.fromkeys([*initial, *icai.propose_principles(chat, tr)]))  # type: ignore[arg-type]
            if not initial:
                raise ValidationError(
                    f"{model} proposed no criterion (no 'Select the response that ...' line)"
                )
        res = critiq.mine_criteria(
            tr,
            v,
            initial,
            refiner=chat,
            rounds=rounds,
            keep_accuracy=keep_accuracy,
            min_coverage=min_coverage,
        )
        scorer = critiq.CriteriaScorer().fit(v.vote(res.criteria, tr), tr.pref)
        test_acc = scorer.accuracy(v.vote(res.criteria, te), te.pref) if len(te) else float("nan")
        check_answered(_chats_of(chat), no_cache)
    doc: dict[str, Any] = {
        "criteria": [
            {"text": t, "weight": float(w)} for t, w in zip(res.criteria, scorer.weights_, strict=True)
        ],
        "rounds": [
            {"round": k, "judged": len(r.criteria), "kept": r.kept, "accuracy": r.majority_accuracy}
            for k, r in enumerate(res.rounds)
        ],
        "scorer": {
            "train_accuracy": scorer.accuracy(v.vote(res.criteria, tr), tr.pref),
            "test_accuracy": test_acc,
            "n_train": len(tr),
            "n_test": len(te),
        },
    }
    if fmt == "json":
        print_json(doc)
        return
    for r in doc["rounds"]:
        console.print(f"round {r['round']}: {r['judged']} criteria judged, {len(r['kept'])} kept, "
                      f"majority agreement with the humans {r['accuracy']:.1%}")  # fmt: skip
    for c in doc["criteria"]:
        console.print(f"  {c['weight']:+.2f}  {c['text']}")
    s = doc["scorer"]
    console.print(f"scorer: {s['train_accuracy']:.1%} on {s['n_train']} training pairs, "
                  f"{s['test_accuracy']:.1%} on {s['n_test']} held-out pairs")  # fmt: skip


def register(app: typer.Typer) -> None:
    from prefkit.cli.explain import explain_app

    explain_app.command("principles")(principles_cmd)
    explain_app.command("criteria")(criteria_cmd)
