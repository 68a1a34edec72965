"""Training settings: one `TrainConfig`, stored in a document as ``settings["training"]`` and ``settings["data"]``.

Everything here is plain data that round-trips through JSON (``to_dict`` / ``from_dict``), so a document, a run
folder's ``config.json`` and the CLI all speak the same format. ``from_dict`` validates every field and raises
`ConfigError` with a message that names the field, the bad value and what is allowed, because these values are
typed by people in an inspector or on a command line.

Per-node options (freeze, learning-rate multiplier, L1/L2) are not here: they live on the document's nodes
(``node.trainable``, ``node.lr_mult``, ``node.l1``, ``node.l2``), next to the layer they belong to.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

RECIPES = ("auto", "classification", "regression", "sequence_classification", "forecasting", "autoencoder", "vae",
           "gan", "language_model")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "cosine", "plateau", "onecycle")
LOSSES = ("auto", "none", "mse", "l1", "huber", "cross_entropy", "nll", "bce", "bce_logits", "kl")
PRECISIONS = ("fp32", "bf16", "fp16")
METRICS = ("accuracy", "precision", "recall", "f1", "mae", "r2", "perplexity")  # plus "topK", e.g. "top5"
MONITOR_MODES = ("auto", "min", "max")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_TOPK = re.compile(r"^top(\d+)$")


class ConfigError(ValueError):
    """A training setting that cannot be used; the message names the setting and what is allowed."""


# ---------------------------------------------------------------------------------------------------------------
# Field checks shared by every section.


def _choice(section: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else value
    if text not in choices:
        raise ConfigError(f"{section}{name} must be one of {', '.join(choices)}; got {value!r}.")
    return text


def _number(section: str, name: str, value: Any, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{section}{name} must be a number; got {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{section}{name} must be a number; got {value!r}.") from None
    if math.isnan(number) or math.isinf(number):
        raise ConfigError(f"{section}{name} must be a finite number; got {value!r}.")
    if low is not None and (number <= low if low_open else number < low):
        bound = "greater than" if low_open else "at least"
        raise ConfigError(f"{section}{name} must be {bound} {low:g}; got {number:g}.")
    if high is not None and number > high:
        raise ConfigError(f"{section}{name} must be at most {high:g}; got {number:g}.")
    return number


def _integer(section: str, name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{section}{name} must be a whole number; got {value!r}.")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ConfigError(f"{section}{name} must be a whole number; got {value!r}.")
    if low is not None and value < low:
        raise ConfigError(f"{section}{name} must be at least {low}; got {value}.")
    if high is not None and value > high:
        raise ConfigError(f"{section}{name} must be at most {high}; got {value}.")
    return value


def _flag(section: str, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise ConfigError(f"{section}{name} must be true or false; got {value!r}.")


def _text(section: str, name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{section}{name} must be text; got {value!r}.")
    return value


def _names(section: str, name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{section}{name} must be a list of names; got {value!r}.")


def _class_ids(section: str, value: Any) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{section}classes must be a list of class ids such as [5, 6, 7]; got {value!r}.")
    ids = [_integer(section, "classes", v, 0, 1_000_000) for v in value]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{section}classes lists a class twice.")
    return ids


def _mapping(section: str, name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{section}{name} must be a mapping of names to values; got {value!r}.")
    return dict(value)


# Settings people put at the top level that belong to a section.
_MOVED = {"beta": "vae.beta", "latent_size": "gan.latent_size", "d_lr": "gan.d_lr", "g_lr": "gan.g_lr",
          "temperature": "lm.temperature", "sample_length": "lm.sample_length", "prompt": "lm.prompt",
          "patience": "early_stopping.patience", "monitor": "early_stopping.monitor", "classes": "data.classes",
          "pretrain": "transfer.pretrain", "loss": "losses", "label_smoothing": "losses[].label_smoothing",
          "val_fraction": "data.val_fraction", "source": "data.source"}


def _known_keys(section: str, data: dict[str, Any], cls: type) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        where = f"in {section.rstrip('.')} " if section else ""
        moved = [f"{key} belongs in {_MOVED[key]}" for key in unknown if not section and key in _MOVED]
        hint = f" ({'; '.join(moved)})" if moved else f" (known: {', '.join(sorted(known))})"
        raise ConfigError(f"Unknown training setting {', '.join(map(repr, unknown))} {where}{hint.strip()}.")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------------------------
# Sections


BUNDLED_TEST_FRACTION = 0.1  # the test part bundled data keeps when data.test_fraction is not set


@dataclass
class DataConfig:
    """Where the data comes from (``settings["data"]``): a bundled id or a file path, its format ("" = from the
    name), loader options, and how to split, normalise and augment it. ``seed`` None splits with the training seed.

    Also reads the data package's own layout, ``{"id" | "path": ..., "format": ..., <loader options>}``: keys that
    are not split settings become loader options, and the loader rejects the ones it does not know.
    """

    source: str = ""
    format: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # passed to netbuilder.data.load_data
    val_fraction: float = 0.15
    test_fraction: float | None = None  # None = auto: BUNDLED_TEST_FRACTION for bundled data, 0 for files
    normalize: bool = True
    augment: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    classes: list[int] = field(default_factory=list)  # train on these class ids only (labels keep their ids)
    per_class: int = 0  # keep at most this many training samples per class (0 = all); validation stays whole

    SPLIT_KEYS: ClassVar[tuple[str, ...]] = ("val_fraction", "test_fraction", "normalize", "augment", "seed",
                                             "classes", "per_class")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DataConfig:
        s = "data."
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"data must be a mapping such as {{'source': 'digits'}}; got {data!r}.")
        data = dict(data or {})
        out = cls()
        sources = [key for key in ("source", "id", "path") if data.get(key)]
        if len(sources) > 1:
            raise ConfigError(f"data names its source twice ({', '.join(sources)}); keep one.")
        out.source = _text(s, "source", data.pop(sources[0]) if sources else "")
        for key in ("source", "id", "path"):
            data.pop(key, None)
        out.format = _text(s, "format", data.pop("format", ""))
        out.options = _mapping(s, "options", data.pop("options", None))
        for key in list(data):
            if key not in cls.SPLIT_KEYS:
                out.options[key] = data.pop(key)
        out.val_fraction = _number(s, "val_fraction", data.get("val_fraction", out.val_fraction), 0.0, 0.99)
        test = data.get("test_fraction")
        out.test_fraction = None if test is None else _number(s, "test_fraction", test, 0.0, 0.99)
        if out.val_fraction + (out.test_fraction or 0.0) >= 1.0:
            raise ConfigError("data.val_fraction plus data.test_fraction must leave samples to train on (sum < 1).")
        out.normalize = _flag(s, "normalize", data.get("normalize", out.normalize))
        out.augment = _mapping(s, "augment", data.get("augment"))
        seed = data.get("seed")
        out.seed = None if seed is None else _integer(s, "seed", seed, 0, 2**63 - 1)
        out.classes = _class_ids(s, data.get("classes"))
        out.per_class = _integer(s, "per_class", data.get("per_class", 0), 0, 10_000_000)
        return out

    def resolved_test_fraction(self) -> float:
        """The test fraction to split off: the setting, or for "auto" (None) a held-out test part of
        BUNDLED_TEST_FRACTION for bundled data (their results are compared, so the validation split that picks the
        best epoch must not also report the result) and none for the user's own files."""
        if self.test_fraction is not None:
            return self.test_fraction
        from netbuilder.data.bundled import dataset_ids  # lazily: it imports torch

        bundled = self.format == "bundled" or (not self.format and self.source in dataset_ids())
        if bundled and self.val_fraction + BUNDLED_TEST_FRACTION < 1.0:
            return BUNDLED_TEST_FRACTION
        return 0.0

    def load_source(self) -> str | dict[str, Any]:
        """What `netbuilder.data.load_data` takes: the source itself, or a settings dict when a format is set."""
        if self.format:
            key = "id" if self.format == "bundled" else "path"
            return {key: self.source, "format": self.format}
        return self.source


@dataclass
class LossConfig:
    """The loss of one Output node. ``output`` is the Output node's name ("" = every supervised output);
    ``loss`` "auto" picks from the Output's role and the task; "none" trains nothing from this output."""

    output: str = ""
    loss: str = "auto"
    weight: float = 1.0
    label_smoothing: float = 0.0
    class_weights: list[float] | None = None
    huber_delta: float = 1.0

    @classmethod
    def from_dict(cls, data: dict[str, Any], index: int = 0) -> LossConfig:
        s = f"losses[{index}]."
        if not isinstance(data, dict):
            raise ConfigError(f"losses[{index}] must be a mapping such as {{'output': 'y', 'loss': 'mse'}}.")
        _known_keys(s, data, cls)
        out = cls()
        out.output = _text(s, "output", data.get("output", ""))
        out.loss = _choice(s, "loss", data.get("loss", "auto"), LOSSES)
        out.weight = _number(s, "weight", data.get("weight", 1.0), 0.0, 1e6)
        out.label_smoothing = _number(s, "label_smoothing", data.get("label_smoothing", 0.0), 0.0, 0.99)
        weights = data.get("class_weights")
        if weights is not None:
            if not isinstance(weights, list | tuple) or not weights:
                raise ConfigError(f"{s}class_weights must be a list of numbers, one per class.")
            weights = [_number(s, "class_weights", w, 0.0) for w in weights]
        out.class_weights = weights
        out.huber_delta = _number(s, "huber_delta", data.get("huber_delta", 1.0), 0.0, low_open=True)
        return out


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs (0 = never stop early)."""

    patience: int = 0
    monitor: str = "val_loss"
    mode: str = "auto"  # "min" for losses and errors, "max" for accuracy-like metrics
    min_delta: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EarlyStopping:
        s = "early_stopping."
        data = dict(data or {})
        _known_keys(s, data, cls)
        return cls(
            patience=_integer(s, "patience", data.get("patience", 0), 0, 100_000),
            monitor=_text(s, "monitor", data.get("monitor", "val_loss")) or "val_loss",
            mode=_choice(s, "mode", data.get("mode", "auto"), MONITOR_MODES),
            min_delta=_number(s, "min_delta", data.get("min_delta", 0.0), 0.0),
        )

    def direction(self) -> str:
        """"min" or "max": whether a smaller monitored value is better."""
        if self.mode != "auto":
            return self.mode
        name = self.monitor.lower()
        better_high = ("accuracy", "f1", "precision", "recall", "r2", "top")
        return "max" if any(word in name for word in better_high) else "min"


@dataclass
class VAEConfig:
    beta: float = 1.0  # weight of the KL term
    samples: int = 16  # images decoded from N(0, 1) latents each epoch

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VAEConfig:
        s = "vae."
        data = dict(data or {})
        _known_keys(s, data, cls)
        return cls(beta=_number(s, "beta", data.get("beta", 1.0), 0.0, 1e6),
                   samples=_integer(s, "samples", data.get("samples", 16), 0, 1024))


@dataclass
class GANConfig:
    latent_size: int | None = None  # None = the generator Input's size
    label_smoothing: float = 0.0  # one-sided: real labels become 1 - label_smoothing
    d_lr: float | None = None  # None = lr
    g_lr: float | None = None
    samples: int = 16  # images from a fixed latent batch each epoch
    beta1: float = 0.5  # Adam's first beta; 0.5 is the usual choice for GANs

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> GANConfig:
        s = "gan."
        data = dict(data or {})
        _known_keys(s, data, cls)
        latent = data.get("latent_size")
        d_lr, g_lr = data.get("d_lr"), data.get("g_lr")
        return cls(
            latent_size=None if latent is None else _integer(s, "latent_size", latent, 1, 1_000_000),
            label_smoothing=_number(s, "label_smoothing", data.get("label_smoothing", 0.0), 0.0, 0.5),
            d_lr=None if d_lr is None else _number(s, "d_lr", d_lr, 0.0, 10.0, low_open=True),
            g_lr=None if g_lr is None else _number(s, "g_lr", g_lr, 0.0, 10.0, low_open=True),
            samples=_integer(s, "samples", data.get("samples", 16), 0, 1024),
            beta1=_number(s, "beta1", data.get("beta1", 0.5), 0.0, 0.999),
        )


@dataclass
class LMConfig:
    sample_length: int = 200  # characters/tokens generated after each epoch (0 = none)
    temperature: float = 0.8  # < 1 plays safe, > 1 takes risks
    prompt: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LMConfig:
        s = "lm."
        data = dict(data or {})
        _known_keys(s, data, cls)
        return cls(sample_length=_integer(s, "sample_length", data.get("sample_length", 200), 0, 100_000),
                   temperature=_number(s, "temperature", data.get("temperature", 0.8), 0.0, 100.0, low_open=True),
                   prompt=_text(s, "prompt", data.get("prompt", "")))


@dataclass
class PretrainConfig:
    """A pre-training stage run before the main one, whose weights the main run then starts from: the same
    network, every layer trainable, on other classes of the same data (``classes`` empty = all of them), split
    its own way (``val_fraction``, no test part)."""

    classes: list[int] = field(default_factory=list)
    epochs: int = 10
    val_fraction: float = 0.15

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PretrainConfig | None:
        if data is None:
            return None
        s = "transfer.pretrain."
        if not isinstance(data, dict):
            raise ConfigError(f"{s.rstrip('.')} must be a mapping such as {{'classes': [0, 1], 'epochs': 10}}.")
        _known_keys(s, data, cls)
        return cls(classes=_class_ids(s, data.get("classes")),
                   epochs=_integer(s, "epochs", data.get("epochs", 10), 1, 1_000_000),
                   val_fraction=_number(s, "val_fraction", data.get("val_fraction", 0.15), 0.0, 0.95))


@dataclass
class TransferConfig:
    """Initialise nodes from an earlier run folder or a ``.safetensors`` file (``source``), or from a pre-training
    stage (``pretrain``), matched by node name and shape. ``nodes`` empty = every node whose name and shapes
    match."""

    source: str = ""
    nodes: list[str] = field(default_factory=list)
    pretrain: PretrainConfig | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TransferConfig:
        s = "transfer."
        data = dict(data or {})
        _known_keys(s, data, cls)
        out = cls(source=_text(s, "source", data.get("source", "")), nodes=_names(s, "nodes", data.get("nodes")),
                  pretrain=PretrainConfig.from_dict(data.get("pretrain")))
        if out.source and out.pretrain is not None:
            raise ConfigError("transfer has both a source and a pretrain stage; keep one.")
        return out


# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Every training setting, with defaults that train a small network on a bundled data set sensibly."""

    recipe: str = "auto"
    network: str = ""  # which network to train ("" = the only/first; GANs use "generator" and "discriminator")
    data: DataConfig = field(default_factory=DataConfig)
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # SGD and RMSprop
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)  # Adam and AdamW
    weight_decay: float = 0.0
    schedule: str = "none"
    warmup_steps: int = 0  # linear warm-up from 0 to lr over this many batches (with any schedule)
    step_size: int = 10  # "step": multiply lr by gamma every step_size epochs
    gamma: float = 0.1
    plateau_patience: int = 3  # "plateau": epochs without improvement of the early-stopping monitor
    plateau_factor: float = 0.1
    min_lr: float = 0.0  # "cosine" floor
    grad_clip: float = 0.0  # max global gradient norm; 0 = no clipping
    l1: float = 0.0  # global penalties on all weight matrices and kernels (biases are not penalised)
    l2: float = 0.0
    losses: list[LossConfig] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # extra metrics; the recipe always reports its own
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    device: str = "auto"
    precision: str = "fp32"
    torch_compile: bool = False
    seed: int = 0
    log_every: int = 10  # a BatchEnd event at most every this many batches ...
    log_interval: float = 0.05  # ... and at most this often (seconds)
    keep_checkpoints: int = 3  # epoch checkpoints kept besides "best" (0 = keep all)
    checkpoint_interval: float = 2.0  # seconds between epoch checkpoints (0 = every epoch; the last is always kept)
    name: str = ""  # run folder suffix ("" = the document's title or "run")
    vae: VAEConfig = field(default_factory=VAEConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)

    # ---- JSON ---------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything, data included, as plain JSON values."""
        return _plain(self)

    def to_settings(self) -> dict[str, Any]:
        """The two document settings entries: ``{"training": ..., "data": ...}``."""
        training = self.to_dict()
        data = training.pop("data")
        return {"training": training, "data": data}

    @classmethod
    def from_dict(cls, training: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> TrainConfig:
        """Validate and build. ``data`` (``settings["data"]``) wins over a ``"data"`` key inside ``training``."""
        if not isinstance(training or {}, dict):
            raise ConfigError("Training settings must be a mapping of setting names to values.")
        raw = dict(training or {})
        if data is not None or "data" in raw:
            merged = dict(raw.pop("data", None) or {})
            merged.update(data or {})
            raw["data"] = merged
        _known_keys("", raw, cls)
        out = cls()
        s = ""
        out.recipe = _choice(s, "recipe", raw.get("recipe", out.recipe), RECIPES)
        out.network = _text(s, "network", raw.get("network", ""))
        out.data = DataConfig.from_dict(raw.get("data"))
        out.epochs = _integer(s, "epochs", raw.get("epochs", out.epochs), 1, 1_000_000)
        out.batch_size = _integer(s, "batch_size", raw.get("batch_size", out.batch_size), 1, 1_000_000)
        out.optimizer = _choice(s, "optimizer", raw.get("optimizer", out.optimizer), OPTIMIZERS)
        out.lr = _number(s, "lr", raw.get("lr", out.lr), 0.0, None, low_open=True)
        out.momentum = _number(s, "momentum", raw.get("momentum", out.momentum), 0.0, 0.9999)
        out.nesterov = _flag(s, "nesterov", raw.get("nesterov", out.nesterov))
        if out.nesterov and out.optimizer == "sgd" and out.momentum == 0:
            raise ConfigError("nesterov needs a momentum above 0 (e.g. 0.9).")
        betas = raw.get("betas", out.betas)
        if not isinstance(betas, list | tuple) or len(betas) != 2:
            raise ConfigError(f"betas must be two numbers such as [0.9, 0.999]; got {betas!r}.")
        out.betas = (_number(s, "betas", betas[0], 0.0, 0.9999), _number(s, "betas", betas[1], 0.0, 0.99999))
        out.weight_decay = _number(s, "weight_decay", raw.get("weight_decay", 0.0), 0.0, 10.0)
        out.schedule = _choice(s, "schedule", raw.get("schedule", out.schedule), SCHEDULES)
        out.warmup_steps = _integer(s, "warmup_steps", raw.get("warmup_steps", 0), 0, 100_000_000)
        out.step_size = _integer(s, "step_size", raw.get("step_size", out.step_size), 1, 1_000_000)
        out.gamma = _number(s, "gamma", raw.get("gamma", out.gamma), 0.0, 1.0, low_open=True)
        out.plateau_patience = _integer(s, "plateau_patience", raw.get("plateau_patience", 3), 0, 100_000)
        out.plateau_factor = _number(s, "plateau_factor", raw.get("plateau_factor", 0.1), 0.0, 1.0, low_open=True)
        out.min_lr = _number(s, "min_lr", raw.get("min_lr", 0.0), 0.0)
        out.grad_clip = _number(s, "grad_clip", raw.get("grad_clip", 0.0), 0.0)
        out.l1 = _number(s, "l1", raw.get("l1", 0.0), 0.0, 1e6)
        out.l2 = _number(s, "l2", raw.get("l2", 0.0), 0.0, 1e6)
        losses = raw.get("losses") or []
        if isinstance(losses, dict):  # {"y": "mse"} or {"y": {"loss": "mse", "weight": 2}}
            losses = [dict(v, output=k) if isinstance(v, dict) else {"output": k, "loss": v}
                      for k, v in losses.items()]
        if not isinstance(losses, list):
            raise ConfigError("losses must be a list such as [{'output': 'y', 'loss': 'cross_entropy'}].")
        out.losses = [LossConfig.from_dict(item, i) for i, item in enumerate(losses)]
        outputs = [loss.output for loss in out.losses]
        if len(set(outputs)) != len(outputs):
            raise ConfigError("losses lists the same output twice; give each Output node one loss.")
        out.metrics = [_metric(m) for m in _names(s, "metrics", raw.get("metrics"))]
        out.early_stopping = EarlyStopping.from_dict(raw.get("early_stopping"))
        device = str(raw.get("device", "auto")).strip().lower()
        if not _DEVICE.match(device):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got {raw.get('device')!r}.")
        out.device = device
        out.precision = _choice(s, "precision", raw.get("precision", "fp32"), PRECISIONS)
        out.torch_compile = _flag(s, "torch_compile", raw.get("torch_compile", False))
        out.seed = _integer(s, "seed", raw.get("seed", 0), 0, 2**63 - 1)
        out.log_every = _integer(s, "log_every", raw.get("log_every", out.log_every), 1, 1_000_000)
        out.log_interval = _number(s, "log_interval", raw.get("log_interval", out.log_interval), 0.0, 3600.0)
        out.keep_checkpoints = _integer(s, "keep_checkpoints", raw.get("keep_checkpoints", 3), 0, 1_000_000)
        out.checkpoint_interval = _number(s, "checkpoint_interval", raw.get("checkpoint_interval", 2.0), 0.0,
                                          86_400.0)
        out.name = _text(s, "name", raw.get("name", ""))
        out.vae = VAEConfig.from_dict(raw.get("vae"))
        out.gan = GANConfig.from_dict(raw.get("gan"))
        out.lm = LMConfig.from_dict(raw.get("lm"))
        out.transfer = TransferConfig.from_dict(raw.get("transfer"))
        return out

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> TrainConfig:
        """From a document's settings: ``settings["training"]`` and ``settings["data"]`` (either may be absent)."""
        settings = settings or {}
        data = settings.get("data")
        if isinstance(data, str):  # "data": "digits" is shorthand for {"source": "digits"}
            data = {"source": data}
        return cls.from_dict(settings.get("training"), data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some top-level settings changed (e.g. from command-line flags)."""
        merged = self.to_dict()
        for key, value in changes.items():
            if key == "data" and isinstance(value, dict):
                merged["data"] = {**merged["data"], **value}
            else:
                merged[key] = _plain(value)
        return TrainConfig.from_dict(merged)


def _metric(name: str) -> str:
    text = name.strip().lower()
    if text in METRICS or _TOPK.match(text):
        return text
    raise ConfigError(f"Unknown metric {name!r}; use {', '.join(METRICS)} or topK (e.g. top5).")


def topk_of(name: str) -> int | None:
    """The k of a "topK" metric name, else None."""
    match = _TOPK.match(name)
    return int(match.group(1)) if match else None
