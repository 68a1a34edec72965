"""Training settings: one `TrainConfig`, stored in a document as ``settings["training"]`` and ``settings["data"]``.

Everything here is plain data that round-trips through JSON (``to_dict`` / ``from_dict``), so a document, a run
folder's ``config.json`` and the CLI all speak the same format. What each setting is (type, default, range,
choices) is declared once in `netbuilder.train.schema`; ``from_dict`` checks every value against that declaration
and raises `ConfigError` naming the setting where the file has it (``settings.training.lr: must be ...``), because
these values are typed by people in a panel, a file or on a command line.

Per-node options (freeze, learning-rate multiplier, L1/L2) are not here: they live on the document's nodes
(``node.trainable``, ``node.lr_mult``, ``node.l1``, ``node.l2``), next to the layer they belong to.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from netbuilder.train import schema
from netbuilder.train import settings_check as check
from netbuilder.train.schema import METRICS, ConfigError
from netbuilder.train.settings_check import topk_of

__all__ = ["METRICS", "ConfigError", "DataConfig", "EarlyStopping", "GANConfig", "LMConfig", "LossConfig",
           "PretrainConfig", "RLConfig", "TrainConfig", "TransferConfig", "VAEConfig", "topk_of"]

RECIPES = schema.setting("training.recipe").choices
OPTIMIZERS = schema.setting("training.optimizer").choices
SCHEDULES = schema.setting("training.schedule").choices
LOSSES = schema.LOSS_FIELDS[1].choices
PRECISIONS = schema.setting("training.precision").choices
MONITOR_MODES = schema.setting("training.early_stopping.mode").choices


def _d(setting_id: str) -> Any:
    """A dataclass field whose default is the schema's."""
    value = schema.default(setting_id)
    if isinstance(value, list | dict):
        return field(default_factory=lambda: schema.default(setting_id))
    return field(default=value)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _section(cls: type, prefix: str, data: dict[str, Any] | None) -> Any:
    """A section dataclass (early_stopping, vae, ...) from its mapping, checked by the schema."""
    values = check.read_training({prefix: dict(data or {})})
    return cls(**{f.name: values[f"training.{prefix}.{f.name}"] for f in dataclasses.fields(cls)})


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

    source: str = _d("data.source")
    format: str = _d("data.format")
    options: dict[str, Any] = _d("data.options")  # passed to netbuilder.data.load_data
    val_fraction: float = _d("data.val_fraction")
    test_fraction: float | None = _d("data.test_fraction")  # None = auto: BUNDLED_TEST_FRACTION for bundled data
    normalize: bool = _d("data.normalize")
    augment: dict[str, Any] = _d("data.augment")
    seed: int | None = _d("data.seed")
    classes: list[int] = _d("data.classes")  # train on these class ids only (labels keep their ids)
    per_class: int = _d("data.per_class")  # keep at most this many training samples per class (0 = all)

    SPLIT_KEYS: ClassVar[tuple[str, ...]] = tuple(
        s.key for s in schema.section_settings("data") if s.key not in ("source", "format", "options"))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DataConfig:
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"settings.data: must be a mapping such as {{'source': 'digits'}}; got {data!r}.")
        values = check.read_data(dict(data or {}))
        return cls(**{f.name: values[f"data.{f.name}"] for f in dataclasses.fields(cls)})

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


def _field_default(fields: tuple[schema.Setting, ...], key: str) -> Any:
    entry = next(f for f in fields if f.key == key)
    return field(default=entry.default) if not isinstance(entry.default, list | dict) else \
        field(default_factory=lambda: list(entry.default))


@dataclass
class LossConfig:
    """The loss of one Output node. ``output`` is the Output node's name ("" = every supervised output);
    ``loss`` "auto" picks from the Output's role and the task; "none" trains nothing from this output."""

    output: str = _field_default(schema.LOSS_FIELDS, "output")
    loss: str = _field_default(schema.LOSS_FIELDS, "loss")
    weight: float = _field_default(schema.LOSS_FIELDS, "weight")
    label_smoothing: float = _field_default(schema.LOSS_FIELDS, "label_smoothing")
    class_weights: list[float] | None = _field_default(schema.LOSS_FIELDS, "class_weights")
    huber_delta: float = _field_default(schema.LOSS_FIELDS, "huber_delta")

    @classmethod
    def from_dict(cls, data: dict[str, Any], index: int = 0) -> LossConfig:
        return cls(**check.parse_record(schema.LOSS_FIELDS, data, f"settings.training.losses[{index}]",
                                         "{'output': 'y', 'loss': 'mse'}"))


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs (0 = never stop early)."""

    patience: int = _d("training.early_stopping.patience")
    monitor: str = _d("training.early_stopping.monitor")
    mode: str = _d("training.early_stopping.mode")  # "min" for losses and errors, "max" for accuracy-like metrics
    min_delta: float = _d("training.early_stopping.min_delta")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EarlyStopping:
        out = _section(cls, "early_stopping", data)
        out.monitor = out.monitor or "val_loss"
        return out

    def direction(self) -> str:
        """"min" or "max": whether a smaller monitored value is better."""
        if self.mode != "auto":
            return self.mode
        name = self.monitor.lower()
        better_high = ("accuracy", "f1", "precision", "recall", "r2", "top", "return")
        return "max" if any(word in name for word in better_high) else "min"


@dataclass
class VAEConfig:
    beta: float = _d("training.vae.beta")  # weight of the KL term
    samples: int = _d("training.vae.samples")  # images decoded from N(0, 1) latents each epoch

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VAEConfig:
        return _section(cls, "vae", data)


@dataclass
class GANConfig:
    latent_size: int | None = _d("training.gan.latent_size")  # None = the generator Input's size
    label_smoothing: float = _d("training.gan.label_smoothing")  # one-sided: real labels become 1 - this
    d_lr: float | None = _d("training.gan.d_lr")  # None = lr
    g_lr: float | None = _d("training.gan.g_lr")
    samples: int = _d("training.gan.samples")  # images from a fixed latent batch each epoch
    beta1: float = _d("training.gan.beta1")  # Adam's first beta; 0.5 is the usual choice for GANs

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> GANConfig:
        return _section(cls, "gan", data)


@dataclass
class LMConfig:
    sample_length: int = _d("training.lm.sample_length")  # characters/tokens generated after each epoch
    temperature: float = _d("training.lm.temperature")  # < 1 plays safe, > 1 takes risks
    prompt: str = _d("training.lm.prompt")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LMConfig:
        return _section(cls, "lm", data)


@dataclass
class RLConfig:
    """Proximal policy optimisation on an environment (``settings.training.rl``)."""

    envs: int = _d("training.rl.envs")  # environment copies stepped together
    steps_per_epoch: int = _d("training.rl.steps_per_epoch")  # environment steps per epoch, all copies together
    gamma: float = _d("training.rl.gamma")
    gae_lambda: float = _d("training.rl.gae_lambda")
    clip: float = _d("training.rl.clip")
    update_epochs: int = _d("training.rl.update_epochs")
    minibatch: int = _d("training.rl.minibatch")
    entropy: float = _d("training.rl.entropy")
    value_weight: float = _d("training.rl.value_weight")
    eval_episodes: int = _d("training.rl.eval_episodes")
    test_episodes: int = _d("training.rl.test_episodes")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RLConfig:
        return _section(cls, "rl", data)


@dataclass
class PretrainConfig:
    """A pre-training stage run before the main one, whose weights the main run then starts from: the same
    network, every layer trainable, on other classes of the same data (``classes`` empty = all of them), split
    its own way (``val_fraction``, no test part)."""

    classes: list[int] = _field_default(schema.PRETRAIN_FIELDS, "classes")
    epochs: int = _field_default(schema.PRETRAIN_FIELDS, "epochs")
    val_fraction: float = _field_default(schema.PRETRAIN_FIELDS, "val_fraction")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PretrainConfig | None:
        if data is None:
            return None
        return cls(**check.parse_record(schema.PRETRAIN_FIELDS, data, "settings.training.transfer.pretrain",
                                         "{'classes': [0, 1], 'epochs': 10}"))


@dataclass
class TransferConfig:
    """Initialise nodes from an earlier run folder or a ``.safetensors`` file (``source``), or from a pre-training
    stage (``pretrain``), matched by node name and shape. ``nodes`` empty = every node whose name and shapes
    match."""

    source: str = _d("training.transfer.source")
    nodes: list[str] = _d("training.transfer.nodes")
    pretrain: PretrainConfig | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TransferConfig:
        values = check.read_training({"transfer": dict(data or {})})
        return _transfer(values)


def _transfer(values: dict[str, Any]) -> TransferConfig:
    out = TransferConfig(source=values["training.transfer.source"], nodes=values["training.transfer.nodes"],
                         pretrain=PretrainConfig.from_dict(values["training.transfer.pretrain"]))
    if out.source and out.pretrain is not None:
        raise ConfigError("settings.training.transfer: has both a source and a pretrain stage; keep one.")
    return out


# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Every training setting, with defaults that train a small network on a bundled data set sensibly."""

    recipe: str = _d("training.recipe")
    network: str = _d("training.network")  # which network to train ("" = the only/first)
    data: DataConfig = field(default_factory=DataConfig)
    epochs: int = _d("training.epochs")
    batch_size: int = _d("training.batch_size")
    optimizer: str = _d("training.optimizer")
    lr: float = _d("training.lr")
    momentum: float = _d("training.momentum")  # SGD and RMSprop
    nesterov: bool = _d("training.nesterov")
    betas: tuple[float, float] = tuple(schema.default("training.betas"))  # type: ignore[assignment]
    weight_decay: float = _d("training.weight_decay")
    schedule: str = _d("training.schedule")
    warmup_steps: int = _d("training.warmup_steps")  # linear warm-up from 0 to lr over this many batches
    step_size: int = _d("training.step_size")  # "step": multiply lr by gamma every step_size epochs
    gamma: float = _d("training.gamma")
    plateau_patience: int = _d("training.plateau_patience")  # "plateau": epochs without improvement
    plateau_factor: float = _d("training.plateau_factor")
    min_lr: float = _d("training.min_lr")  # "cosine" floor
    grad_clip: float = _d("training.grad_clip")  # max global gradient norm; 0 = no clipping
    l1: float = _d("training.l1")  # global penalties on all weight matrices and kernels (biases are not penalised)
    l2: float = _d("training.l2")
    dropout: float | None = _d("training.dropout")  # rate of every Dropout layer; None = each layer's own
    losses: list[LossConfig] = field(default_factory=list)
    metrics: list[str] = _d("training.metrics")  # extra metrics; the recipe always reports its own
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    device: str = _d("training.device")
    precision: str = _d("training.precision")
    torch_compile: bool = _d("training.torch_compile")
    seed: int = _d("training.seed")
    threads: int = _d("training.threads")  # CPU threads; 0 = automatic (see netbuilder.train.threads)
    log_every: int = _d("training.log_every")  # a BatchEnd event at most every this many batches ...
    log_interval: float = _d("training.log_interval")  # ... and at most this often (seconds)
    keep_checkpoints: int = _d("training.keep_checkpoints")  # epoch checkpoints kept besides "best" (0 = all)
    checkpoint_interval: float = _d("training.checkpoint_interval")  # seconds between epoch checkpoints
    name: str = _d("training.name")  # run folder suffix ("" = the document's title or "run")
    vae: VAEConfig = field(default_factory=VAEConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    rl: RLConfig = field(default_factory=RLConfig)
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
            raise ConfigError("settings.training: must be a mapping of setting names to values.")
        raw = dict(training or {})
        merged = raw.pop("data", None) or {}
        if not isinstance(merged, dict):
            raise ConfigError(f"settings.data: must be a mapping such as {{'source': 'digits'}}; got {merged!r}.")
        merged = {**merged, **(data or {})}
        values = check.read_training(raw)
        out = cls(data=DataConfig.from_dict(merged), transfer=_transfer(values),
                  losses=[LossConfig(**record) for record in values["training.losses"]],
                  early_stopping=EarlyStopping.from_dict(raw.get("early_stopping")),
                  vae=VAEConfig.from_dict(raw.get("vae")), gan=GANConfig.from_dict(raw.get("gan")),
                  lm=LMConfig.from_dict(raw.get("lm")), rl=RLConfig.from_dict(raw.get("rl")))
        for entry in schema.section_settings("training"):
            if len(entry.path) == 1 and entry.key != "losses":
                setattr(out, entry.key, values[entry.id])
        out.betas = (out.betas[0], out.betas[1])
        if out.nesterov and out.optimizer == "sgd" and out.momentum == 0:
            raise ConfigError("settings.training.nesterov: needs a momentum above 0 (e.g. 0.9).")
        return out

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> TrainConfig:
        """From a document's settings: ``settings["training"]`` and ``settings["data"]`` (either may be absent)."""
        settings = settings or {}
        data = settings.get("data")
        if isinstance(data, str):  # "data": "digits" is shorthand for {"source": "digits"}
            data = {"source": data}
        return cls.from_dict(settings.get("training"), data)

    def get(self, setting_id: str) -> Any:
        """The value of one schema entry (``"training.lr"``, ``"data.seed"``) as plain JSON, as a file holds it."""
        entry = schema.setting(setting_id)
        value: Any = self.data if entry.section == "data" else self
        for part in entry.path:
            value = getattr(value, part)
        return _plain(value)

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some top-level settings changed (e.g. from command-line flags)."""
        merged = self.to_dict()
        for key, value in changes.items():
            if key == "data" and isinstance(value, dict):
                merged["data"] = {**merged["data"], **value}
            else:
                merged[key] = _plain(value)
        return TrainConfig.from_dict(merged)
