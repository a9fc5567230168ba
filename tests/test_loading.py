"""Choosing a repo's files, pickle weights through the restricted unpickler in a token-free child,
and SentencePiece-only tokenizers, down to scored tiny models."""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
from pathlib import Path

import pytest

from ranker import protocol
from ranker.errors import FailureKind, ModelFailure, ModelRefused, RankerError, Reason
from ranker.evaluate import pickles
from ranker.evaluate.files import content_hash, select_files
from ranker.evaluate.loading import inspect

try:
    import torch
    import transformers  # noqa: F401
except ImportError:  # the eval extra is missing: only the pure checks run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs the eval extra (torch)")

# -- select_files (pure: no torch) -------------------------------------------------------------

TOKENIZER = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
             "merges.txt"]  # fmt: skip
NOISE = [".gitattributes", "README.md", "training_args.bin", "model.pt", "weights.ckpt",
         "optimizer.pth", "modeling_custom.py", "tokenization_custom.py", "onnx/model.onnx",
         "model.onnx", "checkpoint-500/model.safetensors", "checkpoint-500/pytorch_model.bin",
         "checkpoint-500/config.json", "sub/tokenizer.json", "rust_model.ot"]  # fmt: skip


def test_root_safetensors_are_preferred_to_every_other_format() -> None:
    paths = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5",
             "flax_model.msgpack", *TOKENIZER, *NOISE]  # fmt: skip
    files, fmt = select_files(paths)
    assert fmt == "safetensors"
    assert files == sorted(["config.json", "model.safetensors", *TOKENIZER])


def test_sharded_safetensors_come_with_their_index() -> None:
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    paths = ["config.json", "model.safetensors.index.json", *shards, "pytorch_model.bin",
             "adapter_model.safetensors", "spm.model", *NOISE]  # fmt: skip
    files, fmt = select_files(paths)
    assert fmt == "safetensors"
    assert files == sorted(["config.json", "model.safetensors.index.json", *shards, "spm.model"])


def test_pickle_only_repo_gets_its_root_pickle() -> None:
    paths = ["config.json", "pytorch_model.bin", "tf_model.h5", *TOKENIZER, *NOISE]
    files, fmt = select_files(paths)
    assert fmt == "pickle"
    assert files == sorted(["config.json", "pytorch_model.bin", *TOKENIZER])


def test_sharded_pickle_comes_with_its_index() -> None:
    shards = [f"pytorch_model-0000{i}-of-00003.bin" for i in (1, 2, 3)]
    paths = ["config.json", "pytorch_model.bin.index.json", *shards, "spiece.model", *NOISE]
    files, fmt = select_files(paths)
    assert fmt == "pickle"
    assert files == sorted(["config.json", "pytorch_model.bin.index.json", *shards, "spiece.model"])


@pytest.mark.parametrize(
    "paths",
    [
        ["config.json", *TOKENIZER, *NOISE, "model.safetensors"],
        ["config.json", *TOKENIZER, *NOISE, "pytorch_model.bin"],
    ],
)
def test_subfolder_code_onnx_tf_flax_and_other_pickles_are_never_chosen(paths) -> None:
    files, _ = select_files([*paths, "tf_model.h5", "flax_model.msgpack"])
    assert all("/" not in f for f in files)
    assert not [f for f in files if f.endswith((".onnx", ".h5", ".msgpack", ".py", ".pt", ".ckpt",
                                                ".pth", ".ot", ".md"))]  # fmt: skip
    assert "training_args.bin" not in files


def test_weights_only_in_subfolders_are_refused_naming_them() -> None:
    paths = ["config.json", *TOKENIZER, "checkpoint-500/model.safetensors",
             "checkpoint-1000/pytorch_model.bin", "checkpoint-1000/config.json"]  # fmt: skip
    with pytest.raises(ModelRefused, match="checkpoint-1000/, checkpoint-500/") as info:
        select_files(paths)
    assert info.value.reason is Reason.SUBFOLDER_ONLY
    assert isinstance(info.value, ModelFailure) and info.value.kind is FailureKind.PERMANENT


@pytest.mark.parametrize(
    ("weights", "named"),
    [
        (["model.onnx", "onnx/model_quantized.onnx"], "model.onnx"),
        (["tf_model.h5"], "tf_model.h5"),
        (["flax_model.msgpack"], "flax_model.msgpack"),
        (["model.pt", "adapter_model.safetensors"], "adapter_model.safetensors"),
        ([], "no weight files at all"),
    ],
)
def test_no_weights_we_read_is_refused_saying_what_was_found(weights, named) -> None:
    with pytest.raises(ModelRefused, match=re.escape(named)) as info:
        select_files(["config.json", *TOKENIZER, "README.md", *weights])
    assert info.value.reason is Reason.NO_WEIGHTS


def test_a_repo_without_config_is_refused_first() -> None:
    with pytest.raises(ModelRefused, match=r"no config\.json") as info:
        select_files(["model.safetensors", "sub/config.json", *TOKENIZER])
    assert info.value.reason is Reason.NO_CONFIG


# -- pickle weights, converted in a token-free child ---------------------------------------------


def test_a_local_folder_with_weights_only_in_subfolders_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "local"
    (folder / "checkpoint-500").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "checkpoint-500" / "model.safetensors").write_bytes(b"unread")
    with pytest.raises(ModelRefused, match="checkpoint-500/") as info:
        inspect(folder, "local", "r", 10**9)
    assert info.value.reason is Reason.SUBFOLDER_ONLY


class _Payload:
    """Unpickled by the full unpickler, this runs a shell command: the proof of execution."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


if torch is not None:
    from ranker.evaluate.data import load_probe_data
    from ranker.evaluate.run import Options, evaluate_model
    from ranker.testing.models import SPECS, tiny_model


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _pickle_model(folder: Path) -> Path:
    return _write(folder, tiny_model("roberta", seed=2, head="classification", pickle_only=True))


def _opts(tmp_path: Path) -> Options:
    return Options(device="cpu", cache_dir=tmp_path / "cache")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    """Synthetic NLI pairs (ranker.testing.nli) as MultiNLI-format JSONL."""
    from ranker.testing.nli import nli_frame

    folder = tmp_path_factory.mktemp("nli")
    for name, n, seed in (("nli_train.jsonl", 600, 1), ("nli_test.jsonl", 300, 2)):
        rows = nli_frame(n, seed, name[4:6]).to_dict("records")
        (folder / name).write_text("".join(
            json.dumps({"pairID": f"{name}{r['idx']}", "sentence1": r["premise"],
                        "sentence2": r["hypothesis"],
                        "gold_label": protocol.LABELS[int(r["label"])]}) + "\n"
            for r in rows
        ))  # fmt: skip
    return load_probe_data(folder / "nli_train.jsonl", train_size=300, eval_size=240, seed=0)


@needs_torch
def test_pickle_only_checkpoint_is_converted_and_counted(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    folder = _pickle_model(tmp_path / "rp")
    ckpt = inspect(folder, "rp", "r", 10**9)
    assert ckpt.weight_format == "pickle" and ckpt.source == folder
    assert ckpt.folder == tmp_path / "rp-from-pickle"
    assert not list(ckpt.folder.glob("*.bin"))
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in ckpt.folder.iterdir()
    }
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert ckpt.weight_names == frozenset(state)
    assert ckpt.params == sum(t.numel() for t in state.values()) and ckpt.has_tokenizer
    converted = load_file(ckpt.folder / "model.safetensors")
    assert all(torch.equal(converted[k], v) for k, v in state.items())
    with pytest.raises(ModelRefused, match="exceed the cap") as info:
        inspect(folder, "rp", "r", 1000)  # counted from the converted safetensors header
    assert info.value.reason is Reason.TOO_LARGE


@needs_torch
def test_safetensors_win_over_pickle_and_nothing_is_converted(tmp_path: Path) -> None:
    files = tiny_model("roberta", seed=2, head="classification")
    folder = _write(tmp_path / "both", {**files, "pytorch_model.bin": b"never read"})
    ckpt = inspect(folder, "both", "r", 10**9)
    assert ckpt.weight_format == "safetensors" and ckpt.folder == folder and ckpt.source is None
    assert not (tmp_path / "both-from-pickle").exists()


@needs_torch
def test_an_oversized_pickle_is_refused_before_conversion(tmp_path: Path) -> None:
    files = tiny_model("roberta", seed=2, head="classification", pickle_only=True)
    from ranker.protocol import max_weight_bytes

    too_big = b"\0" * (max_weight_bytes(10) + 1)
    folder = _write(tmp_path / "big", {**files, "pytorch_model.bin": too_big})
    with pytest.raises(ModelRefused, match="more than the cap") as info:
        inspect(folder, "big", "r", max_params=10)
    assert info.value.reason is Reason.TOO_LARGE
    assert not (tmp_path / "big-from-pickle").exists()


@needs_torch
def test_a_malicious_pickle_is_refused_and_nothing_of_it_runs(data, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    state = {
        "embeddings.weight": torch.zeros(3, 2),
        "x": _Payload(f"touch {shlex.quote(str(marker))}"),
    }
    files = tiny_model("roberta", seed=2, head="classification", pickle_only=True)
    folder = _write(tmp_path / "evil", files)
    torch.save(state, folder / "pytorch_model.bin")
    # The payload is live: Python's full unpickler runs it (a copy, with its own marker).
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(f"touch {shlex.quote(str(control))}")))
    assert control.exists()

    with pytest.raises(ModelRefused, match=r"posix\.system|os\.system") as info:
        inspect(folder, "evil", "r", 10**9)
    assert info.value.reason is Reason.UNSAFE_PICKLE
    assert "more than tensors and plain containers" in str(info.value)
    result = evaluate_model(str(folder), data, options=_opts(tmp_path))
    assert result.status == "error" and "posix.system" in result.error
    assert not marker.exists()
    assert not (tmp_path / "evil-from-pickle").exists()


@needs_torch
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"state_dict": {"w": [1.0]}}, "'state_dict' is a dict, not a tensor"),
        ([1, 2, 3], "holds a list, not a mapping"),
        ({}, "holds no tensors"),
    ],
)
def test_a_pickle_that_is_no_flat_tensor_mapping_is_refused(tmp_path, content, message) -> None:
    files = tiny_model("roberta", seed=2, head="classification", pickle_only=True)
    folder = _write(tmp_path / "odd", files)
    torch.save(content, folder / "pytorch_model.bin")
    with pytest.raises(ModelRefused, match=message) as info:
        pickles.convert_pickle(folder)
    assert info.value.reason is Reason.UNREADABLE_WEIGHTS


@needs_torch
def test_garbage_in_a_pickle_file_is_unreadable_weights(tmp_path: Path) -> None:
    files = tiny_model("roberta", seed=2, head="classification", pickle_only=True)
    folder = _write(tmp_path / "garbage", {**files, "pytorch_model.bin": b"garbage" * 50})
    with pytest.raises(ModelRefused, match="not a readable PyTorch checkpoint") as info:
        inspect(folder, "garbage", "r", 10**9)
    assert info.value.reason is Reason.UNREADABLE_WEIGHTS


@needs_torch
def test_shared_tensors_and_shards_convert_with_every_name(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    base = torch.arange(12.0).reshape(3, 4)
    shard1 = {"tied.a": base, "tied.b": base, "view": base[1:], "legacy.gamma": torch.ones(4)}
    shard2 = {"other": torch.full((2,), 7.0)}
    folder = _write(tmp_path / "sharded", {"config.json": b'{"model_type": "bert"}'})
    names = {"pytorch_model-00001-of-00002.bin": shard1, "pytorch_model-00002-of-00002.bin": shard2}
    for name, state in names.items():
        torch.save(state, folder / name)
    index = {"weight_map": {k: n for n, s in names.items() for k in s}}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    out = pickles.convert_pickle(folder, tmp_path / "out")
    got = {}
    for f in sorted(out.glob("model-*.safetensors")):
        got.update(load_file(f))
    assert set(got) == {*shard1, *shard2}
    assert all(torch.equal(got[k], v) for k, v in {**shard1, **shard2}.items())
    written = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    assert written["other"] == "model-00002-of-00002.safetensors"
    ckpt = inspect(folder, "sharded", "r", 10**9, convert_dir=tmp_path / "out")
    assert ckpt.params == 12 + 12 + 8 + 4 + 2 and ckpt.folder == tmp_path / "out"


@needs_torch
def test_a_conversion_is_reused_until_the_pickle_changes(tmp_path: Path) -> None:
    folder = _pickle_model(tmp_path / "rp")
    out = pickles.convert_pickle(folder)
    first = (out / "model.safetensors").stat().st_mtime_ns
    assert pickles.convert_pickle(folder) == out
    assert (out / "model.safetensors").stat().st_mtime_ns == first
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    torch.save({k: v + 1 for k, v in state.items()}, folder / "pytorch_model.bin")
    pickles.convert_pickle(folder)
    from safetensors.torch import load_file

    again = load_file(out / "model.safetensors")
    assert all(torch.equal(again[k], v + 1) for k, v in state.items())


def test_scrubbed_env_keeps_basics_and_drops_every_secret() -> None:
    parent = {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C",
              "OMP_NUM_THREADS": "4", "PYTHONPATH": "/x", "HF_TOKEN": "hf_1",
              "HUGGING_FACE_HUB_TOKEN": "hf_2", "GITHUB_TOKEN": "gh_1", "GH_TOKEN": "gh_2",
              "MY_SERVICE_TOKEN": "t", "DB_SECRET": "s", "OPENAI_API_KEY": "k",
              "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "eu",
              "HF_ENDPOINT": "http://x", "SSH_AUTH_SOCK": "/tmp/s", "LD_PRELOAD": "/evil.so",
              "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}  # fmt: skip
    env = pickles.scrubbed_env(parent)
    assert {"PATH", "HOME", "LANG", "LC_ALL", "OMP_NUM_THREADS"} <= set(env)
    assert env["PATH"] == "/usr/bin" and env["PYTHONPATH"].endswith(os.pathsep + "/x")
    assert env["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] == "1"
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "OMP_NUM_THREADS", "PYTHONPATH",
                        "PYTHONDONTWRITEBYTECODE", "TORCH_FORCE_WEIGHTS_ONLY_LOAD"}  # fmt: skip
    assert not {v for v in env.values() if v in {"hf_1", "hf_2", "gh_1", "gh_2", "k", "b"}}


def test_the_conversion_child_sees_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "GITHUB_TOKEN", "MY_SERVICE_TOKEN",
                 "AWS_SECRET_ACCESS_KEY", "SOME_API_KEY"):  # fmt: skip
        monkeypatch.setenv(name, "secret-value")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    seen = set(pickles._run(["--env"], timeout=120)["env"])  # the runner convert_pickle uses
    assert "OMP_NUM_THREADS" in seen and "PATH" in seen
    assert not [n for n in seen if "TOKEN" in n or "SECRET" in n or n.endswith("_KEY")]
    assert not [n for n in seen if n.startswith(("AWS_", "HF_", "HUGGING"))]


@needs_torch
def test_pickle_only_model_scores_like_its_safetensors_twin(data, tmp_path: Path) -> None:
    pickled = _pickle_model(tmp_path / "roberta-pickle")
    twin = _write(tmp_path / "roberta-st", tiny_model("roberta", seed=2, head="classification"))
    result = evaluate_model(str(pickled), data, options=_opts(tmp_path))
    assert result.status == "ok", result.error
    same = evaluate_model(str(twin), data, options=_opts(tmp_path))
    assert result.accuracy == same.accuracy and result.tokenizer == "roberta-pickle"
    other = _write(tmp_path / "other", tiny_model("roberta", seed=3, head="classification",
                                                    pickle_only=True))  # fmt: skip
    assert content_hash(other) != content_hash(pickled)  # the pickle is part of the revision


@needs_torch
def test_a_converted_pickle_still_gets_its_body_weights_verified(tmp_path: Path) -> None:
    from ranker.evaluate import features as F

    folder = _pickle_model(tmp_path / "renamed")
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    renamed = {k.replace("encoder.layer.1.", "encoder.layers.1."): v for k, v in state.items()}
    torch.save(renamed, folder / "pytorch_model.bin")
    ckpt = inspect(folder, "renamed", "r", 10**9)
    assert ckpt.weight_format == "pickle"
    with pytest.raises(ModelRefused, match=r"missing body weights .*encoder\.layer\.1\.") as info:
        F.load_body(ckpt, torch.device("cpu"))
    assert info.value.reason is Reason.MISSING_WEIGHTS


@needs_torch
def test_results_record_their_weight_format(data, tmp_path: Path) -> None:
    result = evaluate_model(str(_pickle_model(tmp_path / "rp")), data, options=_opts(tmp_path))
    assert result.status == "ok", result.error
    assert result.weight_format == "pickle"
    twin = _write(tmp_path / "st", tiny_model("roberta", seed=2, head="classification"))
    assert evaluate_model(str(twin), data, options=_opts(tmp_path)).weight_format == "safetensors"


# -- SentencePiece-only tokenizers ---------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize(
    ("model_type", "spm_file"), [("deberta-v2", "spm.model"), ("t5", "spiece.model")]
)
def test_spm_only_model_loads_its_tokenizer_and_scores(
    model_type, spm_file, data, tmp_path
) -> None:
    pytest.importorskip("sentencepiece")
    from ranker.evaluate import features as F
    from ranker.testing.spm import spm_only_model

    files = spm_only_model(model_type)
    assert spm_file in files and "tokenizer.json" not in files
    folder = _write(tmp_path / f"tiny-{model_type}", files)
    tok = F.load_tokenizer(folder)
    assert tok.is_fast and not (folder / "tokenizer.json").exists()
    ids = F.tokenize(tok, ["the quick brown fox"], ["a lazy dog"]).input_ids[0]
    assert max(ids) < SPECS[model_type].vocab_size and tok.unk_token_id not in ids
    if model_type == "deberta-v2":
        assert tok.convert_ids_to_tokens([ids[0], ids[-1]]) == ["[CLS]", "[SEP]"]
    else:
        assert tok.convert_ids_to_tokens(ids[-1]) == "</s>"
    result = evaluate_model(str(folder), data, options=_opts(tmp_path))
    assert result.status == "ok", result.error
    assert result.accuracy > 0.4 and result.tokenizer == f"tiny-{model_type}"


@needs_torch
def test_spm_tokenizer_without_sentencepiece_is_our_error_not_the_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sentencepiece")
    from ranker.evaluate import features as F
    from ranker.testing.spm import spm_only_model

    folder = _write(tmp_path / "t5", spm_only_model("t5"))
    monkeypatch.setattr(F, "_importable", lambda module: module != "sentencepiece")
    with pytest.raises(RankerError, match="needs sentencepiece") as info:
        F.load_tokenizer(folder)
    assert not isinstance(info.value, ModelFailure)


# -- whose fault a failed conversion is ---------------------------------------------------------


def _child_instead(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """Run `code` as the conversion child instead of the converter (same arguments to run)."""
    import subprocess
    import sys

    real = subprocess.run
    monkeypatch.setattr(
        pickles.subprocess, "run", lambda cmd, **kw: real([sys.executable, "-c", code], **kw)
    )


@needs_torch
def test_a_killed_conversion_child_is_a_resource_failure_with_the_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _pickle_model(tmp_path / "rp")
    _child_instead(monkeypatch, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    with pytest.raises(
        ModelFailure, match=r"killed by SIGKILL.*needs more than \d+\.\d GiB"
    ) as info:
        pickles.convert_pickle(folder)
    assert info.value.reason is Reason.CHILD_KILLED and info.value.kind is FailureKind.RESOURCE


@needs_torch
def test_a_conversion_child_over_its_time_is_a_resource_failure(tmp_path: Path) -> None:
    folder = _pickle_model(tmp_path / "rp")
    with pytest.raises(ModelFailure, match="took more than") as info:
        pickles.convert_pickle(folder, timeout=0.01)
    assert info.value.reason is Reason.CHILD_TIMEOUT and info.value.kind is FailureKind.RESOURCE


@needs_torch
def test_a_conversion_child_that_dies_without_a_report_is_our_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. its scrubbed environment broke its imports: never the model's unreadable weights."""
    folder = _pickle_model(tmp_path / "rp")
    _child_instead(monkeypatch, "raise ImportError('no module named ranker')")
    with pytest.raises(pickles.ConverterBroken, match=r"without a report.*ImportError") as info:
        inspect(folder, "rp", "r", 10**9)
    assert not isinstance(info.value, ModelFailure)


def _declaring(numel: int) -> bytes:
    """A legacy-format torch checkpoint of one 4-element tensor whose pickle DECLARES `numel`
    elements for its storage (the raw data that follows still holds 4)."""
    import io
    import pickletools
    import struct

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    fh = io.BytesIO(data)
    for _ in range(3):  # magic number, protocol version, system info
        list(pickletools.genops(fh))
    ops = list(pickletools.genops(fh))  # the main pickle, with the storage's persistent id
    at = next(i for i, (op, _, _) in enumerate(ops) if op.name == "BINPERSID")
    op, arg, pos = next(o for o in reversed(ops[:at]) if o[0].name.startswith("BININT"))
    assert arg == 4
    size = {"BININT1": 2, "BININT2": 3, "BININT": 5}[op.name]
    return data[:pos] + b"J" + struct.pack("<i", numel) + data[pos + size :]


@needs_torch
def test_a_pickle_declaring_huge_storages_is_refused_before_any_allocation(tmp_path) -> None:
    """Issue 22: a tiny pickle must not make the child allocate what it declares. The child
    runs from a fresh process, so that process's largest child is the converter alone."""
    import subprocess
    import sys

    numel = 2_000_000_000  # 8 GB of float32 declared, in a file of about 1 KB
    files = tiny_model("roberta", seed=2, head="classification", pickle_only=True)
    folder = _write(tmp_path / "liar", {**files, "pytorch_model.bin": _declaring(numel)})
    assert (folder / "pytorch_model.bin").stat().st_size < 4_000
    assert pickles.declared_bytes(folder / "pytorch_model.bin") == 4 * numel
    code = (
        "import resource, sys; from pathlib import Path; from ranker.evaluate import pickles\n"
        "try:\n    pickles.convert_pickle(Path(sys.argv[1]), max_params=10**8)\n"
        "except Exception as exc:\n    print(exc.reason.value, str(exc))\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                         text=True, timeout=300, check=True).stdout.splitlines()  # fmt: skip
    assert out[0].startswith("too-large ") and "declare 8,000,000,000 bytes" in out[0], out
    assert int(out[-1]) * 1024 < 2 * 2**30  # the child's peak RSS: far below the 8 GB declared
    assert not (tmp_path / "liar-from-pickle").exists()


@needs_torch
def test_a_sound_pickle_declares_what_it_holds(tmp_path: Path) -> None:
    folder = _pickle_model(tmp_path / "rp")
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    held = sum(t.untyped_storage().nbytes() for t in state.values())
    assert 0 < pickles.declared_bytes(folder / "pytorch_model.bin") <= held


@needs_torch
@pytest.mark.parametrize(("package", "runs_fault"), [("sentencepiece", True), ("jieba", False)])
def test_a_missing_package_is_the_runs_fault_only_when_it_is_ours(
    package: str, runs_fault: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package of ranker's stack missing stops the run; one that only this model's tokenizer
    asks for (outside the stack) refuses that model alone."""
    from ranker.errors import RunFailure
    from ranker.evaluate import features as F

    class Missing:
        @staticmethod
        def from_pretrained(*args, **kw):
            raise ImportError(f"this tokenizer needs {package}\nsecond line", name=package)

    monkeypatch.setattr(F, "AutoTokenizer", Missing)
    folder = _write(tmp_path / "m", {"tokenizer.json": b"{}"})
    expected = RunFailure if runs_fault else ModelRefused
    with pytest.raises(expected, match=f"needs {package}") as info:
        F.load_tokenizer(folder)
    assert info.value.reason is (Reason.DEPENDENCY if runs_fault else Reason.TOKENIZER)
    assert "\n" not in str(info.value)
