"""`ranker request`: an issue asks for an evaluation; the command checks the model through the
door against the loopback hub, queues it, answers, and answers again once it is evaluated."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from ranker import protocol
from ranker.cli import main
from ranker.errors import StoreError
from ranker.hub import Hub
from ranker.pipeline import pending
from ranker.records import SCHEMA_VERSION, CatalogEntry, EvalResult, is_valid_repo_id
from ranker.requests import (
    EXIT_UNCHECKED,
    ID_RULE,
    MAX_BODY_BYTES,
    check_body,
    check_request,
    due_replies,
    model_id_from_body,
    read_body,
)
from ranker.store import ModelRequest, Store
from ranker.testing.hub import FakeHub
from ranker.testing.models import (
    TINY_BERT,
    TINY_ROBERTA,
    architectures_toml,
    fake_model,
    register,
    with_custom_code,
)

ROBERTA = TINY_ROBERTA.base_id
PARAMS = 20_000  # within the tiny architectures' plausible size window
SITE = "https://example.org/ranker/"
HOSTILE = [
    "../../etc",
    "../../etc/passwd",
    "a/b; rm -rf /",
    "<script>alert(1)</script>",
    "org/model`$(id)`",
    "org/" + "x" * 5000,
    "org/model\nother/model",
    "a/../b",
    "--help",
    "org/model.git",
    "org/$HOME",
    "org/model name",
]


def _world(hub: FakeHub) -> None:
    roberta = fake_model(TINY_ROBERTA, params=PARAMS)
    lineage = {"model_type": "roberta", "base_id": ROBERTA}
    register(hub, ROBERTA, roberta, model_type="roberta", downloads=900)
    register(hub, "org/roberta-ft", roberta, downloads=3, **lineage)
    register(hub, "old/roberta-untagged", roberta, model_type="roberta", downloads=1)
    register(hub, "pop/roberta-popular", roberta, model_type="roberta", downloads=10**6)
    narrow = fake_model(TINY_ROBERTA, params=PARAMS, num_hidden_layers=3)
    register(hub, "x/roberta-wrong-dims", narrow, model_type="roberta")
    custom = with_custom_code(roberta)
    register(hub, "x/roberta-custom", custom, extra_tags=("custom_code",), **lineage)
    register(hub, "x/roberta-gated", roberta, gated="manual", **lineage)
    register(hub, "x/roberta-peft", roberta, extra_tags=("peft",), **lineage)
    gpt = fake_model(TINY_BERT, params=PARAMS, model_type="gpt2")
    register(hub, "x/gpt-thing", gpt, model_type="gpt2")
    # hub values an owner controls, made to be quoted into the reply: they never are
    evil = fake_model(TINY_ROBERTA, params=PARAMS, hidden_size="<img src=x onerror=alert(1)>`")
    register(hub, "x/roberta-evil-config", evil, model_type="roberta")
    weird = fake_model(TINY_BERT, params=PARAMS, model_type="x`<b>y")
    register(hub, "x/weird-type", weird, model_type="x`<b>y")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "architectures.toml").write_text(architectures_toml((TINY_BERT, TINY_ROBERTA)))
    return folder


@pytest.fixture
def world(hub: FakeHub) -> FakeHub:
    _world(hub)
    hub.reset_counts()
    return hub


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _check(data: Path, hub: FakeHub, model: str | None, issue: int = 12):
    door = Hub(endpoint=hub.url, attempts=1)
    decision = check_request(Store(data), door, issue, model, site_url=SITE)
    return decision, door


# -- the issue's body ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("### Model id\n\norg/roberta-ft\n", "org/roberta-ft"),
        ("### Model id\r\n\r\n  org/roberta-ft  \r\n\r\n### Why\r\n\r\nbecause\r\n", "org/roberta-ft"),
        ("### Model id\n\n`org/roberta-ft`\n", "org/roberta-ft"),
        ("### Model id\n\nhttps://huggingface.co/org/roberta-ft\n", "org/roberta-ft"),
        ("### Model id\n\nhttps://huggingface.co/org/roberta-ft/tree/main\n", "org/roberta-ft/tree/main"),
        ("### Model id\n\n_No response_\n\n### Notes\n\norg/x\n", None),
        ("org/roberta-ft", "org/roberta-ft"),
        ("", None),
    ],
)  # fmt: skip
def test_the_form_body_gives_the_id_as_written(body: str, found: str | None) -> None:
    assert model_id_from_body(body) == found


# -- check: valid, unknown, excluded, hostile ----------------------------------------------------


def test_a_valid_id_is_queued_with_its_catalog_entry_and_a_reply(data: Path, world) -> None:
    decision, door = _check(data, world, "org/roberta-ft")
    assert decision.outcome == "queued"
    assert "`org/roberta-ft`" in decision.reply and "queued" in decision.reply
    assert "next nightly run evaluates it first" in decision.reply
    (request,) = Store(data).requests()
    assert (request.issue, request.model_id, request.architecture, request.status) == (
        12, "org/roberta-ft", ROBERTA, "queued",
    )  # fmt: skip
    assert request.sha == world.model("org/roberta-ft").sha
    (entry,) = Store(data).catalog()
    assert (entry.model_id, entry.status, entry.sha) == ("org/roberta-ft", "ok", request.sha)
    assert entry.first_seen is not None
    # one info request, one config.json read at the listed commit (a small file: its 307 to
    # the resolve-cache is a second request); no weights, no tree
    assert door.requests == 3
    assert world.counts["GET /api/models/{repo}"] == 1
    assert world.counts["GET /{repo}/resolve"] == 1
    assert world.counts["GET /api/resolve-cache/models/{repo}"] == 1
    assert not world.counts["GET cdn"] and not world.counts["GET /api/models/{repo}/tree"]
    # the stored file reads back as it was written
    line = json.loads((data / "requests.jsonl").read_text())
    assert line["model_id"] == "org/roberta-ft" and line["schema_version"] == SCHEMA_VERSION


def test_a_model_without_lineage_is_classified_by_its_config(data: Path, world) -> None:
    decision, _ = _check(data, world, "old/roberta-untagged")
    assert decision.outcome == "queued"
    assert Store(data).catalog()[0].found_by == "config"


def test_the_same_request_twice_is_queued_once(data: Path, world) -> None:
    first, _ = _check(data, world, "org/roberta-ft")
    before = _files(data)
    second, door = _check(data, world, "org/roberta-ft")
    assert (first.outcome, second.outcome) == ("queued", "already-queued")
    assert "already queued" in second.reply
    assert _files(data) == before
    assert door.requests == 1  # the catalog knows the commit: no config read again
    # another issue asking for the same model gets its own reply
    other, _ = _check(data, world, "org/roberta-ft", issue=13)
    assert other.outcome == "queued"
    assert [(r.issue, r.model_id) for r in Store(data).requests()] == [
        (12, "org/roberta-ft"), (13, "org/roberta-ft"),
    ]  # fmt: skip
    assert len(Store(data).catalog()) == 1


def test_an_unknown_id_is_refused_and_nothing_is_stored(data: Path, world) -> None:
    decision, door = _check(data, world, "nobody/no-such-model")
    assert decision.outcome == "rejected" and decision.reason == "not-found"
    assert "There is no public model `nobody/no-such-model`" in decision.reply
    assert "Check the spelling" in decision.reply
    assert door.requests == 1
    assert _files(data) == {"architectures.toml": (data / "architectures.toml").read_bytes()}


@pytest.mark.parametrize(
    ("model", "reason"),
    [("x/roberta-evil-config", "config-mismatch"), ("x/weird-type", "untracked")],
)
def test_hub_values_are_never_quoted_into_a_reply(data: Path, world, model, reason) -> None:
    decision, _ = _check(data, world, model)
    assert decision.outcome == "rejected" and decision.reason == reason
    for bad in ("<", ">", "onerror", "<b>", "x`"):
        assert bad not in decision.reply, decision.reply
    assert decision.reply.count("`") % 2 == 0


@pytest.mark.parametrize(
    ("model", "reason", "words"),
    [
        ("x/roberta-wrong-dims", "config-mismatch",
         ["config.json has other dimensions", "layers 3", "check the dimensions in its config.json"]),
        ("x/roberta-custom", "custom-code",
         ["needs remote code", "drop `auto_map` from config.json"]),
        ("x/roberta-gated", "gated", ["gated", "without the access gate"]),
        ("x/roberta-peft", "adapter", ["an adapter", "upload the full weights"]),
        ("x/gpt-thing", "untracked",
         ["not one of the tracked architectures", "`gpt2`", "data/architectures.toml"]),
    ],
)  # fmt: skip
def test_an_excluded_model_is_refused_with_the_reason_in_words(
    data: Path, world, model: str, reason: str, words: list[str]
) -> None:
    decision, _ = _check(data, world, model)
    assert decision.outcome == "rejected" and decision.reason == reason
    for word in words:
        assert word in decision.reply, decision.reply
    assert f"`{model}`" in decision.reply
    assert not (data / "requests.jsonl").exists() and not (data / "catalog.jsonl").exists()


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_string_is_refused_without_any_hub_request(
    data: Path, world, hostile: str
) -> None:
    decision, door = _check(data, world, hostile)
    assert decision.outcome == "rejected" and decision.reason == "invalid-id"
    assert door.requests == 0 and world.log == []
    assert hostile not in decision.reply and "<script>" not in decision.reply
    assert "not a valid Hugging Face model id" in decision.reply
    assert _files(data) == {"architectures.toml": (data / "architectures.toml").read_bytes()}


def test_the_command_reads_the_form_and_never_echoes_a_hostile_id(
    data: Path, world, tmp_path: Path, capsys
) -> None:
    one_line = [h for h in HOSTILE if "\n" not in h]  # the form's first line is the id
    for number, hostile in enumerate(one_line, start=1):
        body = tmp_path / f"body-{number}.md"
        body.write_text(f"### Model id\n\n{hostile}\n\n### Anything else?\n\n_No response_\n")
        reply = tmp_path / f"reply-{number}.md"
        code = main(["request", "check", "--data", str(data), "--issue", str(number),
                     "--body-file", str(body), "--reply-file", str(reply),
                     "--endpoint", world.url])  # fmt: skip
        assert code == 0
        text = reply.read_text()
        assert hostile not in text and "not a valid Hugging Face model id" in text
    assert world.log == []
    assert "rm -rf" not in capsys.readouterr().err


def test_the_command_queues_exports_and_the_add_step_takes_the_export(
    data: Path, world, tmp_path: Path, capsys
) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "architectures.toml").write_bytes((data / "architectures.toml").read_bytes())
    body = tmp_path / "body.md"
    body.write_text("### Model id\n\nhttps://huggingface.co/org/roberta-ft\n")
    reply, export = tmp_path / "out" / "reply.md", tmp_path / "out" / "request.json"
    code = main(["request", "check", "--data", str(data), "--issue", "12", "--body-file",
                 str(body), "--reply-file", str(reply), "--export", str(export),
                 "--endpoint", world.url])  # fmt: skip
    assert code == 0 and "queued" in reply.read_text() and export.is_file()
    world.reset_counts()
    # the queue job: no hub, the export folded into its own checkout of data/
    assert main(["request", "add", "--data", str(fresh), str(export)]) == 0
    assert "queued org/roberta-ft for issue 12" in capsys.readouterr().out
    assert world.log == []
    assert _files(fresh) == _files(data)
    assert main(["request", "add", "--data", str(fresh), str(export)]) == 0  # idempotent
    assert _files(fresh) == _files(data)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["request"].update(model_id="../../etc"), "invalid hub repo id"),
        (lambda d: d["entry"].update(model_id="a/b; rm -rf"), "invalid hub repo id"),
        (lambda d: d["entry"].update(model_id="org/other"), "do not agree"),
        (lambda d: d["entry"].update(status="excluded"), "do not agree"),
        (lambda d: d["request"].update(issue=-1), "expected an issue number"),
        (lambda d: d["request"].update(architecture="nope/arch"), "do not agree"),
        (lambda d: d.update(extra=1), "expected a JSON object with"),
    ],
)  # fmt: skip
def test_add_refuses_a_tampered_export(
    data: Path, world, tmp_path: Path, capsys, edit, message
) -> None:
    export = tmp_path / "request.json"
    assert main(["request", "check", "--data", str(data), "--issue", "12", "--model",
                 "org/roberta-ft", "--export", str(export), "--endpoint", world.url]) == 0  # fmt: skip
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "architectures.toml").write_bytes((data / "architectures.toml").read_bytes())
    doc = json.loads(export.read_text())
    edit(doc)
    export.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["request", "add", "--data", str(fresh), str(export)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("ranker request: error:") and err.count("\n") == 1
    assert sorted(p.name for p in fresh.iterdir()) == ["architectures.toml"]


def test_a_hub_that_fails_says_the_request_could_not_be_checked_and_exits_3(
    data: Path, world, tmp_path: Path
) -> None:
    world.fail(503, times=None, route="GET /api/models/{repo}", retry_after=0)
    reply = tmp_path / "reply.md"
    code = main(["request", "check", "--data", str(data), "--issue", "12", "--model",
                 "org/roberta-ft", "--reply-file", str(reply), "--endpoint", world.url])  # fmt: skip
    assert code == EXIT_UNCHECKED == 3  # not 0: the workflow run fails and is seen
    text = reply.read_text()
    assert "could not be checked" in text and "nothing is needed from you" in text
    assert "no public model" not in text and "not ranked" not in text  # no verdict
    assert not (data / "requests.jsonl").exists()


def test_a_bad_token_is_never_an_answer_about_the_model(
    data: Path, world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Issue 22: an expired HF_TOKEN made the check tell the author that the model does not
    exist, and exit 0, so the workflow posted it."""
    door = Hub(endpoint=world.url, token="hf_expired", attempts=1)
    decision = check_request(Store(data), door, 12, "org/roberta-ft")
    assert (decision.outcome, decision.reason) == ("unchecked", "bad-token")
    assert "could not be checked" in decision.reply and "nothing is needed" in decision.reply
    assert "no public model" not in decision.reply
    assert _files(data) == {"architectures.toml": (data / "architectures.toml").read_bytes()}
    monkeypatch.setenv("HF_TOKEN", "hf_expired")
    reply = tmp_path / "reply.md"
    code = main(["request", "check", "--data", str(data), "--issue", "12", "--model",
                 "org/roberta-ft", "--reply-file", str(reply), "--endpoint", world.url])  # fmt: skip
    assert code == EXIT_UNCHECKED and "credentials" in reply.read_text()
    assert "issue 12: unchecked (bad-token)" in capsys.readouterr().err


def test_a_config_read_that_fails_is_unchecked_not_refused(data: Path, world) -> None:
    world.fail(503, times=None, route="GET /{repo}/resolve", repo="org/roberta-ft")
    decision, _ = _check(data, world, "org/roberta-ft")
    assert (decision.outcome, decision.reason) == ("unchecked", "config-pending")
    assert "config.json" in decision.reply and "nothing is needed" in decision.reply
    assert not (data / "catalog.jsonl").exists()


def test_a_look_alike_id_is_refused_with_a_hint_and_never_looked_up(data: Path, world) -> None:
    for id_ in ("org/rоberta-ft", "org／roberta-ft", "org/roberta-ft\u200b", "org/\x00x"):
        decision, door = _check(data, world, id_)
        assert decision.reason == "invalid-id" and "only look like" in decision.reply
        assert id_ not in decision.reply and door.requests == 0


def test_a_body_longer_than_an_issue_can_be_is_refused_unread(
    data: Path, world, tmp_path: Path
) -> None:
    body = tmp_path / "body.md"
    body.write_text("### Model id\n\norg/roberta-ft\n\n### More\n\n" + "x" * (MAX_BODY_BYTES * 2))
    assert len(read_body(body)) == MAX_BODY_BYTES + 1  # read with a limit, never whole
    reply = tmp_path / "reply.md"
    code = main(["request", "check", "--data", str(data), "--issue", "12", "--body-file",
                 str(body), "--reply-file", str(reply), "--endpoint", world.url])  # fmt: skip
    assert code == 0 and "longer than an issue can hold" in reply.read_text()
    assert world.log == [] and not (data / "requests.jsonl").exists()
    # bytes that are not UTF-8 are not an error: the id they are in is invalid
    body.write_bytes(b"### Model id\n\norg/rob\xfferta\n")
    code = main(["request", "check", "--data", str(data), "--issue", "12", "--body-file",
                 str(body), "--reply-file", str(reply), "--endpoint", world.url])  # fmt: skip
    assert code == 0 and "not a valid Hugging Face model id" in reply.read_text()


def test_an_export_nested_too_deep_is_refused_in_one_line(
    data: Path, tmp_path: Path, capsys
) -> None:
    export = tmp_path / "request.json"
    export.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["request", "add", "--data", str(data), str(export)]) == 1
    err = capsys.readouterr().err
    assert "nested deeper" in err and err.count("\n") == 1
    assert sorted(p.name for p in data.iterdir()) == ["architectures.toml"]


# -- property tests: any issue text is accepted or refused with a reason ------------------------

_LOOK_ALIKES = "оОаеіѕ／⁄∕⧸．\u200b\u200d\u202e\ufeff\u00a0\u3000ＡＢ𝐚"
_CONTROL = "".join(map(chr, range(0, 32))) + "\x7f\x85\u2028\u2029"
_ID_PARTS = st.sampled_from(
    [
        "org/roberta-ft",
        "old/roberta-untagged",
        "x/roberta-custom",
        "nobody/none",
        ROBERTA,
        "a",
        "-",
        "/",
        "..",
        "https://huggingface.co/",
    ]
)
_TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(_LOOK_ALIKES + _CONTROL),
                max_size=60)  # fmt: skip


@st.composite
def _bodies(draw: st.DrawFn) -> str:
    """Issue bodies as the form writes them and as people and tools mangle them."""
    parts = draw(st.lists(st.one_of(_ID_PARTS, _TEXT), min_size=0, max_size=4))
    id_line = "".join(parts)
    heading = draw(st.sampled_from(["### Model id", "###Model id", "# model ID", "", "### Other"]))
    filler = draw(st.sampled_from(["", "_No response_", "x" * 10, "y" * 70_000]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r", "\u2028"]))
    return newline.join([heading, "", id_line, "", "### More", filler])


OUTCOMES = {"queued", "already-queued", "answered", "rejected", "unchecked"}


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_bodies())
def test_any_issue_text_is_accepted_or_refused_with_a_reason(data: Path, world, body: str) -> None:
    store = Store(data)
    door = Hub(endpoint=world.url, attempts=1)
    decision = check_body(store, door, 7, body)
    assert decision.outcome in OUTCOMES
    if decision.outcome == "rejected":
        assert decision.reason and decision.reply.strip()
    if decision.outcome == "queued":
        assert decision.request is not None and is_valid_repo_id(decision.request.model_id)
    raw = model_id_from_body(body)
    if raw is not None and not is_valid_repo_id(raw) and len(raw) > 3:
        assert raw not in decision.reply.replace(ID_RULE, "")  # never quoted back
    assert decision.reply.count("`") % 2 == 0
    # the store still reads, whatever was asked
    store.requests(), store.catalog()


# -- the nightly run: requested models first, then the replies -----------------------------------


def _entry(model: str, downloads: int, sha: str = "a" * 40) -> CatalogEntry:
    return CatalogEntry(schema_version=SCHEMA_VERSION, model_id=model, architecture=ROBERTA,
                        sha=sha, status="ok", downloads=downloads)  # fmt: skip


def _request(model: str, issue: int = 12, when: str = "2026-01-01T00:00:00Z") -> ModelRequest:
    return ModelRequest(schema_version=SCHEMA_VERSION, issue=issue, model_id=model,
                        architecture=ROBERTA, sha="a" * 40, status="queued",
                        requested_at=when)  # fmt: skip


def test_pending_puts_the_requested_models_first(data: Path) -> None:
    store = Store(data)
    store.write_catalog([_entry(ROBERTA, 900), _entry("pop/big", 10**6), _entry("org/a", 1),
                         _entry("org/b", 2), _entry("org/c", 0)])  # fmt: skip
    before = [e.model_id for e in pending(store, protocol.PROTOCOL_VERSION)]
    assert before == [ROBERTA, "pop/big", "org/b", "org/a", "org/c"]
    store.write_requests([_request("org/c", 5, "2026-01-02T00:00:00Z"),
                          _request("org/a", 4, "2026-01-03T00:00:00Z")])  # fmt: skip
    queue = [e.model_id for e in pending(store, protocol.PROTOCOL_VERSION)]
    assert queue == ["org/c", "org/a", ROBERTA, "pop/big", "org/b"]
    # a request already answered no longer jumps the queue
    store.write_requests([dataclasses.replace(_request("org/c", 5), status="replied")])
    assert pending(store, protocol.PROTOCOL_VERSION)[0].model_id == ROBERTA


def _result(model: str, **kw) -> EvalResult:
    values = dict(schema_version=SCHEMA_VERSION, model_id=model, architecture=ROBERTA,
                  revision="a" * 40, protocol_version=protocol.PROTOCOL_VERSION, status="ok",
                  evaluated_at="2026-01-02T03:04:05Z", accuracy=0.61234, accuracy_low=0.6,
                  accuracy_high=0.62, gain=0.0123)  # fmt: skip
    values.update(kw)
    return EvalResult(**values)


def test_replies_come_once_the_model_has_a_result(data: Path, tmp_path: Path, capsys) -> None:
    store = Store(data)
    store.write_catalog([_entry(ROBERTA, 900), _entry("org/a", 1), _entry("org/b", 1),
                         _entry("org/c", 1)])  # fmt: skip
    store.write_requests([_request("org/a", 4), _request("org/b", 5), _request("org/c", 6),
                          _request(ROBERTA, 7)])  # fmt: skip
    assert due_replies(store, SITE) == []  # nothing evaluated yet: nothing owed, nothing written
    store.write_results([
        _result("org/a"),
        _result("org/b", status="error", accuracy=None, accuracy_low=None, accuracy_high=None,
                gain=None, reason="unsafe-pickle", failure="permanent",
                error="x/<script>: pickle"),
        _result("org/c", status="error", accuracy=None, accuracy_low=None, accuracy_high=None,
                gain=None, reason="timeout", failure="transient", error="timeout"),
        _result(ROBERTA, gain=None),
    ])  # fmt: skip
    out = tmp_path / "replies"
    code = main(["request", "replies", "--data", str(data), "--out-dir", str(out),
                 "--site-url", SITE])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["4.md", "5.md", "7.md"]  # org/c: transient
    a = (out / "4.md").read_text()
    assert "`org/a` at commit `aaaaaaaaaaaa` is evaluated" in a
    assert "accuracy 0.6123 (95% interval 0.6000 to 0.6200), +0.0123 over the base model" in a
    assert f"Its page: {SITE}models/tiny-roberta-base/org--a.html" in a
    b = (out / "5.md").read_text()
    assert "could not be evaluated" in b and "`unsafe-pickle`" in b and "model.safetensors" in b
    assert "<script>" not in b  # the stored error text is not copied into the reply
    assert f"Its page: {SITE}arch/tiny-roberta-base.html" in (out / "7.md").read_text()
    states = {r.model_id: (r.status, r.outcome) for r in Store(data).requests()}
    assert states == {"org/a": ("replied", "ok"), "org/b": ("replied", "unsafe-pickle"),
                      "org/c": ("queued", None), ROBERTA: ("replied", "ok")}  # fmt: skip
    assert "reply to issue 4: org/a: ok" in capsys.readouterr().out
    # answered once: the next run owes nothing more
    before = (data / "requests.jsonl").read_bytes()
    assert due_replies(store, SITE) == []
    assert (data / "requests.jsonl").read_bytes() == before


def test_a_request_for_a_model_already_evaluated_is_answered_at_once(data: Path, world) -> None:
    sha = world.model("org/roberta-ft").sha
    store = Store(data)
    store.write_catalog([_entry("org/roberta-ft", 3, sha)])
    store.write_results([_result("org/roberta-ft", revision=sha)])
    decision, _ = _check(data, world, "org/roberta-ft")
    assert decision.outcome == "answered" and "is evaluated" in decision.reply
    assert f"{SITE}models/tiny-roberta-base/org--roberta-ft.html" in decision.reply
    assert not (data / "requests.jsonl").exists()


def test_a_bad_site_url_is_refused(data: Path, capsys) -> None:
    code = main(["request", "replies", "--data", str(data), "--site-url", "javascript:alert(1)"])
    assert code == 1 and "--site-url" in capsys.readouterr().err


def test_a_malformed_requests_file_names_the_line_and_field(data: Path) -> None:
    good = json.dumps(_request("org/a").to_dict())
    (data / "requests.jsonl").write_text(good + "\n" + good.replace('"queued"', '"maybe"') + "\n")
    with pytest.raises(StoreError, match=r"requests.jsonl:2: field 'status'"):
        Store(data).requests()
    for second, error in (
        ("{bad", r"requests.jsonl:2: not valid JSON"),
        ("[1]", r"requests.jsonl:2: expected a JSON object"),
        (good, r"requests.jsonl:2: request \(12, 'org/a'\) is listed twice"),
        (good.replace('"org/a"', '"org/a..b"'), r"requests.jsonl:2: field 'model_id'"),
    ):
        (data / "requests.jsonl").write_text(good + "\n" + second + "\n")
        with pytest.raises(StoreError, match=error):
            Store(data).requests()


# -- the workflow's stages (scripts/nightly.sh request | queue | reply, and the merge's replies) --


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare upstream holding the nightly script and a store of the tiny architectures."""
    seed = tmp_path / "seed"
    (seed / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "nightly.sh", seed / "scripts" / "nightly.sh")
    (seed / "data").mkdir()
    (seed / "data" / "architectures.toml").write_text(architectures_toml((TINY_BERT, TINY_ROBERTA)))
    (seed / ".gitignore").write_text("site/\nnightly/\n")
    _git(seed, "init", "-q", "-b", "main")
    _commit(seed, "init")
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    return bare


def _clone(origin: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(where)], check=True)
    return where


def _stage(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), "RANKER_PYTHON": sys.executable,
            "HF_HUB_DISABLE_TELEMETRY": "1", "GIT_AUTHOR_NAME": "t", "GIT_COMMITTER_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    full.pop("GITHUB_OUTPUT", None)
    full.pop("RANKER_SITE_URL", None)
    full.update(env)
    return subprocess.run(["bash", "scripts/nightly.sh", *args], cwd=repo, env=full,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_request_stage_reads_the_issue_body_as_data_only(
    origin: Path, world, tmp_path: Path
) -> None:
    repo = _clone(origin, tmp_path / "check")
    marker = tmp_path / "pwned"
    body = f"### Model id\n\n$(touch {marker})`touch {marker}`; touch {marker}\n\n### More\n\nx\n"
    output = tmp_path / "github-output"
    proc = _stage(repo, "request", "--endpoint", world.url, RANKER_ISSUE="3",
                  RANKER_ISSUE_BODY=body, GITHUB_OUTPUT=str(output))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert output.read_text() == "queued=false\nreplied=true\n"
    reply = (repo / "nightly" / "request" / "reply.md").read_text()
    assert "not a valid Hugging Face model id" in reply and "touch" not in reply
    assert world.log == []
    assert sorted(p.name for p in (repo / "nightly" / "request").iterdir()) == ["reply.md"]
    assert _git(repo, "status", "--porcelain") == ""
    bad = _stage(repo, "request", RANKER_ISSUE="3; id", RANKER_ISSUE_BODY="org/roberta-ft")
    assert bad.returncode == 2 and "RANKER_ISSUE must be an issue number" in bad.stderr


def test_check_then_queue_pushes_the_request_even_after_another_push(
    origin: Path, world, tmp_path: Path
) -> None:
    check = _clone(origin, tmp_path / "check")
    proc = _stage(check, "request", "--endpoint", world.url, RANKER_ISSUE="12",
                  RANKER_ISSUE_BODY="### Model id\n\norg/roberta-ft\n")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("queued=true\nreplied=true\n")
    assert "queued" in (check / "nightly" / "request" / "reply.md").read_text()
    # meanwhile someone else pushes: the queue job's first push is refused
    other = _clone(origin, tmp_path / "other")
    queue = _clone(origin, tmp_path / "queue")
    (other / "data" / "probe.json").write_text('{"mnli_revision": "' + "b" * 40 + '"}\n')
    _commit(other, "the nightly run")
    _git(other, "push", "-q")
    # the queue job: the check's request file only (the artifact), no hub
    (queue / "nightly" / "request").mkdir(parents=True)
    shutil.copy(check / "nightly" / "request" / "request.json", queue / "nightly" / "request")
    world.reset_counts()
    proc = _stage(queue, "queue", RANKER_PUSH="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "push refused (try 1)" in proc.stderr
    assert world.log == []
    head = tmp_path / "head"
    _clone(origin, head)
    assert (
        _git(head, "log", "--format=%s") == "Queue an evaluation request\nthe nightly run\ninit\n"
    )
    (request,) = Store(head / "data").requests()
    assert (request.issue, request.model_id, request.status) == (12, "org/roberta-ft", "queued")
    assert [e.model_id for e in Store(head / "data").catalog()] == ["org/roberta-ft"]
    assert (head / "data" / "probe.json").exists()
    # queueing the same file again commits nothing
    again = _stage(queue, "queue", RANKER_PUSH="1")
    assert again.returncode == 0 and _git(queue, "status", "--porcelain") == ""
    # a link in place of the request file is refused
    link = queue / "nightly" / "request" / "request.json"
    link.unlink()
    link.symlink_to(check / "nightly" / "request" / "request.json")
    assert _stage(queue, "queue").returncode == 2


def test_the_merge_stage_writes_the_replies_and_the_reply_stage_posts_them(
    origin: Path, tmp_path: Path
) -> None:
    repo = _clone(origin, tmp_path / "merge")
    store = Store(repo / "data")
    store.write_catalog([_entry(ROBERTA, 900), _entry("org/a", 1), _entry("org/b", 1)])
    store.write_requests([_request("org/a", 4), _request("org/b", 5)])
    store.write_results([_result(ROBERTA, gain=None), _result("org/a")])
    _commit(repo, "state")
    output = tmp_path / "github-output"
    proc = _stage(repo, "merge", RANKER_SHARDS="1", RANKER_COMMIT="1", RANKER_SITE_URL=SITE,
                  GITHUB_OUTPUT=str(output))  # fmt: skip
    assert "replies=1\n" in output.read_text(), proc.stdout + proc.stderr
    replies = repo / "nightly" / "replies"
    assert sorted(p.name for p in replies.iterdir()) == ["4.md"]
    assert f"{SITE}models/tiny-roberta-base/org--a.html" in (replies / "4.md").read_text()
    assert (repo / "site" / "models" / "tiny-roberta-base" / "org--a.html").is_file()
    committed = _git(repo, "show", "HEAD:data/requests.jsonl")
    assert '"status": "replied"' in committed and "reply to issue 4: org/a: ok" in _git(
        repo, "log", "-1", "--format=%B"
    )
    # the reply job: posts each <issue>.md with gh, skips anything else
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "gh-calls"
    (bin_dir / "gh").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "gh").chmod(0o755)
    (replies / "x; rm -rf.md").write_text("evil")
    (replies / "7.md").symlink_to(replies / "4.md")
    proc = _stage(repo, "reply", PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert proc.returncode == 1 and proc.stderr.count("skipped a file that is not") == 2
    assert calls.read_text() == "issue comment 4 --body-file nightly/replies/4.md\n"


class _Recorder:
    """An executor that scores every job at once and remembers the order it got them in."""

    slots = workers = 1

    def __init__(self) -> None:
        self.order: list[str] = []
        self.queue: list = []

    def start(self, work) -> None:
        pass

    def can_start(self, job) -> bool:
        return True

    def submit(self, job) -> None:
        self.order.append(job.model_id)
        self.queue.append(job)

    def wait(self):
        from ranker.executors import Outcome

        job = self.queue.pop(0)
        return Outcome(job, _result(job.model_id, revision=job.sha))

    def close(self) -> None:
        pass


def test_a_nightly_run_evaluates_the_requested_models_first(data: Path, world) -> None:
    from ranker.evaluate.run import Options
    from ranker.pipeline import update

    store = Store(data)
    store.write_catalog([_entry(ROBERTA, 900), _entry("pop/big", 10**6), _entry("org/a", 1)])
    _check(data, world, "old/roberta-untagged")  # queued, and catalogued at its sha
    recorder = _Recorder()
    summary = update(store, crawl_step=None, probe_data=lambda: None, options=Options(),
                     max_models=1, executor=recorder)  # fmt: skip
    assert recorder.order == ["old/roberta-untagged"] and summary.stopped_by == "max-models"
    # the next run: the request has its result; the rest in the usual order, bases first
    recorder = _Recorder()
    update(store, crawl_step=None, probe_data=lambda: None, options=Options(),
           executor=recorder)  # fmt: skip
    assert recorder.order == [ROBERTA, "pop/big", "org/a"]
    (reply,) = due_replies(store, SITE)
    assert reply[0].model_id == "old/roberta-untagged" and "is evaluated" in reply[1]
