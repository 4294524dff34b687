"""Which Keras layer mirrors which torch module, for the families the tensorflow backend trains.

The tensorflow backend builds each family's torch architecture again as Keras layers
(keras_models.py), one layer per torch module with weights, and names it after that module:
`keras_names` is that naming, read from the torch model alone (no Keras import), so the
builder and the conversion of Keras weights into the torch model (keras_weights.py) cannot
disagree. The MLP keeps the names its first tensorflow variants were trained with (hidden0,
norm0, …, output: a weights hash is taken over the Keras names, and replay compares it); the
CNNs use the torch path with dots as underscores (stem_0, stages_1_0_shortcut_1, head).

How each kind of weight is laid out on each side:
- Linear weight [out, in]  <- Dense kernel [in, out] (transposed); bias <- bias
- Conv2d weight [out, in, kh, kw]  <- Conv2D kernel [kh, kw, in, out]; bias <- bias
- BatchNorm weight, bias, running_mean, running_var  <- gamma, beta, moving_mean,
  moving_variance (num_batches_tracked, unused at momentum 0.1, stays 0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

# torch parameter or buffer name -> Keras variable name, per kind of module.
LINEAR = {"weight": "kernel", "bias": "bias"}
CONV = {"weight": "kernel", "bias": "bias"}
NORM = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def weighted_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules with weights (Linear, Conv2d, BatchNorm), by path, in registration order."""
    from torch import nn

    kinds = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)
    return [(path, module) for path, module in model.named_modules() if isinstance(module, kinds)]


def keras_names(model: nn.Module) -> dict[str, str]:
    """torch module path -> the name of the Keras layer that mirrors it."""
    from engine.models.mlp import DynamicMLPModel

    modules = weighted_modules(model)
    if not isinstance(model, DynamicMLPModel):
        return {path: path.replace(".", "_") for path, _ in modules}
    from torch import nn

    linears = [path for path, m in modules if isinstance(m, nn.Linear)]
    names: dict[str, str] = {}
    hidden = -1
    for path, module in modules:
        if isinstance(module, nn.Linear):
            hidden += 1
            names[path] = "output" if path == linears[-1] else f"hidden{hidden}"
        else:  # the BatchNorm after hidden layer `hidden`
            names[path] = f"norm{hidden}"
    return names


def torch_axes(module: nn.Module, name: str) -> tuple[int, ...] | None:
    """How the Keras array of `module`'s torch parameter `name` is permuted into the torch
    tensor (numpy `transpose` axes; None: the same layout): the layouts of the docstring."""
    from torch import nn

    if name != "weight":
        return None
    if isinstance(module, nn.Linear):
        return (1, 0)
    if isinstance(module, nn.Conv2d):
        return (3, 2, 0, 1)
    return None


def variable_names(module: nn.Module) -> dict[str, str]:
    """torch parameter/buffer name -> Keras variable name for one module of `weighted_modules`."""
    from torch import nn

    if isinstance(module, nn.Linear):
        return LINEAR
    if isinstance(module, nn.Conv2d):
        return CONV
    return NORM
