"""The families' torch architectures built again as Keras 3 layers (the tensorflow backend).

Each builder walks the torch model the family creates (`family.create_model`), so the sizes a
dataset decides (input width, classes, the image side where pooling stops) come out the same,
and names every layer with weights as keras_layout.keras_names says, so its weights convert
back into the torch model (keras_weights.py) for publishing, export and the analyses.

Images are channels-last on the Keras side ([n, h, w, c]); everything else matches torch
module for module: "same" padding for stride 1, and an explicit one-pixel ZeroPadding2D before
a stride-2 3x3 convolution (TensorFlow's "same" would pad only the bottom and right, torch
pads every side), BatchNorm with torch's momentum (0.1, Keras's 0.9) and epsilon 1e-5, the
mean over the feature map for the global pooling. Initial weights are Keras's own (seeded):
the two backends start from different draws of their own initialisers.

Only imported in the tensorflow process (it is handed the `keras` module).
"""

from __future__ import annotations

from typing import Any

from engine.backends.keras_layout import keras_names

ACTIVATIONS = {  # torch activation module -> Keras activation
    "ReLU": "relu",
    "GELU": "gelu",
    "Tanh": "tanh",
    "Sigmoid": "sigmoid",
    "SiLU": "silu",
    "Identity": "linear",
}
TORCH_MOMENTUM_TO_KERAS = 0.9  # Keras keeps `momentum` of the old value, torch 0.1 of the new
EPSILON = 1e-5  # torch's BatchNorm epsilon (Keras's default is 1e-3)


def build_model(
    keras: Any, template: Any, input_shape: tuple[int, ...], seed: int, name: str
) -> Any:
    """A Keras model mirroring the torch `template` of the mlp or image_classifier family,
    for examples of `input_shape` (Keras's layout: [features] or [h, w, c])."""
    from engine.models.cnn import CifarResNet, SimpleCNN
    from engine.models.mlp import DynamicMLPModel

    builder = _Builder(keras, keras_names(template), seed)
    inputs = keras.Input(input_shape, name="inputs" if len(input_shape) == 1 else "images")
    if isinstance(template, DynamicMLPModel):
        return builder.mlp(template, inputs, name)
    if isinstance(template, SimpleCNN):
        return builder.simple_cnn(template, inputs, name)
    if isinstance(template, CifarResNet):
        return builder.resnet(template, inputs, name)
    raise TypeError(f"the tensorflow backend cannot build a {type(template).__name__}")


class _Builder:
    def __init__(self, keras: Any, names: dict[str, str], seed: int) -> None:
        self.keras, self.layers, self.names, self.seed = keras, keras.layers, names, seed

    # ---- the families --------------------------------------------------------------------
    def mlp(self, template: Any, inputs: Any, name: str) -> Any:
        """Dense -> (BatchNorm) -> activation -> (Dropout) per hidden layer, then the output
        Dense (engine.models.mlp.DynamicMLPModel). The names of layers without weights are
        the first tensorflow variants' (act0, dropout0)."""
        from torch import nn

        h, hidden = inputs, -1
        for index, module in template.net.named_children():
            path = f"net.{index}"
            if isinstance(module, nn.Linear):
                hidden += 1
                h = self.dense(module, path)(h)
            elif isinstance(module, nn.BatchNorm1d):
                h = self.norm(path)(h)
            elif isinstance(module, nn.Dropout):
                h = self.layers.Dropout(module.p, seed=self.seed + hidden, name=f"dropout{hidden}")(
                    h
                )
            else:
                h = self.layers.Activation(self.activation(module), name=f"act{hidden}")(h)
        return self.keras.Model(inputs, h, name=name)

    def simple_cnn(self, template: Any, inputs: Any, name: str) -> Any:
        """engine.models.cnn.SimpleCNN: conv blocks, the mean over the map, Dropout, head."""
        from torch import nn

        h = inputs
        for index, module in template.features.named_children():
            path = f"features.{index}"
            if isinstance(module, nn.Conv2d):
                h = self.conv(module, path)(h)
            elif isinstance(module, nn.BatchNorm2d):
                h = self.norm(path)(h)
            elif isinstance(module, nn.MaxPool2d):
                h = self.layers.MaxPooling2D(2, name=f"pool_{index}")(h)
            elif isinstance(module, nn.AvgPool2d):
                h = self.layers.AveragePooling2D(2, name=f"pool_{index}")(h)
            else:
                h = self.layers.Activation(self.activation(module), name=f"act_{index}")(h)
        h = self.layers.GlobalAveragePooling2D(name="mean")(h)
        if isinstance(template.dropout, nn.Dropout):
            h = self.layers.Dropout(template.dropout.p, seed=self.seed, name="dropout")(h)
        outputs = self.dense(template.head, "head")(h)
        return self.keras.Model(inputs, outputs, name=name)

    def resnet(self, template: Any, inputs: Any, name: str) -> Any:
        """engine.models.cnn.CifarResNet: the stem, the BasicBlocks, the mean, the head."""
        h = self.conv(template.stem[0], "stem.0")(inputs)
        h = self.layers.ReLU(name="stem_relu")(self.norm("stem.1")(h))
        for s, stage in enumerate(template.stages):
            for b, block in enumerate(stage):
                h = self.basic_block(block, f"stages.{s}.{b}", h)
        h = self.layers.GlobalAveragePooling2D(name="mean")(h)
        outputs = self.dense(template.head, "head")(h)
        return self.keras.Model(inputs, outputs, name=name)

    def basic_block(self, block: Any, path: str, x: Any) -> Any:
        from torch import nn

        tag = path.replace(".", "_")
        out = self.conv(block.conv1, f"{path}.conv1", x)
        out = self.layers.ReLU(name=f"{tag}_relu1")(self.norm(f"{path}.bn1")(out))
        out = self.norm(f"{path}.bn2")(self.conv(block.conv2, f"{path}.conv2", out))
        shortcut = x
        if isinstance(block.shortcut, nn.Sequential):
            shortcut = self.conv(block.shortcut[0], f"{path}.shortcut.0", x)
            shortcut = self.norm(f"{path}.shortcut.1")(shortcut)
        added = self.layers.Add(name=f"{tag}_add")([out, shortcut])
        return self.layers.ReLU(name=f"{tag}_relu2")(added)

    # ---- the layers ----------------------------------------------------------------------
    def dense(self, linear: Any, path: str) -> Any:
        return self.layers.Dense(linear.out_features, name=self.names[path])

    def norm(self, path: str) -> Any:
        return self.layers.BatchNormalization(
            momentum=TORCH_MOMENTUM_TO_KERAS, epsilon=EPSILON, name=self.names[path]
        )

    def conv(self, conv: Any, path: str, x: Any = None) -> Any:
        """The Conv2D mirroring `conv`; given `x`, applied to it (a strided convolution with
        padding gets its explicit ZeroPadding2D first)."""
        kernel, stride, padding = conv.kernel_size[0], conv.stride[0], conv.padding[0]
        name = self.names[path]
        explicit = stride > 1 and padding > 0
        layer = self.layers.Conv2D(
            conv.out_channels,
            kernel,
            strides=stride,
            padding="valid" if explicit or padding == 0 else "same",
            use_bias=conv.bias is not None,
            name=name,
        )
        if x is None:
            return layer
        if explicit:
            x = self.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        return layer(x)

    @staticmethod
    def activation(module: Any) -> str:
        return ACTIVATIONS[type(module).__name__]
