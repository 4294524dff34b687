"""`trainwright llm show|set|clear|test`: the endpoint LLM searches ask (none by default).

Saved in the data home's preferences.json (the window's Preferences edit the same section).
`set` changes only the options given; `test` asks the endpoint for its models, so a user can
see that the URL and key work before starting a search. Exit 2 with one line for bad input or
an endpoint that cannot be used.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import ValidationError

from engine.errors import TrainwrightError
from engine.sweeps.endpoint import LlmSettings, load_llm_settings, save_llm_settings
from engine.sweeps.llm.client import ChatClient

OPTIONS = {  # option -> settings field
    "url": "base_url",
    "model": "model",
    "api_key_env": "api_key_env",
    "timeout": "timeout_s",
    "retries": "retries",
    "backoff": "backoff_s",
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "llm",
        help="the LLM endpoint `sweep --search llm` asks (show, set, clear, test)",
        description="The OpenAI-compatible endpoint an LLM search asks for proposals. None is "
        "set by default, and nothing is sent anywhere until one is.",
    )
    actions = p.add_subparsers(dest="llm_action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the endpoint settings")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=cmd_show)
    setter = actions.add_parser("set", help="set the endpoint (only the options given change)")
    add_endpoint_options(setter, prefix="")
    setter.set_defaults(handler=cmd_set)
    clear = actions.add_parser("clear", help="forget the endpoint (LLM searches are then off)")
    clear.set_defaults(handler=cmd_clear)
    test = actions.add_parser("test", help="ask the endpoint for its models")
    test.add_argument("--json", action="store_true", help="print JSON")
    test.set_defaults(handler=cmd_test)


def add_endpoint_options(parser: argparse.ArgumentParser, *, prefix: str) -> None:
    """--url, --model, --api-key-env, --timeout, --retries, --backoff (with `prefix`, e.g.
    "llm-" for the sweep command's one-off overrides)."""
    parser.add_argument(
        f"--{prefix}url",
        dest="url",
        metavar="URL",
        help="the server's OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1",
    )
    parser.add_argument(f"--{prefix}model", dest="model", metavar="NAME", help="the model to ask")
    parser.add_argument(
        f"--{prefix}api-key-env",
        dest="api_key_env",
        metavar="VAR",
        help="the environment variable holding an API key (the key is never stored)",
    )
    parser.add_argument(
        f"--{prefix}timeout", dest="timeout", type=float, metavar="S", help="seconds per answer"
    )
    if not prefix:
        parser.add_argument(
            "--retries", type=int, metavar="N", help="tries again after an API error (default 3)"
        )
        parser.add_argument(
            "--backoff",
            type=float,
            metavar="S",
            help="first wait before trying again, doubling each time (default 1)",
        )


def settings_with(base: LlmSettings, args: argparse.Namespace, prefix: str = "") -> LlmSettings:
    """`base` with the endpoint options given on the command line; bad values refused
    naming the option (as spelled with `prefix`)."""
    given = {
        field: getattr(args, option)
        for option, field in OPTIONS.items()
        if getattr(args, option, None) is not None
    }
    try:
        return LlmSettings.model_validate({**base.model_dump(), **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        option = next((o for o, f in OPTIONS.items() if f == field), field)
        raise TrainwrightError(f"--{prefix}{option.replace('_', '-')}: {first['msg']}") from None


def cmd_show(ws: Any, args: argparse.Namespace) -> int:
    settings = load_llm_settings(ws.home)
    if args.json:
        print(json.dumps({**settings.model_dump(mode="json"), "configured": settings.configured}))
        return 0
    if not settings.base_url:
        print("no LLM endpoint is set (LLM searches are off; nothing is sent anywhere)")
        return 0
    print(f"url:         {settings.base_url}")
    print(f"model:       {settings.model or '(none: set one with --model)'}")
    key = settings.api_key_env
    state = ("set" if settings.api_key() else "not set in this environment") if key else ""
    print(f"api key:     {f'${key} ({state})' if key else 'none'}")
    print(f"timeout:     {settings.timeout_s:g} s, {settings.retries} retries, "
          f"backoff {settings.backoff_s:g} s")  # fmt: skip
    return 0


def cmd_set(ws: Any, args: argparse.Namespace) -> int:
    settings = settings_with(load_llm_settings(ws.home), args)
    path = save_llm_settings(ws.home, settings)
    print(f"saved in {path}")
    return cmd_show(ws, argparse.Namespace(json=False))


def cmd_clear(ws: Any, args: argparse.Namespace) -> int:
    path = save_llm_settings(ws.home, LlmSettings())
    print(f"no LLM endpoint is set now ({path})")
    return 0


def cmd_test(ws: Any, args: argparse.Namespace) -> int:
    settings = load_llm_settings(ws.home)
    models = ChatClient(settings).list_models()
    if args.json:
        print(json.dumps({"url": settings.base_url, "models": models}))
        return 0
    print(f"{settings.base_url} answers; it serves {len(models)} model(s):")
    for name in models:
        mark = "  (set)" if name == settings.model else ""
        print(f"  {name}{mark}")
    if settings.model and settings.model not in models:
        print(f"note: the model set, {settings.model!r}, is not among them")
    return 0
