"""The Quick start page (Help → Quick start): the first run, step by step."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from desktop_app.help.shortcuts import native, shortcut

QUICK_START_TITLE = "Quick start"


def quick_start_html() -> str:
    """The page's text (HTML): train, watch, compare, sweep, bring your data."""
    start = native(shortcut("training.start").keys[0])
    stop = native(shortcut("training.stop").keys[0])
    help_key = native(shortcut("help.shortcuts").keys[0])
    return f"""
<h2>Quick start</h2>
<ol>
<li><b>Train a first model.</b> On the <b>Training</b> tab, pick a family (MLP on the
built-in two moons data is quick), keep the defaults and press <b>Start</b> ({start}).
The loss and accuracy curves and the chronicle table fill in as it trains;
<b>Stop</b> ({stop}) saves it so that <b>Resume</b> continues later.</li>
<li><b>Look at what you trained.</b> The <b>Analysis</b> tab lists every variant on disk,
also runs made with the <code>trainwright</code> command line, and follows them while they
train. Select two or more to overlay their curves; the columns after <i>Last modified</i>
are the hyperparameters that differ between them; <b>Compare configs…</b> shows two
variants' settings side by side. <b>Replay</b> trains a variant again and checks it is
bit-identical.</li>
<li><b>Try several settings.</b> On the <b>Sweeps</b> tab, type lists such as
<code>0.001, 0.01</code> into the fields, check the count and the time estimate and press
<b>Start sweep</b> ({start}). The best run is highlighted; ties go to the lower test loss,
then to fewer epochs.</li>
<li><b>Bring your own data.</b> The <b>Datasets</b> tab imports CSV tables and image folders;
<b>Train on this</b> opens the Training tab with the right family.</li>
<li><b>Keep an eye on runs.</b> The <b>Jobs</b> tab keeps the queue and the history of every
run, with its log; runs interrupted by a crash are offered for Resume.</li>
<li><b>Use a model.</b> In the Analysis tab, <b>Publish…</b> a good variant as a version of
a model; the <b>Models</b> tab lists the versions, exports them (ONNX, safetensors, a bundle
ZIP for another machine), imports bundles, and <i>Try it</i> predicts on a CSV or images
you drop on it.</li>
</ol>
<p>Everything is stored in the data home (File → Preferences); the same variants are
available to <code>trainwright</code> on the command line. {help_key} lists the keyboard
shortcuts; View → Theme switches between the system, light and dark looks.</p>
"""


class QuickStartDialog(QDialog):
    """The Quick start page in a window of its own (non-modal: try the steps beside it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("quickStartDialog")
        self.setWindowTitle(QUICK_START_TITLE)
        self.setAccessibleName(QUICK_START_TITLE)
        self.browser = QTextBrowser()
        self.browser.setObjectName("quickStartText")
        self.browser.setAccessibleName("Quick start")
        self.browser.setAccessibleDescription("The first steps with Trainwright")
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(quick_start_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        self.resize(640, 560)
