"""LLM searches against a real local HTTP server with canned answers (tests/helpers/fake_llm):
proposals checked and clamped, bad answers sent back once, API errors retried, timeouts,
an unreachable or unset endpoint refused, the exchange logged in the sweep and its job,
stop and SIGKILL resumed to the same trials."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest
from helpers.fake_llm import MODEL, FakeLlm, Reply, cycling, prompt_of
from helpers.sweeps import kill_sweep_midway

from engine.cli import main
from engine.sweeps import SweepError, list_sweeps, load_sweep, plan_sweep, run_sweep, sweep
from engine.sweeps.llm import LlmError, LlmSettings, load_llm_settings
from engine.sweeps.llm.proposal import InvalidProposal, answer_schema, read_proposal
from engine.sweeps.llm.proposer import logged_proposals, read_log
from engine.sweeps.schema import sweep_schema
from engine.sweeps.store import best_trial

SMALL = {"num_hidden_layers": 1}
FAST = {"threads": 1, "epochs": 3}
SPACE = {"hidden_dim": "8..64", "lr": "1e-3..1e-1:log"}
PROPOSALS = [
    {"hidden_dim": 16, "lr": 0.01},
    {"hidden_dim": 64, "lr": 0.05},
    {"hidden_dim": 8, "lr": 0.001},
    {"hidden_dim": 32, "lr": 0.02},
    {"hidden_dim": 48, "lr": 0.003},
]


def llm_search(workspace, llm, trials=3, grid=None, training=None, **options):
    return sweep(
        workspace,
        "mlp",
        grid or SPACE,
        SMALL,
        {**FAST, **(training or {})},
        search="llm",
        trials=trials,
        llm=options.pop("settings", None) or llm.settings(),
        **options,
    )


def stable(rows):
    return [r.model_dump(exclude={"duration_s", "finished_at"}) for r in rows]


def test_five_trials_survive_a_500_and_a_malformed_answer_and_keep_the_best(workspace):
    """The acceptance: 5 trials on two_moons, the first call answered 500, the first answer
    without JSON; every trial an ordinary variant, the best one kept."""
    script = [Reply.error(500), Reply.text("Sure! I would try a wide layer.")]
    with FakeLlm(script, default=cycling(PROPOSALS)) as llm:
        record = llm_search(workspace, llm, trials=5)
    assert record.status == "completed"
    assert [r.result for r in record.rows] == ["completed"] * 5
    assert [r.parameters for r in record.rows] == PROPOSALS
    best = best_trial(record)
    assert best is not None and best.objective == max(r.objective for r in record.rows)
    for row in record.rows:
        assert (workspace.home / "variants" / "mlp" / row.variant / "metadata.json").is_file()
    events = [e["event"] for e in read_log(workspace.home, record.id) if e["trial"] == 0]
    assert events == ["prompt", "api_error", "answer", "invalid", "prompt", "answer", "proposal"]
    again = [e for e in read_log(workspace.home, record.id) if e["event"] == "prompt"][1]
    assert again["messages"][-2] == {
        "role": "assistant",
        "content": "Sure! I would try a wide layer.",
    }
    assert "could not be used: the answer holds no JSON object" in again["messages"][-1]["content"]
    assert logged_proposals(workspace.home, record.id)[0].asked == 2


def test_the_prompt_describes_the_data_the_space_and_every_earlier_trial(workspace):
    with FakeLlm(default=cycling(PROPOSALS)) as llm:
        record = llm_search(workspace, llm, trials=3)
        first, third = prompt_of(llm.chats()[0]), prompt_of(llm.chats()[2])
        request = llm.chats()[0]
    assert "two_moons: table, classification, 1000 rows, 2 features, 2 classes" in first
    assert "hidden_dim (Hidden dim): a whole number from 8 to 64" in first
    assert "lr (Learning rate): a number from 0.001 to 0.1 (log scale)" in first
    assert "Objective: maximise test_accuracy" in first
    assert "num_hidden_layers=1" in first and "epochs=3" in first
    assert "none yet" in first and "Propose trial 1." in first
    score = record.rows[0].objective
    assert f"1. hidden_dim=16, lr=0.01 -> test_accuracy {score:.4g}" in third
    assert "Trials so far (2 of a budget of 3)" in third
    assert request["model"] == MODEL and request["temperature"] == 0 and request["seed"] == 0
    schema = request["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["hidden_dim", "lr", "reason"]
    assert schema["properties"]["hidden_dim"] == {
        "type": "integer", "minimum": 8, "maximum": 64, "description": "Hidden dim"
    }  # fmt: skip


def test_out_of_range_values_are_clamped_and_the_changes_logged(workspace):
    wild = Reply.proposal({"hidden_dim": 3.7, "lr": 5, "optimizer": "sgd"})
    with FakeLlm([wild], default=cycling(PROPOSALS)) as llm:
        record = llm_search(workspace, llm, trials=1)
    assert record.rows[0].parameters == {"hidden_dim": 8, "lr": 0.1}
    assert record.rows[0].result == "completed"
    proposal = logged_proposals(workspace.home, record.id)[0]
    assert proposal.adjustments == [
        "hidden_dim 3.7 is below the range: clamped to 8",
        "lr 5 is above the range: clamped to 0.1",
        "ignored what is not searched: optimizer",
    ]


def test_an_answer_unusable_twice_is_a_failed_trial_and_the_search_goes_on(workspace):
    script = [Reply.text("{}"), Reply.proposal({"hidden_dim": "wide", "lr": 0.01})]
    with FakeLlm(script, default=cycling(PROPOSALS)) as llm:
        record = llm_search(workspace, llm, trials=2)
    assert [r.result for r in record.rows] == ["failed", "completed"]
    assert record.rows[0].error == (
        'the LLM\'s answer was not usable twice: hidden_dim must be a number, not "wide"'
    )
    assert record.rows[0].variant is None
    assert record.rows[1].parameters == PROPOSALS[1]  # asked as trial 2
    assert record.status == "completed"


def test_a_proposal_already_tried_is_sent_back(workspace):
    script = [Reply.proposal(PROPOSALS[0]), Reply.proposal(PROPOSALS[0])]
    with FakeLlm(script, default=cycling(PROPOSALS)) as llm:
        record = llm_search(workspace, llm, trials=2)
        again = prompt_of(llm.chats()[-1])
        temperatures = [c["temperature"] for c in llm.chats()]
    assert [r.parameters for r in record.rows] == [PROPOSALS[0], PROPOSALS[1]]
    assert "trial 1 already tried exactly this configuration" in again
    assert temperatures == [0.0, 0.0, 0.8]  # asked again, the model may sample


def test_a_timeout_is_retried_and_an_endpoint_failing_every_retry_stops_the_sweep_resumably(
    workspace,
):
    """One answer slower than the timeout is retried; then four 500s in a row (a try and
    3 retries) stop the sweep with a message naming the URL; resumed once the server
    answers, it keeps the finished trial and ends like a search never stopped."""
    script = [Reply.slow(1.5, PROPOSALS[0]), Reply.proposal(PROPOSALS[0])]
    script += [Reply.error(500)] * 4
    with FakeLlm(script, default=cycling(PROPOSALS)) as llm:
        settings = llm.settings(timeout_s=0.5)
        with pytest.raises(LlmError) as failure:
            llm_search(workspace, llm, trials=3, settings=settings)
        message = str(failure.value)
        assert f"the LLM endpoint {llm.base_url} failed 4 times: HTTP 500" in message
        assert "resume it with `trainwright sweep resume" in message
        (summary,) = list_sweeps(workspace)
        assert summary.status == "cancelled" and summary.completed == 1
        errors = [e for e in read_log(workspace.home, summary.id) if e["event"] == "api_error"]
        assert "within 0.5 s (timeout)" in errors[0]["error"]
        assert len(errors) == 5
        resumed = run_sweep(workspace, summary.id)
    assert resumed.status == "completed"
    assert [r.parameters for r in resumed.rows] == PROPOSALS[:3]
    with FakeLlm(default=cycling(PROPOSALS)) as llm:
        clean = llm_search(workspace.__class__(workspace.home.parent / "clean"), llm, trials=3)
    assert [r.weights_sha256 for r in resumed.rows] == [r.weights_sha256 for r in clean.rows]


def test_stopping_while_the_llm_thinks_returns_at_once_and_resumes(workspace):
    cancel = threading.Event()
    with FakeLlm([Reply.slow(3.0, PROPOSALS[0])], default=cycling(PROPOSALS)) as llm:
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        record = llm_search(workspace, llm, trials=2, cancel_event=cancel)
        assert time.monotonic() - started < 2.0
        assert record.status == "cancelled" and record.rows == [] and record.combinations == []
        resumed = run_sweep(workspace, record.id)
    assert [r.parameters for r in resumed.rows] == PROPOSALS[:2]


def test_the_target_ends_the_search_early(workspace):
    with FakeLlm(default=cycling(PROPOSALS)) as llm:
        record = llm_search(workspace, llm, trials=5, target=0.5)
    assert record.status == "completed"
    assert len(record.rows) == 1 and record.rows[0].objective >= 0.5
    assert len(llm.chats()) == 1


def test_response_format_falls_back_through_the_forms_servers_take(workspace):
    """OpenAI's json_schema refused (llama-cpp-python answers it with HTTP 500), then
    json_object with the schema refused too: asked without a response_format; the form that
    worked is kept for the next trial."""
    refused = Reply(500, b'{"error": "body.response_format.type: Input should be json_object"}')
    also = Reply(400, b'{"error": "unknown field: response_format"}')
    with FakeLlm([refused, also], default=cycling(PROPOSALS)) as llm:
        record = llm_search(workspace, llm, trials=2)
        forms = [c.get("response_format", {}).get("type") for c in llm.chats()]
    assert forms == ["json_schema", "json_object", None, None]
    assert llm.chats()[1]["response_format"]["schema"]["required"] == ["hidden_dim", "lr", "reason"]
    assert [r.parameters for r in record.rows] == PROPOSALS[:2]
    refusals = [e for e in read_log(workspace.home, record.id) if e["event"] == "format_refused"]
    assert [e["format"] for e in refusals] == ["json_schema", "json_object"]


def test_the_api_key_comes_from_its_variable_and_a_refusal_names_it(workspace, monkeypatch):
    monkeypatch.setenv("TW_TEST_KEY", "sk-local-123")
    with FakeLlm([Reply.error(401)]) as llm:
        settings = llm.settings(api_key_env="TW_TEST_KEY")
        with pytest.raises(LlmError, match=r"HTTP 401\) with the key in \$TW_TEST_KEY"):
            llm_search(workspace, llm, trials=1, settings=settings)
        assert llm.chats()[0]["authorization"] == "Bearer sk-local-123"
        assert len(llm.chats()) == 1  # a refusal is not retried


def test_no_endpoint_exits_2_saying_how_to_set_one(capsys, trainwright_home):
    code = main(["sweep", "mlp", "--search", "llm", "--trials", "5"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "needs an LLM endpoint, and none is set: set one with `trainwright llm set" in err
    assert "Preferences" in err and "--llm-url" in err
    assert not (trainwright_home / "sweeps").exists()


def test_an_unreachable_endpoint_exits_2_naming_the_url(capsys, trainwright_home):
    with FakeLlm() as llm:
        url = llm.base_url
    code = main(["sweep", "mlp", "--search", "llm", "--llm-url", url, "--llm-model", "m"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot reach the LLM endpoint {url} ({url}/models: [Errno 111]" in err
    assert not (trainwright_home / "sweeps").exists()


def test_the_cli_search_logs_the_conversation_in_its_job(capsys, trainwright_home):
    with FakeLlm([Reply.error(503)], default=cycling(PROPOSALS)) as llm:
        assert main(["llm", "set", "--url", llm.base_url, "--model", MODEL, "--backoff", "0"]) == 0
        args = ["sweep", "mlp", "--search", "llm", "--trials", "2", "-p", "num_hidden_layers=1"]
        args += ["-g", "hidden_dim=8..64", "-g", "lr=1e-3..1e-1:log", "-t", "epochs=2"]
        assert main([*args, "--target", "1.01"]) == 0
    out, _err = capsys.readouterr()
    assert "sweep mlp_" in out and "completed: 2 completed, 0 failed of 2" in out
    assert "best: mlp_" in out
    assert main(["jobs", "logs", "1"]) == 0
    logs = capsys.readouterr().out
    assert "LLM trial 1, asking fake-model at " in logs and "Propose trial 1." in logs
    assert "LLM trial 1: HTTP 503 from" in logs
    assert 'LLM trial 2, answer 1:\n{"hidden_dim": 64, "lr": 0.05' in logs


def test_llm_settings_commands_keep_other_preferences(capsys, trainwright_home):
    prefs = trainwright_home / "preferences.json"
    prefs.write_text(json.dumps({"theme": "dark", "torch_threads": 2}))
    assert main(["llm", "show"]) == 0
    assert "no LLM endpoint is set" in capsys.readouterr().out
    assert main(["llm", "set", "--url", "http://127.0.0.1:8080/v1/", "--model", "qwen"]) == 0
    assert main(["llm", "set", "--api-key-env", "MY_KEY", "--timeout", "30"]) == 0
    saved = json.loads(prefs.read_text())
    assert saved["theme"] == "dark" and saved["torch_threads"] == 2
    assert load_llm_settings(trainwright_home) == LlmSettings(
        base_url="http://127.0.0.1:8080/v1", model="qwen", api_key_env="MY_KEY", timeout_s=30
    )
    capsys.readouterr()
    assert main(["llm", "set", "--url", "ftp://x"]) == 2
    assert "--url: Value error, 'ftp://x' is not an http:// or https:// URL" in (
        capsys.readouterr().err
    )
    with FakeLlm() as llm:
        assert main(["llm", "set", "--url", llm.base_url, "--model", MODEL]) == 0
        capsys.readouterr()
        assert main(["llm", "test"]) == 0
        assert f"{MODEL}  (set)" in capsys.readouterr().out
    assert main(["llm", "clear"]) == 0
    assert not load_llm_settings(trainwright_home).configured
    prefs.write_text(json.dumps({"llm": {"base_url": 7}}))
    with pytest.raises(SweepError, match=r"preferences.json: llm.base_url: "):
        load_llm_settings(trainwright_home)


def test_plan_rules_for_an_llm_search(workspace):
    settings = LlmSettings(base_url="http://127.0.0.1:1/v1", model="m")
    with pytest.raises(SweepError, match="one trial at a time: --parallel 1, not 2"):
        plan_sweep(workspace, "mlp", SPACE, search="llm", llm=settings, parallel=2)
    with pytest.raises(SweepError, match="an LLM search trains each proposal in full"):
        plan_sweep(workspace, "mlp", SPACE, search="llm", llm=settings, prune="median")
    with pytest.raises(SweepError, match="has no model set"):
        plan_sweep(workspace, "mlp", SPACE, search="llm", llm=LlmSettings(base_url="http://a"))
    with pytest.raises(SweepError, match="--target is for random, tpe and llm searches"):
        plan_sweep(workspace, "mlp", {"lr": "0.1,0.2"}, target=0.9)
    plan = plan_sweep(workspace, "mlp", {}, search="llm", llm=settings, trials=4)
    assert plan.spec.swept_names() == [  # the family's search_space: lists, then ranges
        "activation", "hidden_dim", "num_hidden_layers", "dropout", "lr", "batch_size"
    ]  # fmt: skip
    assert plan.spec.llm == settings and plan.total == 4


def test_read_proposal_takes_json_from_chatter_and_matches_lists(workspace):
    spec = plan_sweep(
        workspace,
        "mlp",
        {"activation": "relu,tanh", "batch_norm": "true,false", "hidden_dim": "16,64"},
        search="llm",
        llm=LlmSettings(base_url="http://127.0.0.1:1/v1", model="m"),
    ).spec
    schema = sweep_schema(workspace.registry.spec("mlp"))
    answer = json.dumps(
        {"activation": "TANH", "batch_norm": "false", "hidden_dim": 50, "reason": " wide\n enough "}
    )
    text = f"Here you go:\n```json\n{answer}\n```"
    proposal = read_proposal(text, spec, schema)
    assert proposal.parameters == {"activation": "tanh", "batch_norm": False, "hidden_dim": 64}
    assert proposal.reason == "wide enough"
    assert proposal.adjustments == [  # in the family's schema order
        "hidden_dim 50 is not listed: took the nearest, 64",
        'activation "TANH" read as "tanh"',
    ]
    for bad, why in [
        ('{"hidden_dim": 16, "activation": "relu"}', "batch_norm is missing"),
        (
            '{"activation": "swish", "batch_norm": true, "hidden_dim": 16}',
            "activation must be one of",
        ),
        (
            '{"activation": "relu", "batch_norm": true, "hidden_dim": NaN}',
            "must be a finite number",
        ),
        ("[1, 2]", "the answer holds no JSON object"),
    ]:
        with pytest.raises(InvalidProposal, match=why):
            read_proposal(bad, spec, schema)
    assert answer_schema(spec, schema)["properties"]["activation"]["enum"] == ["relu", "tanh"]


def test_a_killed_llm_search_resumes_to_the_same_trials_and_weights(workspace, tmp_path):
    """SIGKILL `trainwright sweep --search llm` mid-trial; `sweep resume` reuses the recorded
    proposals (no new question for them) and matches an uninterrupted search."""
    home = workspace.home
    with FakeLlm(default=cycling(PROPOSALS)) as llm:
        command = [sys.executable, "-m", "engine.cli", "sweep", "mlp", "--search", "llm"]
        command += ["--trials", "3", "--llm-url", llm.base_url, "--llm-model", MODEL]
        command += [
            "-g",
            "hidden_dim=8..64",
            "-g",
            "lr=1e-3..1e-1:log",
            "-p",
            "num_hidden_layers=1",
        ]
        command += ["-t", "threads=1", "-t", "resume_every=1", "-t", "epochs=30"]
        log = home.parent / "sweep.log"
        killed_in = kill_sweep_midway(command, home, log)
        assert killed_in is not None, log.read_text()[-2000:]
        asked = len(llm.chats())
        (summary,) = list_sweeps(workspace)
        assert summary.status == "interrupted"
        proposed = len(load_sweep(workspace, summary.id).combinations)
        assert main(["sweep", "resume", summary.id, "--json"]) == 0
        resumed = load_sweep(workspace, summary.id)
        # Only the trials not yet proposed at the kill were asked for.
        assert len(llm.chats()) - asked == 3 - proposed
    with FakeLlm(default=cycling(PROPOSALS)) as llm:
        clean = llm_search(
            workspace.__class__(tmp_path / "clean"),
            llm,
            trials=3,
            training={"epochs": 30, "resume_every": 1},
        )
    assert stable(resumed.rows) == stable(clean.rows)
    assert [r.weights_sha256 for r in resumed.rows] == [r.weights_sha256 for r in clean.rows]


def test_a_stopped_llm_search_resumes_against_a_server_that_moved(capsys, workspace):
    script = [Reply.proposal(PROPOSALS[0])] + [Reply.error(502)] * 4
    with FakeLlm(script) as old, pytest.raises(LlmError, match="failed 4 times: HTTP 502"):
        llm_search(workspace, old, trials=2, settings=old.settings(retries=3))
    (summary,) = list_sweeps(workspace)
    with FakeLlm(default=cycling(PROPOSALS)) as new:
        code = main(["sweep", "resume", summary.id, "--llm-url", new.base_url, "--json"])
        assert code == 0, capsys.readouterr().err
        assert len(new.chats()) == 1  # only the trial not yet proposed
    record = load_sweep(workspace, summary.id)
    assert record.spec.llm.base_url == new.base_url and record.spec.llm.model == MODEL
    assert [r.parameters for r in record.rows] == PROPOSALS[:2]
    assert main(["sweep", "resume", summary.id, "--llm-url", "ftp://x"]) == 2
    assert "--llm-url: Value error, 'ftp://x' is not an http" in capsys.readouterr().err


def test_the_default_space_leaves_out_what_is_fixed(workspace):
    settings = LlmSettings(base_url="http://127.0.0.1:1/v1", model="m")
    plan = plan_sweep(
        workspace, "mlp", {}, {"hidden_dim": 32}, {"lr": 0.01}, search="llm", llm=settings
    )
    assert plan.spec.swept_names() == ["activation", "num_hidden_layers", "dropout", "batch_size"]


def test_how_runs_are_run_is_not_in_the_prompt(workspace):
    with FakeLlm(default=cycling(PROPOSALS)) as llm:
        llm_search(workspace, llm, trials=1, training={"timeout": 600, "keep_best": True})
        prompt = prompt_of(llm.chats()[0])
    assert "Fixed settings: num_hidden_layers=1, epochs=3." in prompt
