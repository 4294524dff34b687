"""The desktop side of LLM searches, headless, against a real local fake of an OpenAI-compatible
server (helpers.fake_llm): the endpoint in Preferences (saved with the other preferences, tested
in a task), "LLM proposals" offered only once an endpoint is set, and an LLM search run through
the Sweeps panel with its proposals table and its conversation."""

from __future__ import annotations

import json
import socket

import pytest
from helpers.fake_llm import FakeLlm, Reply, trial_number
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop_app.kit.preferences import Preferences, PreferencesDialog, save_preferences
from desktop_app.sweeps.panel import SweepPanel
from engine.sweeps import load_sweep, plan_sweep
from engine.sweeps.endpoint import LlmSettings, load_llm_settings, save_llm_settings

RUN_TIMEOUT_MS = 60_000
PROPOSALS = [
    ({"hidden_dim": 16, "lr": 0.01}, "start small with a moderate learning rate"),
    ({"hidden_dim": 300, "lr": 0.05}, "much wider and faster, since trial 1 learned well"),
    ({"hidden_dim": 40, "lr": 0.002}, "a middle width with a careful learning rate"),
]
TRAINED = [{"hidden_dim": 16, "lr": 0.01}, {"hidden_dim": 64, "lr": 0.05}, PROPOSALS[2][0]]


def reasoned(body: dict) -> Reply:
    """Trial N gets PROPOSALS[N - 1], with its own reason (the table shows it)."""
    values, reason = PROPOSALS[(trial_number(body) - 1) % len(PROPOSALS)]
    return Reply.proposal(values, reason)


def closed_port_url() -> str:
    """A local URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def make_panel(desktop_views, workspace):
    def make() -> SweepPanel:
        panel = desktop_views.add(SweepPanel(workspace), 1400, 900)
        panel.show()
        return panel

    return make


@pytest.fixture
def dialogs(qtbot):
    """Preferences dialogs a test opens, closed (their connection tests ended) after it."""
    made: list[PreferencesDialog] = []
    yield made
    for dialog in made:
        dialog.reject()
        assert dialog.runner.running() == 0


def open_dialog(dialogs, qtbot, preferences: Preferences, home) -> PreferencesDialog:
    dialog = PreferencesDialog(preferences, home)
    qtbot.addWidget(dialog)
    dialogs.append(dialog)
    return dialog


def llm_item(panel: SweepPanel):
    combo = panel.editor.search_combo
    return combo.model().item(combo.findData("llm"))


def llm_search(panel: SweepPanel, trials: int = 3) -> None:
    """An LLM search over hidden_dim and lr of a 1-layer MLP on two_moons, 2 epochs each."""
    editor = panel.editor
    assert panel.select_family("mlp")
    editor.search_combo.setCurrentIndex(editor.search_combo.findData("llm"))
    editor.domain_form.set_value("dataset", "two_moons")
    editor.domain_form.set_value("num_hidden_layers", 1)
    editor.domain_form.set_list("hidden_dim", "8..64")
    editor.training_form.set_list("lr", "1e-3..1e-1:log")
    editor.training_form.set_value("epochs", 2)
    editor.training_form.set_value("threads", 1)
    editor.trials_spin.setValue(trials)


def results(proposals) -> list[str]:
    """The Result column of the proposals table (read again after each trial, in a task)."""
    return [entry.result for entry in proposals.model.entries()]


def run_search(panel: SweepPanel, qtbot):
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS):
        assert panel.start_sweep()
    assert panel.last_error is None, panel.last_error
    return load_sweep(panel.workspace, panel.last_record.id)


# ---- Preferences -------------------------------------------------------------------------------
def test_the_dialog_saves_the_endpoint_with_the_other_preferences(qtbot, dialogs, workspace):
    home = workspace.home
    before = Preferences(torch_threads=3, theme="dark")
    save_preferences(before, home, explicit=True)
    dialog = open_dialog(dialogs, qtbot, before, home)
    assert dialog.llm_url_edit.text() == "" and dialog.llm_model_edit.text() == ""
    dialog.llm_url_edit.setText("http://127.0.0.1:11434/v1/")
    dialog.llm_model_edit.setText("qwen2.5:7b")
    dialog.llm_key_edit.setText("MY_LLM_KEY")
    dialog.llm_timeout_spin.setValue(30)
    dialog.accept()
    chosen = dialog.result_preferences()
    save_preferences(chosen, home, explicit=True)

    saved = json.loads(Preferences.path(home).read_text(encoding="utf-8"))
    assert saved["torch_threads"] == 3 and saved["theme"] == "dark"
    expected = LlmSettings(
        base_url="http://127.0.0.1:11434/v1",
        model="qwen2.5:7b",
        api_key_env="MY_LLM_KEY",
        timeout_s=30,
    )
    assert load_llm_settings(home) == expected  # what the engine (and the CLI) read
    reloaded, problem = Preferences.load(home)
    assert problem is None and reloaded.llm == expected and reloaded.torch_threads == 3
    again = open_dialog(dialogs, qtbot, reloaded, home)
    assert again.llm_url_edit.text() == "http://127.0.0.1:11434/v1"
    assert again.llm_key_edit.text() == "MY_LLM_KEY" and again.llm_timeout_spin.value() == 30

    # `trainwright llm set` writes the same section: the desktop keeps it when it saves.
    save_llm_settings(home, expected.model_copy(update={"retries": 5}))
    loaded, _ = Preferences.load(home)
    loaded.model_copy(update={"torch_threads": 4}).save(home)
    assert load_llm_settings(home).retries == 5


def test_the_dialog_refuses_an_endpoint_that_is_not_one(qtbot, dialogs, workspace):
    dialog = open_dialog(dialogs, qtbot, Preferences(), workspace.home)
    dialog.show()
    dialog.llm_url_edit.setText("127.0.0.1:11434")
    dialog.llm_model_edit.setText("m")
    dialog.accept()
    assert dialog.isVisible() and dialog.error_label.isVisible()
    assert "is not an http:// or https:// URL" in dialog.error_label.text()
    dialog.llm_url_edit.setText("http://127.0.0.1:11434/v1")
    dialog.llm_model_edit.setText("")
    dialog.accept()
    assert "give the model" in dialog.error_label.text() and dialog.isVisible()
    dialog.llm_key_edit.setText("not a name")
    dialog.llm_model_edit.setText("m")
    dialog.accept()
    assert "not an environment variable name" in dialog.error_label.text()
    dialog.llm_key_edit.setText("")
    dialog.llm_url_edit.setText("")
    dialog.llm_model_edit.setText("")
    dialog.accept()
    assert dialog.result() == PreferencesDialog.DialogCode.Accepted
    assert not dialog.result_preferences().llm.configured


def test_test_connection_lists_the_models_or_names_the_url(qtbot, dialogs, workspace):
    dialog = open_dialog(dialogs, qtbot, Preferences(), workspace.home)
    with FakeLlm() as llm:
        dialog.llm_url_edit.setText(llm.base_url)  # no model yet: listing them finds one
        assert dialog.test_connection()
        assert not dialog.llm_test_button.isEnabled()
        qtbot.waitUntil(lambda: "fake-model" in dialog.llm_test_label.text(), timeout=10_000)
        assert dialog.llm_test_label.text() == "Connected: 1 model: fake-model"
        qtbot.waitUntil(dialog.llm_test_button.isEnabled, timeout=5_000)
        assert [r["path"] for r in llm.requests] == ["/v1/models"]

    url = closed_port_url()
    dialog.llm_url_edit.setText(url)
    dialog.llm_test_button.click()
    qtbot.waitUntil(lambda: "cannot reach" in dialog.llm_test_label.text(), timeout=10_000)
    assert f"{url}/models" in dialog.llm_test_label.text()
    assert "b3261e" in dialog.llm_test_label.styleSheet()  # in the error colour
    dialog.llm_url_edit.setText("")
    assert not dialog.test_connection()
    assert "base URL" in dialog.llm_test_label.text()


# ---- the Sweeps editor -------------------------------------------------------------------------
def test_llm_proposals_are_offered_once_an_endpoint_is_set(make_panel, workspace):
    panel = make_panel()
    item = llm_item(panel)
    assert item.text() == "LLM proposals"
    assert not item.isEnabled() and "File → Preferences…" in item.toolTip()

    settings = LlmSettings(base_url="http://127.0.0.1:9/v1", model="m")
    panel.apply_preferences(Preferences(llm=settings))  # what saving Preferences does
    assert item.isEnabled() and "m at http://127.0.0.1:9/v1" in item.toolTip()
    panel.apply_preferences(Preferences())
    assert not item.isEnabled()

    # Set from the CLI meanwhile: seen when the tab shows again.
    save_llm_settings(workspace.home, settings)
    panel.hide()
    panel.show()
    assert item.isEnabled()


def test_an_llm_search_fixes_pruning_and_may_use_the_default_space(make_panel, workspace):
    settings = LlmSettings(base_url="http://127.0.0.1:9/v1", model="m")
    save_llm_settings(workspace.home, settings)
    panel = make_panel()
    editor = panel.editor
    assert panel.select_family("mlp")
    editor.search_combo.setCurrentIndex(editor.search_combo.findData("tpe"))
    editor.prune_combo.setCurrentIndex(editor.prune_combo.findData("median"))
    assert editor.prune_combo.isEnabled() and editor.target_edit.isEnabled()
    editor.search_combo.setCurrentIndex(editor.search_combo.findData("llm"))
    assert not editor.prune_combo.isEnabled() and editor.prune_combo.currentData() == "none"
    assert "no pruning" in editor.prune_combo.toolTip()
    assert editor.trials_spin.isEnabled() and editor.seed_spin.isEnabled()

    # No list: the family's default space, less what the forms fix.
    text = editor.count_label.text()
    assert text.startswith("20 trials of an LLM search over the family's default space: ")
    assert "hidden_dim" in text and "lr" in text and "m at http://127.0.0.1:9/v1" in text
    assert panel.can_start()
    editor.domain_form.set_value("num_hidden_layers", 1)
    assert "(num_hidden_layers fixed)" in editor.count_label.text()
    editor.trials_spin.setValue(4)
    editor.target_edit.setText("0.95")
    request = editor.sweep_request()
    assert "num_hidden_layers" not in request.grid and "hidden_dim" in request.grid
    assert request.search["search"] == "llm" and request.search["prune"] == "none"
    assert request.search["target"] == 0.95 and request.search["trials"] == 4
    plan = plan_sweep(
        workspace,
        request.family,
        request.grid,
        request.domain,
        request.training,
        **request.search,
        llm=settings,
    )
    assert plan.spec.target == 0.95 and plan.spec.ranges["hidden_dim"].high == 256

    editor.target_edit.setText("high")
    assert not panel.can_start() and "'high' is not a number" in editor.count_label.text()
    editor.target_edit.setText("")
    panel.apply_preferences(Preferences())  # the endpoint cleared while chosen
    assert not panel.can_start() and "File → Preferences…" in editor.count_label.text()


# ---- running -----------------------------------------------------------------------------------
def test_an_llm_search_runs_and_lists_its_proposals_and_conversation(make_panel, qtbot, workspace):
    with FakeLlm(default=reasoned) as llm:
        save_llm_settings(workspace.home, llm.settings())
        panel = make_panel()
        llm_search(panel)
        assert panel.can_start()
        record = run_search(panel, qtbot)
    assert record.status == "completed" and record.spec.search == "llm"
    assert [r.result for r in record.rows] == ["completed"] * 3
    assert [r.parameters for r in record.rows] == TRAINED  # 300 is above 8..64: clamped

    view = panel.search_view
    assert panel.results_tabs.currentIndex() == 1 and view.llm
    proposals = view.proposals
    assert proposals is not None and view.side.currentWidget() is proposals
    qtbot.waitUntil(lambda: results(proposals) == ["completed"] * 3, timeout=10_000)
    entries = proposals.model.entries()
    assert [e.reason for e in entries] == [reason for _, reason in PROPOSALS]
    model = proposals.model
    assert model.index(0, 1).data() == "hidden_dim=16, lr=0.01"
    assert model.index(1, 1).data() == "hidden_dim=64, lr=0.05 (adjusted)"
    assert "clamped to 64" in model.index(1, 1).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(1, model.REASON).data() == PROPOSALS[1][1]
    assert proposals.detail.text().startswith("Trial 3: hidden_dim=40, lr=0.002 (completed).")
    proposals.table.selectRow(1)
    assert "clamped to 64" in proposals.detail.text()
    assert proposals.detail.text().endswith(f"Reason: {PROPOSALS[1][1]}")
    objective = record.rows[1].objective
    assert model.index(1, 3).data() == f"{objective:.4g}"
    assert "No parameter importance" in view.importance_note.text()
    assert f"Best: trial {view.best.index + 1}" in view.best_label.text()
    lines = [i for i in view.coordinates.getPlotItem().items if type(i).__name__ == "PlotDataItem"]
    assert len(lines) == 3

    dialog = proposals.open_conversation()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "Propose trial 3" in dialog.text.toPlainText(), timeout=10_000)
    text = dialog.text.toPlainText()
    assert "Propose trial 1" in text and "Reason: start small" in text
    assert dialog.text.isReadOnly()
    dialog.close()


def test_an_api_error_and_a_malformed_answer_do_not_stop_the_search(make_panel, qtbot, workspace):
    script = [Reply.error(500), Reply.text("no json here")]
    with FakeLlm(script, default=reasoned) as llm:
        save_llm_settings(workspace.home, llm.settings())
        panel = make_panel()
        llm_search(panel)
        record = run_search(panel, qtbot)
    assert record.status == "completed"
    assert [r.result for r in record.rows] == ["completed"] * 3
    proposals = panel.search_view.proposals
    qtbot.waitUntil(lambda: results(proposals) == ["completed"] * 3, timeout=10_000)
    first = proposals.model.entries()[0]
    assert first.asked == 2 and first.reason == PROPOSALS[0][1]
    reason = proposals.model.index(0, proposals.model.REASON)
    assert "not usable" in reason.data(Qt.ItemDataRole.ToolTipRole)

    dialog = proposals.open_conversation()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "Propose trial 3" in dialog.text.toPlainText(), timeout=10_000)
    text = dialog.text.toPlainText()
    assert "API error (attempt 1): HTTP 500" in text
    assert "Not usable, sent back: the answer holds no JSON object" in text
    dialog.close()


def test_an_unreachable_endpoint_is_said_in_words(make_panel, qtbot, workspace):
    url = closed_port_url()
    save_llm_settings(workspace.home, LlmSettings(base_url=url, model="m", retries=0))
    panel = make_panel()
    llm_search(panel)
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS):
        assert panel.start_sweep()
    assert panel.last_record is None and panel.last_error is not None
    status = panel.status_label.text()
    assert status.startswith(f"Sweep failed: cannot reach the LLM endpoint {url}")
    assert "Traceback" not in status and "LlmError" not in status
    assert panel.past_sweep_ids() == []  # refused before anything was stored
    QApplication.processEvents()
