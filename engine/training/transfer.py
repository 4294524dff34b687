"""Transfer: start a run from another completed variant's final weights (`init_from`), and
optionally train its output layer only (`freeze=features`).

`resolve_transfer` runs when a Trainer is built (train, resume and replay alike), before
anything is written: the source must exist in the workspace, be of the same family and
completed, its final weights must verify, and every layer but the head must have the same
shape here as there. The head (the module the model's `head_name` attribute names, else the
last module owning parameters) keeps its fresh seeded initialisation when its shapes differ
(another class count). The Trainer applies the weights right after its seeded `create_model`,
so the run stays a pure function of its config and the source's weights, whose hash is
recorded in metadata.extra["init_from"]: a resume or replay after the source was retrained is
refused instead of silently training from other weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ParameterError, TrainwrightError
from engine.metadata import VariantMetadata
from engine.models.heads import head_name, in_module
from engine.training.final_weights import load_final_weights
from engine.variants import Variant

if TYPE_CHECKING:
    import torch
    from torch import nn

FIELD = "init_from"


@dataclass(eq=False)
class Transfer:
    """The source's weights to load (the head's left out when it is re-initialised), and what
    metadata.extra["init_from"] records of them."""

    source: str
    family: str
    weights_sha256: str
    weights: dict[str, torch.Tensor]
    head: str
    head_reinitialised: bool
    freeze: bool

    @property
    def record(self) -> dict[str, Any]:
        return {
            "variant": self.source,
            "family": self.family,
            "weights_sha256": self.weights_sha256,
            "head_reinitialised": self.head_reinitialised,
            "freeze": "features" if self.freeze else "none",
        }

    def apply(self, model: nn.Module) -> None:
        """Copy the weights into `model` (in place: it may already be on its device), and with
        `freeze` stop every parameter outside the head from training. Draws no random number."""
        import torch

        own = model.state_dict()
        with torch.no_grad():
            for name, tensor in self.weights.items():
                own[name].copy_(tensor)
        if self.freeze:
            for name, parameter in model.named_parameters():
                if not in_module(name, self.head):
                    parameter.requires_grad_(False)

    def check_recorded(self, recorded: Any, variant: str) -> None:
        """Refuse (ParameterError) when `variant` started from other weights of the source
        than it has now: the source was retrained since."""
        if not isinstance(recorded, dict):
            return  # nothing recorded (killed before its first save): nothing to compare
        expected = recorded.get("weights_sha256")
        if expected and expected != self.weights_sha256:
            raise ParameterError(
                FIELD,
                f"{self.source} was retrained since {variant} started from it: its final "
                f"weights are now {self.weights_sha256[:12]}…, {variant} started from "
                f"{str(expected)[:12]}…; train {variant} again (overwrite) to start from "
                "the new weights",
            )


def resolve_transfer(workspace: Any, variant: Variant) -> Transfer | None:
    """The transfer `variant`'s config asks for (None: none); ParameterError naming the field
    and the problem when it cannot be done. `workspace`: what has the source (its `registry`;
    a strategy's workspace, engine.strategies.WorkspaceLike, which sits above this module)."""
    training = variant.config.training
    name, freeze = training.init_from, training.freeze == "features"
    if not name:
        if freeze:
            raise ParameterError(
                "freeze", "needs init_from (the variant whose layers to keep fixed)"
            )
        return None
    source = _find(workspace, name, variant)
    family = workspace.registry.family(variant.family)  # the source's too (_find)
    state, digest = final_weights(source, family)
    fresh = _fresh_model(family, variant.config.domain)
    head = head_name(fresh)
    own = fresh.state_dict()
    reinit = _head_differs(own, state, head)
    problems = [
        _shape_problem(key, own.get(key), state.get(key), name)
        for key in sorted(set(own) | set(state), key=_order(own, state))
        if not in_module(key, head)
    ]
    problems = [p for p in problems if p]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ParameterError(FIELD, f"{problems[0]}{more}; only the output layer may differ")
    weights = {k: v for k, v in state.items() if not (reinit and in_module(k, head))}
    return Transfer(name, source.family, digest, weights, head, reinit, freeze)


def _find(workspace: Any, name: str, variant: Variant) -> Variant:
    if name == variant.name:
        raise ParameterError(FIELD, f"{name} cannot start from its own weights")
    try:
        source = workspace.registry.variant(name)
    except TrainwrightError:
        raise ParameterError(FIELD, f"no trained variant named {name!r}") from None
    if source.family != variant.family:
        raise ParameterError(
            FIELD,
            f"{name} is a {source.family} variant; {variant.family} can only start from "
            f"{variant.family} variants",
        )
    return source


def final_weights(
    source: Variant, family: Any | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """The completed source's final weights (of `family`) and their hash, verified twice: the
    file against its sidecar, the weights against metadata.json; a tensorflow source's come
    converted into the family's torch model. (What distillation's teacher loader uses too:
    engine.training.final_weights.)"""
    try:
        meta = VariantMetadata.load(source.metadata_path)
    except (OSError, ValueError) as exc:
        raise ParameterError(FIELD, f"{source.name} cannot be read: {exc}") from None
    if meta.status != "completed":
        raise ParameterError(
            FIELD, f"{source.name} is {meta.status}, not completed; finish training it first"
        )
    try:
        final = load_final_weights(source, meta, family)
    except TrainwrightError as exc:  # missing, corrupt, altered: its words, naming the source
        raise ParameterError(FIELD, str(exc)) from None
    return final.state, final.weights_sha256


def _fresh_model(family: Any, domain: dict[str, Any]) -> nn.Module:
    """This config's model, built without moving the global RNG (the run seeds its own)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        return family.create_model(domain)


def _head_differs(own: dict[str, Any], source: dict[str, Any], head: str) -> bool:
    mine = {k: tuple(v.shape) for k, v in own.items() if in_module(k, head)}
    theirs = {k: tuple(v.shape) for k, v in source.items() if in_module(k, head)}
    return mine != theirs


def _shape_problem(key: str, here: Any, there: Any, source: str) -> str | None:
    if here is not None and there is not None and tuple(here.shape) == tuple(there.shape):
        return None
    mine = "absent" if here is None else list(here.shape)
    theirs = "absent" if there is None else list(there.shape)
    return f"layer {key}: {mine} here, {theirs} in {source}"


def _order(own: dict[str, Any], source: dict[str, Any]) -> Any:
    """Sort keys as this model registers them (then the source's others, in its order)."""
    position = {k: i for i, k in enumerate([*own, *(k for k in source if k not in own)])}
    return position.__getitem__
