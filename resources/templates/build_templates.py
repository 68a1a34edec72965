"""Regenerate the template .nbg files from code: ``python resources/templates/build_templates.py``.

Templates are data (the app and the CLI read the .nbg files); this script is how they are made, so that a change to
a template is a reviewed change to code and the files stay canonical. Each template is sized for a bundled data set
and carries its data and training settings, so it trains without edits.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from netbuilder.document import Document, Network  # noqa: E402
from netbuilder.document.block_commands import RepeatBlock  # noqa: E402
from netbuilder.io import save_document  # noqa: E402
from netbuilder.specs import Param, ParamKind  # noqa: E402

TEXT_VOCAB = 53  # characters in the bundled "text" corpus

X_STEP, Y_STEP = 250.0, 130.0


class Placer:
    """Adds nodes left to right on a grid so templates open tidy."""

    def __init__(self, net: Network):
        self.net = net
        self.column = 0

    def add(self, type_id: str, name: str | None = None, row: float = 0.0, column: int | None = None,
            **params: Any) -> str:
        col = self.column if column is None else column
        node = self.net.add(type_id, name=name, position=(col * X_STEP, row * Y_STEP), **params)
        if column is None:
            self.column += 1
        return node

    def chain(self, first: str, *layers: tuple[str, dict[str, Any]], row: float = 0.0) -> str:
        """Add layers after ``first``, wired in a row; returns the last node."""
        previous = first
        for type_id, params in layers:
            params = dict(params)
            name = params.pop("name", None)
            node = self.add(type_id, name=name, row=row, **params)
            self.net.connect(previous, node)
            previous = node
        return previous


def settings(doc: Document, data: str, recipe: str, epochs: int, batch_size: int = 64, lr: float = 1e-3,
             optimizer: str = "adam", **extra: Any) -> None:
    doc.settings["data"] = {"source": data, "val_fraction": 0.2, "seed": 0}
    doc.settings["training"] = {"recipe": recipe, "epochs": epochs, "batch_size": batch_size,
                                "optimizer": optimizer, "lr": lr, "seed": 0, **extra}


def new(title: str, description: str, networks: tuple[str, ...] = ("model",)) -> Document:
    doc = Document(networks)
    doc.info.title = title
    doc.info.description = description
    return doc


def mlp() -> Document:
    doc = new("MLP classifier", "A multilayer perceptron that classifies the 64 pixel values of the 8x8 digits.")
    p = Placer(doc.network())
    x = p.add("Input", "pixels", shape=(64,))
    p.chain(x, ("Linear", {"units": 128, "name": "hidden1"}), ("ReLU", {}), ("Dropout", {"p": 0.1}),
            ("Linear", {"units": 64, "name": "hidden2"}), ("ReLU", {}), ("Linear", {"units": 10, "name": "classes"}),
            ("Output", {"role": "logits", "name": "digit"}))
    settings(doc, "digits", "classification", epochs=20)
    return doc


def lenet() -> Document:
    doc = new("LeNet-style CNN", "Two convolution + pooling stages and a dense head for the 1x8x8 digit images.")
    p = Placer(doc.network())
    x = p.add("Input", "image", shape=(1, 8, 8))
    p.chain(x, ("Conv2d", {"filters": 16, "kernel_size": (3, 3), "padding": "same", "name": "conv1"}),
            ("ReLU", {}), ("MaxPool2d", {"kernel_size": (2, 2), "name": "pool1"}),
            ("Conv2d", {"filters": 32, "kernel_size": (3, 3), "padding": "same", "name": "conv2"}),
            ("ReLU", {}), ("MaxPool2d", {"kernel_size": (2, 2), "name": "pool2"}), ("Flatten", {}),
            ("Linear", {"units": 64, "name": "fc1"}), ("ReLU", {}), ("Linear", {"units": 10, "name": "fc2"}),
            ("Output", {"role": "logits", "name": "digit"}))
    settings(doc, "digits-images", "classification", epochs=15)
    return doc


def define_residual_block(doc: Document, filters: int, size: int) -> None:
    """``ResidualBlock(filters)``: conv-BN-ReLU-conv-BN added to the block's input, then ReLU."""
    net = doc.define_block("ResidualBlock", _filters(filters), "Two 3x3 convolutions with BatchNorm, added to the "
                           "block's input (a skip connection), then ReLU.")
    p = Placer(net)
    x = p.add("Input", "x", shape=(filters, size, size))
    body = p.chain(x, ("Conv2d", {"filters": filters, "kernel_size": (3, 3), "padding": "same", "bias": False,
                                  "name": "conv1"}),
                   ("BatchNorm2d", {"name": "bn1"}), ("ReLU", {"name": "relu1"}),
                   ("Conv2d", {"filters": filters, "kernel_size": (3, 3), "padding": "same", "bias": False,
                               "name": "conv2"}),
                   ("BatchNorm2d", {"name": "bn2"}))
    add = p.add("Add", "add", row=1, inputs=2)
    net.connect(body, add, "out", "in1")
    net.connect(x, add, "out", "in2")
    p.chain(add, ("ReLU", {"name": "relu"}), ("Output", {"role": "features", "name": "y"}))
    net.bind(net.find("conv1").id, "filters", "filters")
    net.bind(net.find("conv2").id, "filters", "filters")


def resnet_small() -> Document:
    doc = new("Small ResNet", "A stem and two residual blocks (conv-BN-ReLU-conv-BN + skip, one block definition "
              "used twice: double-click a block to open it) with global average pooling, for the 1x8x8 digit images.")
    define_residual_block(doc, 16, 8)
    net = doc.network()
    p = Placer(net)
    x = p.add("Input", "image", shape=(1, 8, 8))
    h = p.chain(x, ("Conv2d", {"filters": 16, "kernel_size": (3, 3), "padding": "same", "bias": False,
                               "name": "stem"}),
                ("BatchNorm2d", {"name": "stem_bn"}), ("ReLU", {"name": "stem_relu"}))
    for block in (1, 2):
        node = net.add_block("ResidualBlock", f"block{block}", position=(p.column * X_STEP, 0.0), filters=16)
        p.column += 1
        net.connect(h, node)
        h = node
    p.chain(h, ("GlobalAvgPool", {"name": "pool"}), ("Linear", {"units": 10, "name": "classes"}),
            ("Output", {"role": "logits", "name": "digit"}))
    settings(doc, "digits-images", "classification", epochs=12)
    return doc


def lstm_classifier() -> Document:
    doc = new("LSTM sequence classifier", "Reads each 8x8 digit image as a sequence of 8 rows of 8 pixels with an "
              "LSTM and classifies its last state.")
    p = Placer(doc.network())
    x = p.add("Input", "image", shape=(1, 8, 8))
    p.chain(x, ("Reshape", {"shape": (8, 8), "name": "rows"}),
            ("LSTM", {"hidden_size": 64, "returns": "last", "name": "lstm"}),
            ("Linear", {"units": 10, "name": "classes"}), ("Output", {"role": "logits", "name": "digit"}))
    settings(doc, "digits-images", "sequence_classification", epochs=20, lr=3e-3)
    return doc


def char_gru() -> Document:
    doc = new("Character GRU language model", "Predicts the next character of the bundled tales with an "
              "embedding, a GRU and a per-step classifier; samples text as it learns.")
    p = Placer(doc.network())
    x = p.add("Input", "chars", shape=("T",), dtype="int64")
    p.chain(x, ("Embedding", {"vocab_size": TEXT_VOCAB, "dim": 32, "name": "embed"}),
            ("GRU", {"hidden_size": 128, "returns": "sequence", "name": "gru"}),
            ("Linear", {"units": TEXT_VOCAB, "name": "next_char"}),
            ("Output", {"role": "token_logits", "name": "logits"}))
    settings(doc, "text", "language_model", epochs=8, batch_size=64, lr=3e-3)  # ~12 s: readable sentences
    return doc


def _int(name: str, default: int, doc: str) -> Param:
    return Param(name, ParamKind.INT, default, doc, minimum=1)


def define_encoder_block(doc: Document, dim: int, heads: int, ff: int, seq: int | str) -> None:
    """``EncoderBlock(dim, heads, ff)``: PyTorch's TransformerEncoderLayer (post-norm) made of its parts --
    self-attention, dropout, add & LayerNorm, a two-layer feed-forward, dropout, add & LayerNorm -- with the same
    parameters."""
    net = doc.define_block("EncoderBlock", (_int("dim", dim, "Width of the tokens."),
                                            _int("heads", heads, "Attention heads (dim must divide by it)."),
                                            _int("ff", ff, "Width of the feed-forward layer.")),
                           "A Transformer encoder layer: self-attention and a feed-forward network, each added to "
                           "its input and normalised.")
    p = Placer(net)
    x = p.add("Input", "x", shape=(seq, dim))
    attn = p.chain(x, ("MultiheadAttention", {"num_heads": heads, "dropout": 0.1, "name": "self_attn"}),
                   ("Dropout", {"p": 0.1, "name": "dropout1"}))
    add1 = p.add("Add", "add1", inputs=2)
    net.connect(attn, add1, "out", "in1")
    net.connect(x, add1, "out", "in2")
    norm1 = p.chain(add1, ("LayerNorm", {"name": "norm1"}))
    ff_out = p.chain(norm1, ("Linear", {"units": ff, "name": "linear1"}), ("ReLU", {"name": "relu"}),
                     ("Dropout", {"p": 0.1, "name": "dropout"}), ("Linear", {"units": dim, "name": "linear2"}),
                     ("Dropout", {"p": 0.1, "name": "dropout2"}), row=1)
    add2 = p.add("Add", "add2", inputs=2)
    net.connect(ff_out, add2, "out", "in1")
    net.connect(norm1, add2, "out", "in2")
    p.chain(add2, ("LayerNorm", {"name": "norm2"}), ("Output", {"role": "features", "name": "y"}))
    net.bind(net.find("self_attn").id, "num_heads", "heads")
    net.bind(net.find("linear1").id, "units", "ff")
    net.bind(net.find("linear2").id, "units", "dim")


def transformer_classifier() -> Document:
    doc = new("Transformer classifier", "Treats the 8 rows of a digit image as tokens: a linear projection, "
              "positional encoding, two self-attention encoder blocks and mean pooling.")
    define_encoder_block(doc, 32, 4, 64, 8)
    net = doc.network()
    p = Placer(net)
    x = p.add("Input", "image", shape=(1, 8, 8))
    h = p.chain(x, ("Reshape", {"shape": (8, 8), "name": "rows"}), ("Linear", {"units": 32, "name": "project"}),
                ("PositionalEncoding", {"kind": "learned", "max_len": 16, "name": "position"}))
    for index in (1, 2):
        node = net.add_block("EncoderBlock", f"encoder{index}", position=(p.column * X_STEP, 0.0))
        p.column += 1
        net.connect(h, node)
        h = node
    p.chain(h, ("Permute", {"order": (2, 1), "name": "channels_first"}), ("GlobalAvgPool", {"name": "mean_pool"}),
            ("Linear", {"units": 10, "name": "classes"}), ("Output", {"role": "logits", "name": "digit"}))
    settings(doc, "digits-images", "sequence_classification", epochs=20, lr=2e-3)
    return doc


def define_decoder_block(doc: Document, dim: int, heads: int) -> None:
    """``DecoderBlock(dim, heads)``: a GPT block (pre-norm): LayerNorm, causal self-attention, add; LayerNorm,
    feed-forward 4x wide with GELU, add."""
    net = doc.define_block("DecoderBlock", (_int("dim", dim, "Width of the tokens."),
                                            _int("heads", heads, "Attention heads (dim must divide by it).")),
                           "A GPT block: causal self-attention (each character sees only those before it) and a "
                           "feed-forward network, each after a LayerNorm and added to its input.")
    p = Placer(net)
    x = p.add("Input", "x", shape=("T", dim))
    attn = p.chain(x, ("LayerNorm", {"name": "ln1"}),
                   ("MultiheadAttention", {"num_heads": heads, "causal": True, "dropout": 0.0, "name": "attn"}))
    add1 = p.add("Add", "add1", inputs=2)
    net.connect(attn, add1, "out", "in1")
    net.connect(x, add1, "out", "in2")
    mlp = p.chain(add1, ("LayerNorm", {"name": "ln2"}), ("Linear", {"units": 4 * dim, "name": "fc"}),
                  ("GELU", {"name": "gelu"}), ("Linear", {"units": dim, "name": "proj"}),
                  ("Dropout", {"p": 0.1, "name": "dropout"}), row=1)
    add2 = p.add("Add", "add2", inputs=2)
    net.connect(mlp, add2, "out", "in1")
    net.connect(add1, add2, "out", "in2")
    p.chain(add2, ("Output", {"role": "features", "name": "y"}))
    net.bind(net.find("attn").id, "num_heads", "heads")
    net.bind(net.find("fc").id, "units", "dim * 4")
    net.bind(net.find("proj").id, "units", "dim")


def gpt_mini() -> Document:
    doc = new("GPT mini (character Transformer)", "A small decoder-only Transformer: character embedding, learned "
              "positions, a DecoderBlock (causal self-attention + feed-forward) repeated twice, a final "
              "LayerNorm and a per-step classifier. Trains on the bundled tales and samples text as it learns.")
    dim = 64
    define_decoder_block(doc, dim, 4)
    net = doc.network()
    p = Placer(net)
    x = p.add("Input", "chars", shape=("T",), dtype="int64")
    h = p.chain(x, ("Embedding", {"vocab_size": TEXT_VOCAB, "dim": dim, "name": "embed"}),
                ("PositionalEncoding", {"kind": "learned", "max_len": 64, "name": "position"}))
    blocks = net.add_block("DecoderBlock", "blocks", position=(p.column * X_STEP, 0.0))
    p.column += 1
    net.connect(h, blocks)
    doc.execute(RepeatBlock("model", blocks, 2, "DecoderStack"))
    p.chain(blocks, ("LayerNorm", {"name": "ln_f"}), ("Linear", {"units": TEXT_VOCAB, "name": "head"}),
            ("Output", {"role": "token_logits", "name": "logits"}))
    settings(doc, "text", "language_model", epochs=15, batch_size=64, lr=3e-3)
    return doc


def autoencoder() -> Document:
    doc = new("Autoencoder", "Compresses the 64 digit pixels to an 8-number code and reconstructs them.")
    p = Placer(doc.network())
    x = p.add("Input", "pixels", shape=(64,))
    p.chain(x, ("Linear", {"units": 32, "name": "enc1"}), ("ReLU", {}), ("Linear", {"units": 8, "name": "bottleneck"}),
            ("ReLU", {}), ("Linear", {"units": 32, "name": "dec1"}), ("ReLU", {}),
            ("Linear", {"units": 64, "name": "dec2"}), ("Output", {"role": "reconstruction", "name": "recon"}))
    settings(doc, "digits", "autoencoder", epochs=30)
    return doc


def vae() -> Document:
    doc = new("Variational autoencoder", "Encodes digits to a mean and log-variance, samples a latent code with "
              "the reparameterisation trick (its KL term joins the loss) and decodes it.")
    net = doc.network()
    p = Placer(net)
    x = p.add("Input", "pixels", shape=(64,))
    h = p.chain(x, ("Linear", {"units": 64, "name": "enc"}), ("ReLU", {"name": "enc_relu"}))
    column = p.column
    mean = p.add("Linear", "mean", row=-0.6, column=column, units=8)
    log_var = p.add("Linear", "log_var", row=0.6, column=column, units=8)
    net.connect(h, mean)
    net.connect(h, log_var)
    p.column = column + 1
    z = p.add("Reparameterize", "z")
    net.connect(mean, z, "out", "mean")
    net.connect(log_var, z, "out", "log_var")
    p.chain(z, ("Linear", {"units": 64, "name": "dec"}), ("ReLU", {"name": "dec_relu"}),
            ("Linear", {"units": 64, "name": "dec_out"}), ("Output", {"role": "reconstruction", "name": "recon"}))
    settings(doc, "digits", "vae", epochs=30, vae={"beta": 1.0})
    return doc


DCGAN_EPOCHS = 60  # ~30 s on one core: 2,400 updates of each network at batch 32


def dcgan() -> Document:
    """A small DCGAN (Radford et al.): transposed convolutions with BatchNorm and ReLU up to a Tanh image, strided
    convolutions with LeakyReLU(0.2) down to one logit, Adam lr 2e-4 with beta1 0.5.

    Measured (seed 0, one thread, tests/core/test_dcgan_template.py): a logistic-regression digit classifier is on
    average 0.760 sure of 256 samples, against 0.909 on real held-out digits, and they cover all 10 classes. The
    first version (16/32 channels, batch 64, 60 epochs, ~20 s) reached 0.657: its samples were smudged and few
    readable. Twice the channels in both networks and batch 32 (twice the updates per epoch) made the difference
    (0.703 after 40 epochs, 0.760 after 60); label smoothing 0.1, BatchNorm in the discriminator, lr 4e-4 or a
    wider generator alone did not help (64 samples: 0.68-0.73 against 0.742).
    """
    doc = new("DCGAN", "A generator that turns 16 random numbers into 8x8 digit images, and a discriminator that "
              "tells them from real ones; trained against each other. After 60 epochs (~30 s on one core) the "
              "samples are readable digits of every class.", ("generator", "discriminator"))
    g = Placer(doc.network("generator"))
    z = g.add("Input", "latent", shape=(16,))
    g.chain(z, ("Linear", {"units": 256, "name": "project"}), ("Reshape", {"shape": (64, 2, 2), "name": "to_map"}),
            ("BatchNorm2d", {"name": "bn0"}), ("ReLU", {"name": "relu0"}),
            ("ConvTranspose2d", {"filters": 32, "kernel_size": (4, 4), "stride": (2, 2), "padding": (1, 1),
                                 "name": "up1"}),
            ("BatchNorm2d", {"name": "bn1"}), ("ReLU", {"name": "relu1"}),
            ("ConvTranspose2d", {"filters": 1, "kernel_size": (4, 4), "stride": (2, 2), "padding": (1, 1),
                                 "name": "up2"}),
            ("Tanh", {"name": "pixels"}), ("Output", {"role": "generated", "name": "fake"}))
    d = Placer(doc.network("discriminator"))
    x = d.add("Input", "image", shape=(1, 8, 8))
    d.chain(x, ("Conv2d", {"filters": 32, "kernel_size": (4, 4), "stride": (2, 2), "padding": "explicit",
                           "padding_size": (1, 1), "name": "down1"}),
            ("LeakyReLU", {"negative_slope": 0.2, "name": "act1"}),
            ("Conv2d", {"filters": 64, "kernel_size": (4, 4), "stride": (2, 2), "padding": "explicit",
                        "padding_size": (1, 1), "name": "down2"}),
            ("LeakyReLU", {"negative_slope": 0.2, "name": "act2"}), ("Flatten", {}),
            ("Linear", {"units": 1, "name": "realness"}), ("Output", {"role": "score", "name": "score"}))
    settings(doc, "digits-images", "gan", epochs=DCGAN_EPOCHS, batch_size=32, lr=2e-4, gan={"latent_size": 16})
    return doc


TRANSFER_PER_CLASS = 10  # training digits per class of 5-9: a small target set
TRANSFER_EPOCHS = 4  # 4 epochs of 5 steps: the short budget a small target set affords


def transfer_digits() -> Document:
    """LeNet pre-trained on digits 0-4, its convolutions frozen, fine-tuned on 10 examples of each digit 5-9.

    Measured (seed 0, the 179 validation digits 5-9, tests/core/test_transfer_template.py): 72.1 % after the 4
    short epochs, against 27.4 % for the same LeNet trained from scratch on the same 50 digits with the same
    settings (seeds 1 and 2: 60.9 vs 33.0 and 70.9 vs 31.3). Trained long enough (60 epochs) the scratch network
    catches up (~93 %): 8×8 digits are easy, and what transfer buys here is learning from a few examples in a few
    steps. Pre-training for fewer classes and freezing its dense layer too, or transferring fc1, made it worse.
    """
    doc = lenet()
    doc.info.title = "Transfer learning on digits"
    doc.info.description = (
        "The LeNet CNN pre-trained on digits 0-4, then reused for digits 5-9 with only 10 training examples of "
        "each: the convolutions are frozen and the dense head learns in 4 short epochs. Validation accuracy on "
        "digits 5-9: 72.1 % with transfer against 27.4 % for the same network trained from scratch on the same "
        "50 digits with the same settings (the scratch network needs ~60 epochs to catch up).")
    net = doc.network()
    for name in ("conv1", "conv2"):
        net.set_options(name, trainable=False)
    doc.settings["data"] = {"source": "digits-images", "val_fraction": 0.2, "seed": 0, "classes": [5, 6, 7, 8, 9],
                            "per_class": TRANSFER_PER_CLASS}
    doc.settings["training"].update({
        "epochs": TRANSFER_EPOCHS, "batch_size": 10,
        "transfer": {"pretrain": {"classes": [0, 1, 2, 3, 4], "epochs": 10}, "nodes": ["conv1", "conv2"]},
    })
    return doc


def _filters(default: int) -> tuple[Param, ...]:
    return (Param("filters", ParamKind.INT, default, "Channels of the block's convolutions.", minimum=1),)


def _conv3(filters: int, stride: int = 1) -> dict[str, Any]:
    """torchvision's conv3x3: 3x3, padding 1, no bias (a BatchNorm follows)."""
    return {"filters": filters, "kernel_size": (3, 3), "stride": (stride, stride), "padding": "explicit",
            "padding_size": (1, 1), "bias": False}


def define_resnet_blocks(doc: Document, channels: int, size: int) -> None:
    """torchvision's BasicBlock as two definitions (a block's graph is fixed, and the first block of a stage has
    a strided convolution and a ``downsample`` shortcut) and the stages made of them:

    * ``BasicBlock(filters)``: conv1-bn1-relu-conv2-bn2, plus the input, relu.
    * ``Downsample(filters)``: ``0`` a strided 1x1 convolution, ``1`` its BatchNorm (torchvision's
      ``downsample = nn.Sequential(conv1x1, BatchNorm2d)``).
    * ``DownBlock(filters)``: a BasicBlock whose conv1 has stride 2 and whose shortcut is a Downsample.
    * ``DownStage(filters)``: ``0`` a DownBlock, ``1`` a BasicBlock (layer2 .. layer4).
    """
    for name, stride in (("BasicBlock", 1), ("DownBlock", 2)):
        if stride == 2:
            down = doc.define_block("Downsample", _filters(channels * 2),
                                    "A strided 1x1 convolution and BatchNorm: the shortcut of a DownBlock.")
            x = down.add("Input", "x", shape=(channels, size, size), position=(0, 0))
            conv = down.add("Conv2d", "0", position=(250, 0), filters=channels * 2, kernel_size=(1, 1),
                            stride=(2, 2), bias=False)
            bn = down.add("BatchNorm2d", "1", position=(500, 0))
            down.chain(x, conv, bn, down.add("Output", "y", position=(750, 0), role="features"))
            down.bind(conv, "filters", "filters")
        wide = channels if stride == 1 else channels * 2
        net = doc.define_block(name, _filters(wide), "torchvision's BasicBlock: two 3x3 convolutions with "
                               "BatchNorm, added to the block's input" + (" (downsampled)." if stride == 2 else "."))
        p = Placer(net)
        x = p.add("Input", "x", shape=(channels, size, size))
        body = p.chain(x, ("Conv2d", {**_conv3(wide, stride), "name": "conv1"}), ("BatchNorm2d", {"name": "bn1"}),
                       ("ReLU", {"name": "relu"}), ("Conv2d", {**_conv3(wide), "name": "conv2"}),
                       ("BatchNorm2d", {"name": "bn2"}))
        add = p.add("Add", "add", inputs=2)
        net.connect(body, add, "out", "in1")
        shortcut = x
        if stride == 2:
            shortcut = net.add_block("Downsample", "downsample", position=(3 * X_STEP, Y_STEP), filters=wide)
            net.connect(x, shortcut)
            net.bind(shortcut, "filters", "filters")
        net.connect(shortcut, add, "out" if stride == 1 else "y", "in2")
        p.chain(add, ("ReLU", {"name": "relu_out"}), ("Output", {"role": "features", "name": "y"}))
        net.bind(net.find("conv1").id, "filters", "filters")
        net.bind(net.find("conv2").id, "filters", "filters")
    stage = doc.define_block("DownStage", _filters(channels * 2), "A ResNet stage that halves the size: a "
                             "DownBlock then a BasicBlock (torchvision's layer2 .. layer4).")
    x = stage.add("Input", "x", shape=(channels, size, size), position=(0, 0))
    first = stage.add_block("DownBlock", "0", position=(250, 0), filters=channels * 2)
    second = stage.add_block("BasicBlock", "1", position=(500, 0), filters=channels * 2)
    stage.chain(x, first, second, stage.add("Output", "y", position=(750, 0), role="features"))
    stage.bind(first, "filters", "filters")
    stage.bind(second, "filters", "filters")


def resnet18() -> Document:
    doc = new("ResNet-18", "The ResNet-18 architecture exactly as torchvision defines it (3x224x224 images, 1000 "
              "classes, 11,689,512 parameters): its weights load by name. Architecture: bring your own images.")
    define_resnet_blocks(doc, 64, 56)
    net = doc.network()
    p = Placer(net)
    x = p.add("Input", "image", shape=(3, 224, 224))
    h = p.chain(x, ("Conv2d", {"filters": 64, "kernel_size": (7, 7), "stride": (2, 2), "padding": "explicit",
                               "padding_size": (3, 3), "bias": False, "name": "conv1"}),
                ("BatchNorm2d", {"name": "bn1"}), ("ReLU", {"name": "relu"}),
                ("MaxPool2d", {"kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1), "name": "maxpool"}))
    layer1 = net.add_block("BasicBlock", "layer1", position=(p.column * X_STEP, 0.0), filters=64)
    p.column += 1
    net.connect(h, layer1)
    doc.execute(RepeatBlock("model", layer1, 2, "Layer1"))
    h = layer1
    for index, filters in ((2, 128), (3, 256), (4, 512)):
        stage = net.add_block("DownStage", f"layer{index}", position=(p.column * X_STEP, 0.0), filters=filters)
        p.column += 1
        net.connect(h, stage)
        h = stage
    p.chain(h, ("AdaptiveAvgPool2d", {"output_size": (1, 1), "name": "avgpool"}), ("Flatten", {"name": "flatten"}),
            ("Linear", {"units": 1000, "name": "fc"}), ("Output", {"role": "logits", "name": "logits"}))
    # No bundled data fits 224x224 colour images: point the Data panel (or --data) at a folder with one
    # sub-folder per class; until then training says that 'my-images' is missing.
    doc.settings["data"] = {"source": "my-images", "val_fraction": 0.2, "seed": 0}
    doc.settings["training"] = {"recipe": "classification", "epochs": 10, "batch_size": 32, "optimizer": "sgd",
                                "lr": 0.1, "seed": 0}
    return doc


TEMPLATES: dict[str, Callable[[], Document]] = {
    "mlp": mlp,
    "lenet": lenet,
    "resnet-small": resnet_small,
    "lstm-classifier": lstm_classifier,
    "char-gru": char_gru,
    "transformer-classifier": transformer_classifier,
    "autoencoder": autoencoder,
    "vae": vae,
    "dcgan": dcgan,
    "transfer-digits": transfer_digits,
    "resnet18": resnet18,
    "gpt-mini": gpt_mini,
}


# Width / height of the canvas in a 1600 x 1000 main window with the default docks: templates are laid out to fill it.
CANVAS_ASPECT = 1.5


def lay_out(net: Network) -> None:
    """Place the nodes with the canvas's auto-layout (columns by depth, wrapped into rows to fit the window), using
    the node sizes the app draws (measured offscreen)."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from netbuilder.layout import layered_positions
    from netbuilder_ui.canvas.render import ensure_gui_application
    from netbuilder_ui.canvas.visuals import geometry_of, node_content

    ensure_gui_application()

    def size_of(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
        g = geometry_of(node_content(net.node(node_id), None))
        return g.width, g.height, g.inputs, g.outputs

    for node_id, position in layered_positions(net, size_of, 20.0, CANVAS_ASPECT).items():
        net.node(node_id).position = position


def main(only: list[str] | None = None) -> None:
    """Write every template (or only the ids given on the command line)."""
    from netbuilder.analysis import analyze
    from netbuilder.train import ConfigError, TrainConfig

    for template_id, build in TEMPLATES.items():
        if only and template_id not in only:
            continue
        doc = build()
        for net in doc:
            lay_out(net)
        for net in doc:
            result = analyze(net)
            if result.diagnostics:
                raise SystemExit(f"{template_id}/{net.name}: " + "; ".join(map(str, result.diagnostics)))
        try:  # a template must train without edits: its settings have to be ones the trainer takes
            TrainConfig.from_settings(doc.settings)
        except ConfigError as error:
            raise SystemExit(f"{template_id}: {error}") from None
        save_document(doc, HERE / f"{template_id}.nbg")
        print(f"wrote {template_id}.nbg")


if __name__ == "__main__":
    main(sys.argv[1:])
