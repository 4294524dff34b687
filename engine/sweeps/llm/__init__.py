"""LLM searches: an OpenAI-compatible endpoint proposes each trial from the results so far.

    trainwright llm set --url http://127.0.0.1:11434/v1 --model qwen2.5:0.5b
    trainwright sweep mlp --search llm --trials 5

settings.py keeps the endpoint (none by default: nothing leaves the machine), client.py talks
to it, prompt.py and proposal.py say what is asked and check what comes back, proposer.py
runs the exchange for each trial and logs it (llm_log.jsonl, the job's log).
"""

from engine.sweeps.endpoint import (
    NOT_SET,
    LlmSettings,
    load_llm_settings,
    save_llm_settings,
)
from engine.sweeps.llm.client import ChatClient, LlmError, LlmStopped

__all__ = [
    "NOT_SET",
    "ChatClient",
    "LlmError",
    "LlmSettings",
    "LlmStopped",
    "load_llm_settings",
    "save_llm_settings",
]
