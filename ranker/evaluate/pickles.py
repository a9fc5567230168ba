"""Pickle weights (`pytorch_model*.bin`) to safetensors, in a separate process holding no secret.

A pickle can name any Python callable, so it is never opened by the evaluating process. The
parent (`convert_pickle`) runs `python -m ranker.evaluate.pickles <in> <out>` in an empty working
folder, with an environment reduced to an allow-list (no token, key or secret of any kind). The
child reads each pickle with PyTorch's restricted unpickler only (`torch.load(weights_only=True)`,
which admits tensors and plain containers and refuses every other global *before* calling it),
checks that the result is a flat mapping of names to tensors, and writes it as safetensors. The
parent then reads safetensors alone. A refusal travels back as one JSON line on stdout.

Before `torch.load` allocates anything, the child reads the sizes the pickle DECLARES for its
storages (`declared_bytes`: the persistent ids, read by an unpickler that imports and calls
nothing) and refuses (TOO_LARGE) a pickle that declares more than the one size cap
(`protocol.max_weight_bytes`), so a 2 KB pickle cannot make it allocate gigabytes.

Whose fault a failed conversion is: a refusal the child reports (unsafe, unreadable, too large)
is the model's; a child killed by a signal, over its time limit or out of memory is a resource
fault (re-queued, then stored with the figure); a child that dies without a report (its
scrubbed environment broke its imports, say) is a bug of ours (`ConverterBroken`), never the
model's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ranker import protocol
from ranker.errors import ModelFailure, ModelRefused, Reason
from ranker.evaluate.files import (
    AUX_FILES,
    SAFETENSORS,
    SAFETENSORS_INDEX,
    Selection,
    folder_files,
    select_files,
    weight_files,
)
from ranker.evaluate.resources import available_memory, gib, out_of_memory

# Bump when the conversion's output can change: older converted folders are then redone.
CONVERTER_VERSION = "2"
STAMP = ".ranker-from-pickle"
DEFAULT_TIMEOUT_S = 1800.0
# What the child keeps of the parent's environment: nothing else goes through.
ENV_KEEP = frozenset(
    {
        "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "PYTHONPATH",
        "SYSTEMROOT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "TORCH_NUM_THREADS",
    }
)  # fmt: skip
# Belt and braces: a kept name that looks like a credential is dropped all the same.
_SECRET = re.compile(
    r"TOKEN|SECRET|KEY|PASS|CREDENTIAL|AUTH|COOKIE|SESSION|^AWS_|^AZURE_|^GCP_|^GOOGLE_|^HF_",
    re.IGNORECASE,
)
_REPORT = "ranker-pickles-report "
_CHILD_REASONS = frozenset(
    {Reason.UNSAFE_PICKLE, Reason.UNREADABLE_WEIGHTS, Reason.NO_WEIGHTS, Reason.TOO_LARGE,
     Reason.OUT_OF_MEMORY}
)  # fmt: skip


class ConverterBroken(RuntimeError):
    """The conversion child died without a report: our environment or code, not the model."""


def scrubbed_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: an allow-list of basics (paths, locale, threads), no secrets."""
    env = os.environ if env is None else env
    out = {
        k: v
        for k, v in env.items()
        if (k in ENV_KEEP or k.startswith("LC_")) and not _SECRET.search(k)
    }
    # The child must import this very ranker, wherever it was imported from here.
    root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p]
    out["PYTHONPATH"] = os.pathsep.join([root, *(p for p in paths if p != root)])
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    # Any torch.load in the child is weights-only, whatever the call says.
    out["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    return out


def convert_pickle(
    folder: Path,
    out: Path | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_params: int = protocol.DEFAULT_MAX_PARAMS,
    selection: Selection | None = None,
) -> Path:
    """A folder with `folder`'s pickle weights as safetensors, plus its config and tokenizer.

    `out` defaults to the sibling `<folder>-from-pickle`; a previous conversion of the same
    pickle bytes there is reused. Refuses (ModelRefused) a pickle that needs anything beyond
    tensors and plain containers (UNSAFE_PICKLE), and one that is unreadable, is not a flat
    mapping of names to tensors (UNREADABLE_WEIGHTS), and one whose declared storages exceed
    what `max_params` parameters can take (TOO_LARGE, before they are allocated). A child over
    `timeout`, killed or out of memory is a resource failure (CHILD_TIMEOUT, CHILD_KILLED,
    OUT_OF_MEMORY); one that dies without a report raises `ConverterBroken` (a bug of ours).
    `selection`: what `select_files` chose in `folder` (chosen here when None).
    """
    folder = Path(folder).resolve()
    files, fmt = selection if selection is not None else select_files(folder_files(folder))
    if fmt != "pickle":
        raise ModelRefused(f"{folder.name}: no pickle weights to convert", Reason.NO_WEIGHTS)
    pickles = weight_files(folder, files, fmt)
    out = Path(out) if out is not None else folder.with_name(folder.name + "-from-pickle")
    stamp = _stamp(pickles)
    try:
        if (out / STAMP).read_text(encoding="utf-8") == stamp:
            return out
    except OSError:
        pass
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        cap = protocol.max_weight_bytes(max_params)
        _run([str(folder), str(tmp), "--max-bytes", str(cap)], timeout)
        for name in files:
            if name in AUX_FILES:
                shutil.copyfile(folder / name, tmp / name)
        (tmp / STAMP).write_text(stamp, encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def converted_files(out: Path) -> list[str]:
    """The weight files a conversion wrote in `out` (see `_convert`): one `model.safetensors`,
    or, for a sharded pickle, the safetensors index (which names its shards)."""
    return [SAFETENSORS] if (out / SAFETENSORS).is_file() else [SAFETENSORS_INDEX]


def _stamp(pickles: list[Path]) -> str:
    """What a converted folder was made from: the pickles' names and bytes, and this code."""
    h = hashlib.sha256(CONVERTER_VERSION.encode())
    for p in pickles:
        h.update(p.name.encode() + b"\0")
        with p.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def _run(args: list[str], timeout: float) -> dict[str, Any]:
    """Run the child with `args` in an empty folder and scrubbed environment; its report."""
    cmd = [sys.executable, "-m", "ranker.evaluate.pickles", *args]
    available = available_memory()  # measured before the child takes any
    with tempfile.TemporaryDirectory(prefix="ranker-pickles-") as cwd:
        try:
            proc = subprocess.run(
                cmd,
                cwd=cwd,
                env=scrubbed_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ModelFailure(
                f"converting the pickle weights took more than {timeout:.0f} s",
                Reason.CHILD_TIMEOUT,
            ) from None
    report = _report_in(proc.stdout)
    if proc.returncode == 0 and report is not None and "error" not in report:
        return report
    if report is not None and "error" in report:
        reason = str(report.get("reason"))
        if reason == Reason.OUT_OF_MEMORY:
            raise out_of_memory("converting the pickle weights", available)
        if reason not in _CHILD_REASONS:
            reason = Reason.UNREADABLE_WEIGHTS
        raise ModelRefused(str(report["error"]), Reason(reason))
    if proc.returncode < 0:  # killed by a signal: the OOM killer's SIGKILL, most often
        name = _signal_name(-proc.returncode)
        raise ModelFailure(
            f"the pickle-conversion child was killed by {name} (likely out of memory); "
            f"needs more than {gib(available)} (what this run had available)",
            Reason.CHILD_KILLED,
        )
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
    raise ConverterBroken(
        f"the pickle-conversion child exited {proc.returncode} without a report: {last}"
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _report_in(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(_REPORT):
            try:
                report = json.loads(line[len(_REPORT) :])
            except ValueError:
                return None
            return report if isinstance(report, dict) else None
    return None


# -- the child ---------------------------------------------------------------------------------


def _convert(src: Path, out: Path, max_bytes: int | None = None) -> int:
    """Write `src`'s pickle weights into `out` as safetensors (sharded like the source),
    refusing first any whose declared storages add up to more than `max_bytes`."""
    files, fmt = select_files(folder_files(src))
    if fmt != "pickle":
        raise ModelRefused(f"{src.name}: no pickle weights to convert", Reason.NO_WEIGHTS)
    pickles = weight_files(src, files, fmt)
    if max_bytes is not None:
        declared = sum(declared_bytes(p) for p in pickles)
        if declared > max_bytes:
            raise ModelRefused(
                f"the pickle weights declare {declared:,} bytes of tensors, more than the cap "
                f"of {max_bytes:,} bytes; refused before any was allocated",
                Reason.TOO_LARGE,
            )
    from safetensors.torch import save_file  # torch: imported only for a pickle within the cap

    weight_map: dict[str, str] = {}
    total = 0
    for i, path in enumerate(pickles, start=1):
        tensors = _unshared(_flat_tensors(_load(path), path.name))
        again = sorted(weight_map.keys() & tensors.keys())
        if again:
            raise ModelRefused(
                f"{path.name}: tensor {again[0]!r} is in more than one shard",
                Reason.UNREADABLE_WEIGHTS,
            )
        target = (
            SAFETENSORS if len(pickles) == 1 else f"model-{i:05d}-of-{len(pickles):05d}.safetensors"
        )
        save_file(tensors, str(out / target), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, target))
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        del tensors
    if len(pickles) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (out / SAFETENSORS_INDEX).write_text(json.dumps(index, indent=2), encoding="utf-8")
    return len(weight_map)


# Bytes an element of each legacy storage type takes; a type not named here counts as 16.
_STORAGE_BYTES = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "UntypedStorage": 1, "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16,
}  # fmt: skip


_MAX_PICKLE_BYTES = 1 << 26  # a zip checkpoint's data.pkl larger than this is not scanned


class _Inert:
    """Stands for every global a scanned pickle names: it is never imported, and calling it,
    setting its state or reducing with it does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:  # SETITEM(S) on an OrderedDict
        pass

    def append(self, value: Any) -> None:  # APPEND(S) on a list-like
        pass

    def extend(self, values: Any) -> None:
        pass


class _SizeScanner(pickle.Unpickler):
    """Reads a torch pickle's persistent ids (its storages, with their declared sizes) without
    importing or calling anything and without allocating any storage."""

    def __init__(self, fh: Any) -> None:
        super().__init__(fh)
        self.storages: dict[str, int] = {}  # storage key -> declared bytes

    def find_class(self, module: str, name: str) -> Any:
        return type(name, (_Inert,), {})

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            kind, key, numel = pid[1], pid[2], pid[4]
            if not isinstance(numel, int) or numel < 0:
                raise ModelRefused(f"a storage declares the size {numel!r}",
                                   Reason.UNREADABLE_WEIGHTS)  # fmt: skip
            size = _STORAGE_BYTES.get(getattr(kind, "__name__", ""), 16)
            self.storages[str(key)] = max(self.storages.get(str(key), 0), numel * size)
        return _Inert()


def declared_bytes(path: Path) -> int:
    """The bytes a torch pickle's storages declare, read before anything is allocated: the
    zip format's `data.pkl`, or the legacy format's magic, version, system info and main
    pickles. A file that is neither is left to the restricted unpickler to refuse (0)."""
    import zipfile

    def scan(data: bytes | io.BufferedReader) -> int:
        fh = io.BytesIO(data) if isinstance(data, bytes) else data
        scanner = _SizeScanner(fh)
        scanner.load()
        return sum(scanner.storages.values())

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if len(names) != 1 or archive.getinfo(names[0]).file_size > _MAX_PICKLE_BYTES:
                    return 0
                return scan(archive.read(names[0]))
        with path.open("rb") as fh:
            for _ in range(3):  # magic number, protocol version, system info: inert too
                _SizeScanner(fh).load()
            return scan(fh)  # type: ignore[arg-type]
    except ModelRefused:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, OverflowError, zipfile.BadZipFile, RecursionError):  # fmt: skip
        return 0  # not a pickle we can scan: torch.load's refusal names what is wrong


def _load(path: Path) -> Any:
    """One pickle through PyTorch's restricted unpickler; nothing else ever reads it."""
    import pickle
    import zipfile

    import torch

    try:
        return torch.load(
            path, weights_only=True, map_location="cpu", mmap=zipfile.is_zipfile(path)
        )
    except MemoryError:
        raise  # the machine's limit, not the pickle's content: the child reports a resource fault
    except Exception as exc:
        raise _refusal(path.name, exc, isinstance(exc, pickle.UnpicklingError)) from None


def _refusal(name: str, exc: Exception, unpickling: bool) -> ModelRefused:
    """Why the restricted unpickler (or torch.load around it) gave up, in one line."""
    text = str(exc)
    named = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"Unsupported class ([\w.]+)", text)
    if named or "TorchScript" in text:
        what = f"it names {named.group(1)}" if named else "a TorchScript archive, which holds code"
        return ModelRefused(
            f"{name}: the pickle needs more than tensors and plain containers ({what}); "
            "refused by the weights-only unpickler, nothing of it was run",
            Reason.UNSAFE_PICKLE,
        )
    detail = re.search(r"Unsupported operand \d+", text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = detail.group(0) if detail else (lines[-1] if unpickling and lines else "")
    first = (first or (lines[0] if lines else type(exc).__name__)).split(". ")[0][:300]
    if unpickling and not detail:
        return ModelRefused(
            f"{name}: refused by the weights-only unpickler ({first}); nothing of it was run",
            Reason.UNSAFE_PICKLE,
        )
    return ModelRefused(
        f"{name}: not a readable PyTorch checkpoint ({type(exc).__name__}: {first})",
        Reason.UNREADABLE_WEIGHTS,
    )


def _flat_tensors(obj: Any, name: str) -> dict[str, Any]:
    """The checkpoint as {name: dense CPU tensor}, or a refusal naming what else it holds."""
    import torch

    if not isinstance(obj, Mapping):
        raise ModelRefused(
            f"{name}: holds a {type(obj).__name__}, not a mapping of names to tensors",
            Reason.UNREADABLE_WEIGHTS,
        )
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or key == "__metadata__":
            raise ModelRefused(f"{name}: has a key {key!r} that is no tensor name",
                               Reason.UNREADABLE_WEIGHTS)  # fmt: skip
        if not isinstance(value, torch.Tensor):
            raise ModelRefused(
                f"{name}: {key!r} is a {type(value).__name__}, not a tensor "
                "(a flat mapping of names to tensors is needed)",
                Reason.UNREADABLE_WEIGHTS,
            )
        if value.layout != torch.strided or value.is_quantized:
            raise ModelRefused(f"{name}: {key!r} is a sparse or quantized tensor",
                               Reason.UNREADABLE_WEIGHTS)  # fmt: skip
        out[key] = value.detach()
    if not out:
        raise ModelRefused(f"{name}: holds no tensors", Reason.UNREADABLE_WEIGHTS)
    return out


def _unshared(tensors: dict[str, Any]) -> dict[str, Any]:
    """Contiguous tensors with no storage in common (tied weights are copied; safetensors
    stores every name on its own), so each name keeps its values."""
    seen: set[int] = set()
    out = {}
    for key, t in tensors.items():
        t = t.contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr and t.numel():
            if ptr in seen:
                t = t.clone()
            else:
                seen.add(ptr)
        out[key] = t
    return out


def main(argv: list[str] | None = None) -> int:
    """The child: `<in> <out>` converts; `--env` reports the names in its environment."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--env"]:
        _print({"env": sorted(os.environ)})
        return 0
    max_bytes = None
    if len(args) == 4 and args[2] == "--max-bytes" and args[3].isdigit():
        max_bytes, args = int(args[3]), args[:2]
    if len(args) != 2:
        print("usage: python -m ranker.evaluate.pickles IN_FOLDER OUT_FOLDER [--max-bytes N]",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        count = _convert(Path(args[0]), Path(args[1]), max_bytes)
    except ModelRefused as exc:
        _print({"error": str(exc), "reason": exc.reason.value})
        return 3
    except MemoryError:
        _print({"error": "out of memory", "reason": Reason.OUT_OF_MEMORY.value})
        return 3
    _print({"tensors": count})
    return 0


def _print(report: dict[str, Any]) -> None:
    sys.stdout.write(_REPORT + json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
