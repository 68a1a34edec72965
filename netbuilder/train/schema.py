"""Every training and data setting a user can set, declared once.

Like a layer spec declares its parameters, each `Setting` here declares one entry of a document's
``settings["training"]`` or ``settings["data"]``: its key, type, default, range, choices, what it does, its label in
the app and its command-line flag. From this one list come:

* the checks of `TrainConfig.from_dict` (`parse`), whose errors name the setting where the file has it
  (``settings.training.optimizer: must be one of ...; got 'adma' — did you mean 'adam'?``);
* the defaults of the `TrainConfig` dataclasses (`default`);
* the editors of the app's Training panel (chosen by type, grouped by ``group``);
* the flags of ``netbuilder train`` (``flag``) and ``--set key=value``;
* the reference page ``docs/settings.md`` (`markdown`), kept current by a test;
* ``netbuilder validate``'s report of unknown or misspelt keys (`settings_problems`).

Adding a setting is adding one entry here (and reading it where training uses it).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Types a setting can have; each has one parser below and one editor in the app.
TYPES = ("choice", "int", "float", "bool", "text", "names", "ints", "floats", "metrics", "device", "mapping",
         "losses")

METRICS = ("accuracy", "precision", "recall", "f1", "mae", "r2", "perplexity")  # plus "topK", e.g. "top5"
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_TOPK = re.compile(r"^top(\d+)$")
_NULL_WORDS = ("", "none", "null", "auto")


class ConfigError(ValueError):
    """A training setting that cannot be used; the message names the setting and what is allowed."""


@dataclass(frozen=True)
class Setting:
    """One user setting. ``key`` is its path inside its section (``"lr"``, ``"early_stopping.patience"``)."""

    key: str
    section: str  # "training" or "data"
    type: str  # one of TYPES
    default: Any
    label: str  # its name in the app
    doc: str  # what it does, in one or two sentences
    group: str  # the Training panel section that shows it
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    choices: tuple[str, ...] = ()
    choice_labels: tuple[str, ...] = ()  # one per choice, for the app
    nullable: bool = False  # None (empty) is allowed and means null_text
    null_text: str = ""
    zero_text: str = ""  # what 0 means, shown by the app's editor (e.g. "off")
    length: int = 0  # "floats" of a fixed length (betas)
    flag: str = ""  # command-line flag; "" = --<key with dashes>
    advanced: bool = False  # under "More settings" in the app
    record: tuple[Setting, ...] = ()  # the fields of a "mapping" that is a record (the pre-training stage)

    @property
    def id(self) -> str:
        """``section.key``, as ``--set`` takes it and the docs list it."""
        return f"{self.section}.{self.key}"

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.key.replace(".", "-").replace("_", "-")

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))

    def label_of(self, choice: str) -> str:
        """The app's label of one of the choices."""
        if self.choice_labels and choice in self.choices:
            return self.choice_labels[self.choices.index(choice)]
        return choice

    def example(self) -> Any:
        """A valid value other than the default, as a file would hold it (for help texts and tests)."""
        if self.type == "choice":
            return next(c for c in reversed(self.choices) if c != self.default)
        if self.type in ("int", "float"):
            low = 0 if self.low is None else self.low
            high = low + 100 if self.high is None else self.high
            value = low + 1 if self.type == "int" else low + min(0.5, (high - low) / 2)
            if self.default is not None and value == self.default:
                value = low + 2 if self.type == "int" else low + (high - low) / 4
            return int(value) if self.type == "int" else float(value)
        examples = {"bool": not self.default, "text": "example", "names": ["conv1", "dense"], "ints": [1, 2],
                    "floats": [0.8, 0.99], "metrics": ["top3", "f1"], "device": "cpu",
                    "mapping": {"hflip": True}, "losses": [{"output": "y", "loss": "mse"}]}
        overrides = {"data.source": "iris", "data.format": "csv", "data.options": {"target": "label"},
                     "training.transfer.pretrain": {"classes": [0, 1], "epochs": 2},
                     "training.early_stopping.monitor": "val_accuracy"}
        return overrides.get(self.id, examples[self.type])

    def allowed(self) -> str:
        """What values are allowed, in words (for docs and help)."""
        if self.type == "choice":
            text = ", ".join(self.choices)
        elif self.type in ("int", "float"):
            kind = "whole number" if self.type == "int" else "number"
            low = "" if self.low is None else (f"> {_num(self.low)}" if self.low_open else f"≥ {_num(self.low)}")
            high = "" if self.high is None or self.high >= 1e9 else f"≤ {_num(self.high)}"
            text = f"{kind} {', '.join(p for p in (low, high) if p)}".strip()
        elif self.type == "bool":
            text = "true or false"
        elif self.type == "names":
            text = "list of names"
        elif self.type == "ints":
            text = "list of class ids"
        elif self.type == "floats":
            text = f"{self.length} numbers" if self.length else "list of numbers"
        elif self.type == "metrics":
            text = f"list of {', '.join(METRICS)}, topK"
        elif self.type == "device":
            text = "auto, cpu, cuda, cuda:N, mps"
        elif self.type == "mapping":
            text = "mapping (JSON object)"
        elif self.type == "losses":
            text = "list of loss records (below)"
        else:
            text = "text"
        return text + (" or empty" if self.nullable else "")


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) >= 1000 else f"{value:g}"


def _s(key: str, type_: str, default: Any, label: str, doc: str, group: str, section: str = "training",
       **more: Any) -> Setting:
    return Setting(key, section, type_, default, label, doc, group, **more)


# The panel shows these groups in this order; the advanced ones under "More settings".
GROUPS = ("Recipe", "Optimisation", "Losses", "Regularisation", "Device and seed", "Optimiser details",
          "Schedule details", "Early stopping", "Metrics and checkpoints", "VAE", "GAN", "Language model",
          "Transfer learning", "Data split")

# Records inside a setting: one loss per Output node, and the pre-training stage.
LOSS_FIELDS: tuple[Setting, ...] = (
    _s("output", "text", "", "Output", "The Output node's name (empty = every output without its own entry).",
       "Losses"),
    _s("loss", "choice", "auto", "Loss", "auto picks from the Output's role and the task; none trains nothing "
       "from this output.", "Losses",
       choices=("auto", "none", "mse", "l1", "huber", "cross_entropy", "nll", "bce", "bce_logits", "kl"),
       choice_labels=("Automatic (from the role)", "None (not trained)", "Mean squared error",
                      "Mean absolute error (L1)", "Huber", "Cross-entropy", "Negative log-likelihood",
                      "Binary cross-entropy", "Binary cross-entropy (logits)", "KL divergence")),
    _s("weight", "float", 1.0, "Weight", "Weight of this loss in the total.", "Losses", low=0.0, high=1e6),
    _s("label_smoothing", "float", 0.0, "Label smoothing", "Cross-entropy label smoothing.", "Losses", low=0.0,
       high=0.99),
    _s("class_weights", "floats", None, "Class weights", "One weight per class (cross-entropy, NLL).", "Losses",
       low=0.0, nullable=True),
    _s("huber_delta", "float", 1.0, "Huber delta", "Where the Huber loss turns from squared to linear.", "Losses",
       low=0.0, low_open=True, high=1e9),
)
PRETRAIN_FIELDS: tuple[Setting, ...] = (
    _s("classes", "ints", [], "Classes", "The classes to pre-train on (empty = all).", "Transfer learning"),
    _s("epochs", "int", 10, "Epochs", "Epochs of the pre-training stage.", "Transfer learning", low=1,
       high=1_000_000),
    _s("val_fraction", "float", 0.15, "Validation", "Its own validation share (it keeps no test part).",
       "Transfer learning", low=0.0, high=0.95),
)

SETTINGS: tuple[Setting, ...] = (
    # ---- Recipe -----------------------------------------------------------------------------------------------
    _s("recipe", "choice", "auto", "Recipe", "What training means for this network; auto decides from the network "
       "and the data.", "Recipe",
       choices=("auto", "classification", "regression", "sequence_classification", "forecasting", "autoencoder",
                "vae", "gan", "language_model"),
       choice_labels=("Automatic (from the network and data)", "Classification", "Regression",
                      "Sequence classification", "Time-series forecasting", "Autoencoder", "Variational autoencoder",
                      "GAN (generator + discriminator)", "Language model")),
    _s("epochs", "int", 10, "Epochs", "Passes over the training data.", "Recipe", low=1, high=1_000_000),
    _s("batch_size", "int", 64, "Batch size", "Samples per optimiser step.", "Recipe", low=1, high=1_000_000),
    _s("early_stopping.patience", "int", 0, "Early stop", "Stop when the monitored value has not improved for "
       "this many epochs (0 = never stop early).", "Recipe", low=0, high=100_000, zero_text="off", flag="--patience"),
    _s("transfer.source", "text", "", "Start from", "Initialise layers from an earlier run folder or a "
       ".safetensors file, matched by node name and shape (empty = random initial weights).", "Recipe",
       flag="--transfer"),
    # ---- Optimisation -----------------------------------------------------------------------------------------
    _s("optimizer", "choice", "adam", "Optimizer", "The optimisation algorithm.", "Optimisation",
       choices=("sgd", "adam", "adamw", "rmsprop", "adagrad"),
       choice_labels=("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")),
    _s("lr", "float", 1e-3, "Learning rate", "The size of each step (Adam: 0.001 is a good start).",
       "Optimisation", low=0.0, low_open=True),
    _s("schedule", "choice", "none", "Schedule", "How the learning rate changes during training.", "Optimisation",
       choices=("none", "step", "cosine", "plateau", "onecycle"),
       choice_labels=("Constant", "Step decay", "Cosine", "Reduce on plateau", "One-cycle")),
    _s("warmup_steps", "int", 0, "Warm-up", "Raise the learning rate linearly from 0 over this many batches "
       "first (with any schedule).", "Optimisation", low=0, high=100_000_000, zero_text="off", flag="--warmup"),
    # ---- Losses (per Output node) -----------------------------------------------------------------------------
    _s("losses", "losses", [], "Loss", "The loss of each Output node (auto = from its role and the task). On the "
       "command line: --loss NAME for every output, --loss OUTPUT=NAME for one.", "Losses", flag="--loss"),
    # ---- Regularisation ---------------------------------------------------------------------------------------
    _s("weight_decay", "float", 0.0, "Weight decay", "Weight decay applied by the optimiser (decoupled for "
       "AdamW).", "Regularisation", low=0.0, high=10.0),
    _s("l1", "float", 0.0, "L1 penalty", "L1 penalty on every weight matrix and kernel (drives weights to "
       "exactly zero); biases are not penalised.", "Regularisation", low=0.0, high=1e6),
    _s("l2", "float", 0.0, "L2 penalty", "L2 penalty on every weight matrix and kernel; biases are not "
       "penalised.", "Regularisation", low=0.0, high=1e6),
    _s("grad_clip", "float", 0.0, "Gradient clip", "Clip the global gradient norm to this value (0 = off); "
       "steadies training.", "Regularisation", low=0.0, high=1e9),
    _s("dropout", "float", None, "Dropout", "Rate of every Dropout layer in this run, in place of each layer's "
       "own rate (empty = each layer's own).", "Regularisation", low=0.0, high=0.99, nullable=True,
       null_text="each layer's own rate"),
    # ---- Device and seed --------------------------------------------------------------------------------------
    _s("device", "device", "auto", "Device", "Where to train: auto picks a GPU when there is one.",
       "Device and seed"),
    _s("seed", "int", 0, "Seed", "The same seed, data and settings give the same run, loss for loss.",
       "Device and seed", low=0, high=2**63 - 1),
    _s("threads", "int", 0, "CPU threads", "Threads for CPU work (0 = automatic: at most 4, never more than "
       "the cores this process may use and that are idle). More threads on a busy machine slow training down.",
       "Device and seed", low=0, high=1024, zero_text="automatic"),
    # ---- Optimiser details --------------------------------------------------------------------------------------
    _s("momentum", "float", 0.9, "Momentum", "Momentum of SGD and RMSprop.", "Optimiser details", low=0.0,
       high=0.9999, advanced=True),
    _s("nesterov", "bool", False, "Nesterov", "Nesterov momentum (SGD; needs a momentum above 0).",
       "Optimiser details", advanced=True),
    _s("betas", "floats", [0.9, 0.999], "Betas", "Adam's and AdamW's two averaging factors.",
       "Optimiser details", low=0.0, high=0.99999, length=2, advanced=True),
    # ---- Schedule details ---------------------------------------------------------------------------------------
    _s("step_size", "int", 10, "Step every", "Step decay: multiply the learning rate by gamma every this many "
       "epochs.", "Schedule details", low=1, high=1_000_000, advanced=True),
    _s("gamma", "float", 0.1, "Gamma", "Step decay: the factor applied every step_size epochs.",
       "Schedule details", low=0.0, low_open=True, high=1.0, advanced=True),
    _s("plateau_patience", "int", 3, "Plateau patience", "Reduce on plateau: epochs without improvement of the "
       "monitored value before the rate drops.", "Schedule details", low=0, high=100_000, advanced=True),
    _s("plateau_factor", "float", 0.1, "Plateau factor", "Reduce on plateau: the factor the rate is multiplied "
       "by.", "Schedule details", low=0.0, low_open=True, high=1.0, advanced=True),
    _s("min_lr", "float", 0.0, "Minimum rate", "Cosine: the learning rate it ends at.", "Schedule details",
       low=0.0, high=100.0, advanced=True),
    # ---- Early stopping -----------------------------------------------------------------------------------------
    _s("early_stopping.monitor", "text", "val_loss", "Monitor", "The metric early stopping and reduce-on-plateau "
       "watch (e.g. val_loss, val_accuracy).", "Early stopping", flag="--monitor", advanced=True),
    _s("early_stopping.mode", "choice", "auto", "Better when", "Whether a smaller or larger monitored value is "
       "better (auto: larger for accuracy-like metrics).", "Early stopping", choices=("auto", "min", "max"),
       choice_labels=("Automatic", "Smaller", "Larger"), flag="--monitor-mode", advanced=True),
    _s("early_stopping.min_delta", "float", 0.0, "Min. improvement", "The smallest change that counts as an "
       "improvement.", "Early stopping", low=0.0, high=1e9, flag="--min-delta", advanced=True),
    # ---- Metrics and checkpoints --------------------------------------------------------------------------------
    _s("metrics", "metrics", [], "Extra metrics", "Metrics reported besides the recipe's own (e.g. top5, f1).",
       "Metrics and checkpoints", advanced=True),
    _s("network", "text", "", "Network", "Which network of the document to train (empty = the only or first; "
       "GANs use the generator and discriminator).", "Metrics and checkpoints", advanced=True),
    _s("precision", "choice", "fp32", "Precision", "Mixed precision on CUDA (bf16 or fp16); other devices train "
       "in fp32.", "Metrics and checkpoints", choices=("fp32", "bf16", "fp16"),
       choice_labels=("fp32", "bf16 (mixed)", "fp16 (mixed)"), advanced=True),
    _s("torch_compile", "bool", False, "torch.compile", "Compile the network with torch.compile (falls back to "
       "eager when the first step fails).", "Metrics and checkpoints", flag="--compile", advanced=True),
    _s("log_every", "int", 10, "Report every", "A batch progress event at most every this many batches.",
       "Metrics and checkpoints", low=1, high=1_000_000, advanced=True),
    _s("log_interval", "float", 0.05, "Report interval", "...and at most this often (seconds).",
       "Metrics and checkpoints", low=0.0, high=3600.0, advanced=True),
    _s("keep_checkpoints", "int", 3, "Keep checkpoints", "Epoch checkpoints kept besides the best (0 = all).",
       "Metrics and checkpoints", low=0, high=1_000_000, zero_text="all", advanced=True),
    _s("checkpoint_interval", "float", 2.0, "Checkpoint interval", "Seconds between epoch checkpoints (0 = every "
       "epoch; the last is always kept).", "Metrics and checkpoints", low=0.0, high=86_400.0, advanced=True),
    _s("name", "text", "", "Run name", "Suffix of the run folder (empty = the document's title).",
       "Metrics and checkpoints", advanced=True),
    # ---- VAE ----------------------------------------------------------------------------------------------------
    _s("vae.beta", "float", 1.0, "KL weight (beta)", "Weight of the KL term of a variational autoencoder.", "VAE",
       low=0.0, high=1e6, flag="--beta", advanced=True),
    _s("vae.samples", "int", 16, "Samples", "Images decoded from random latents after each epoch.", "VAE", low=0,
       high=1024, flag="--vae-samples", advanced=True),
    # ---- GAN ----------------------------------------------------------------------------------------------------
    _s("gan.latent_size", "int", None, "Latent size", "Size of the generator's random input (empty = the "
       "generator Input's size).", "GAN", low=1, high=1_000_000, nullable=True,
       null_text="the generator Input's size", flag="--latent-size", advanced=True),
    _s("gan.label_smoothing", "float", 0.0, "Label smoothing", "One-sided: real labels become 1 − this.", "GAN",
       low=0.0, high=0.5, flag="--gan-label-smoothing", advanced=True),
    _s("gan.d_lr", "float", None, "Discriminator rate", "Learning rate of the discriminator (empty = lr).", "GAN",
       low=0.0, low_open=True, high=10.0, nullable=True, null_text="lr", flag="--d-lr", advanced=True),
    _s("gan.g_lr", "float", None, "Generator rate", "Learning rate of the generator (empty = lr).", "GAN",
       low=0.0, low_open=True, high=10.0, nullable=True, null_text="lr", flag="--g-lr", advanced=True),
    _s("gan.samples", "int", 16, "Samples", "Images generated from a fixed latent batch after each epoch.", "GAN",
       low=0, high=1024, flag="--gan-samples", advanced=True),
    _s("gan.beta1", "float", 0.5, "Adam beta1", "Adam's first beta for both networks; 0.5 is usual for GANs.",
       "GAN", low=0.0, high=0.999, flag="--gan-beta1", advanced=True),
    # ---- Language model -----------------------------------------------------------------------------------------
    _s("lm.sample_length", "int", 200, "Sample length", "Characters or tokens generated after each epoch (0 = "
       "none).", "Language model", low=0, high=100_000, flag="--sample-length", advanced=True),
    _s("lm.temperature", "float", 0.8, "Temperature", "Sampling temperature: below 1 plays safe, above 1 takes "
       "risks.", "Language model", low=0.0, low_open=True, high=100.0, flag="--temperature", advanced=True),
    _s("lm.prompt", "text", "", "Prompt", "Text the samples start from.", "Language model", flag="--prompt",
       advanced=True),
    # ---- Transfer learning --------------------------------------------------------------------------------------
    _s("transfer.nodes", "names", [], "Layers", "The nodes to initialise from the transfer source (empty = every "
       "node whose name and shapes match).", "Transfer learning", flag="--transfer-nodes", advanced=True),
    _s("transfer.pretrain", "mapping", None, "Pre-training stage", "A stage run first on other classes of the same "
       "data, whose weights the main run starts from: {\"classes\": [...], \"epochs\": N, \"val_fraction\": X} "
       "(fields below; empty = none).", "Transfer learning", nullable=True, null_text="no pre-training",
       flag="--pretrain", advanced=True, record=PRETRAIN_FIELDS),
    # ---- Data ---------------------------------------------------------------------------------------------------
    _s("source", "text", "", "Data", "A bundled data set id (digits, iris, ...) or a file or folder.", "Data split",
       section="data", flag="--data"),
    _s("format", "text", "", "Format", "bundled, csv, npy, npz, idx, images or text (empty = from the name).",
       "Data split", section="data", flag="--data-format"),
    _s("options", "mapping", {}, "Loader options", "Options of the format's loader (csv: target, features, task, "
       "header, delimiter, encoding, scale_target; images: size, grayscale; text: seq_len, stride; ...). They may "
       "also be written directly in settings.data.", "Data split", section="data", flag="--data-options"),
    _s("val_fraction", "float", 0.15, "Validation", "Share of the samples held out for validation.", "Data split",
       section="data", low=0.0, high=0.99),
    _s("test_fraction", "float", 0.0, "Test", "Share of the samples held out for the final test.", "Data split",
       section="data", low=0.0, high=0.99),
    _s("normalize", "bool", True, "Standardise inputs", "Scale inputs to mean 0 and standard deviation 1, "
       "fitted on the training split.", "Data split", section="data"),
    _s("augment", "mapping", {}, "Augmentation", "Random changes to training samples, e.g. {\"hflip\": true, "
       "\"crop\": 2}.", "Data split", section="data", advanced=True),
    _s("seed", "int", None, "Split seed", "Seed of the split (empty = the training seed).", "Data split",
       section="data", low=0, high=2**63 - 1, nullable=True, null_text="the training seed", flag="--data-seed",
       advanced=True),
    _s("classes", "ints", [], "Classes", "Train on these class ids only; labels keep their ids (empty = all).",
       "Data split", section="data", flag="--classes", advanced=True),
)

# Keys people put at the top of settings.training that belong somewhere else.
MOVED = {"beta": "vae.beta", "latent_size": "gan.latent_size", "d_lr": "gan.d_lr", "g_lr": "gan.g_lr", "beta1": "gan.beta1",
         "temperature": "lm.temperature", "sample_length": "lm.sample_length", "prompt": "lm.prompt",
         "patience": "early_stopping.patience", "monitor": "early_stopping.monitor", "classes": "data.classes",
         "pretrain": "transfer.pretrain", "loss": "losses", "label_smoothing": "losses[].label_smoothing",
         "val_fraction": "data.val_fraction", "test_fraction": "data.test_fraction", "source": "data.source"}
DATA_ALIASES = ("id", "path")  # settings.data may name its source "id" or "path", as the data loader does

_BY_ID = {s.id: s for s in SETTINGS}


def setting(setting_id: str) -> Setting:
    """The entry ``section.key`` (``"training.lr"``); a bare training key (``"lr"``) works too."""
    if setting_id in _BY_ID:
        return _BY_ID[setting_id]
    return _BY_ID[f"training.{setting_id}"]


def default(setting_id: str) -> Any:
    """A fresh copy of a setting's default (lists and mappings are not shared)."""
    value = setting(setting_id).default
    return json.loads(json.dumps(value)) if isinstance(value, list | dict) else value


def section_settings(section: str) -> tuple[Setting, ...]:
    return tuple(s for s in SETTINGS if s.section == section)


# ---------------------------------------------------------------------------------------------------------------
# Parsing one value. Strings are accepted for every type, so the command line and the app's text fields go
# through the same checks as a file.


def suggestion(word: str, candidates: Any) -> str:
    """`` — did you mean 'x'?`` for the closest candidate, or ""."""
    close = difflib.get_close_matches(str(word).lower(), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else ""


def _tidy(text: str) -> str:
    return text.replace("?.", "?").replace("? (", "? (")


def _fail(where: str, text: str) -> ConfigError:
    return ConfigError(f"{where}: {_tidy(text)}")


def parse(entry: Setting, value: Any, where: str | None = None) -> Any:
    """Check and convert one value of ``entry``; ConfigError naming ``where`` (default ``settings.<id>``)."""
    where = where or f"settings.{entry.id}"
    if entry.nullable and (value is None or (isinstance(value, str) and value.strip().lower() in _NULL_WORDS)):
        return None
    if value is None and entry.type in ("text", "names", "ints", "metrics", "losses", "mapping"):
        return json.loads(json.dumps(entry.default))  # absent: a fresh copy of the default
    kind = entry.type
    if kind == "choice":
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in entry.choices:
            raise _fail(where, f"must be one of {', '.join(entry.choices)}; got {value!r}"
                               f"{suggestion(str(value), entry.choices) if isinstance(value, str) else ''}.")
        return text
    if kind == "int":
        return _integer(where, value, entry.low, entry.high)
    if kind == "float":
        return _number(where, value, entry.low, entry.high, entry.low_open)
    if kind == "bool":
        return _flag(where, value)
    if kind == "text":
        if not isinstance(value, str):
            raise _fail(where, f"must be text; got {value!r}.")
        return value
    if kind == "names":
        return _list(where, value, lambda v, _w: _name(where, v), "a list of names such as ['conv1', 'conv2']")
    if kind == "ints":
        ids = _list(where, value, lambda v, w: _integer(w, v, 0, 1_000_000), "a list of class ids such as [5, 6]")
        if len(set(ids)) != len(ids):
            raise _fail(where, f"lists a class twice ({ids}).")
        return ids
    if kind == "floats":
        numbers = _list(where, value, lambda v, w: _number(w, v, entry.low, entry.high, entry.low_open),
                        "a list of numbers")
        if entry.length and len(numbers) != entry.length:
            raise _fail(where, f"must be {entry.length} numbers such as {entry.default}; got {value!r}.")
        if not entry.length and not numbers:
            raise _fail(where, "must list at least one number.")
        return numbers
    if kind == "metrics":
        return [_metric(where, m) for m in _list(where, value, lambda v, _w: _name(where, v), "a list of metrics")]
    if kind == "device":
        device = str(value).strip().lower()
        if not _DEVICE.match(device):
            raise _fail(where, f"must be auto, cpu, cuda, cuda:N or mps; got {value!r}"
                               f"{suggestion(device, ('auto', 'cpu', 'cuda', 'mps'))}.")
        return device
    if kind == "mapping":
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError:
                raise _fail(where, f"must be a JSON object such as {{\"hflip\": true}}; got {value!r}.") from None
        if not isinstance(value, dict):
            raise _fail(where, f"must be a mapping of names to values; got {value!r}.")
        if entry.record:
            return parse_record(entry.record, value, where, json.dumps(entry.example()))
        return dict(value)
    if kind == "losses":
        return parse_losses(value, where)
    raise AssertionError(f"unknown setting type {kind!r}")


def _number(where: str, value: Any, low: float | None, high: float | None, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(where, f"must be a number; got {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise _fail(where, f"must be a number; got {value!r}.") from None
    if math.isnan(number) or math.isinf(number):
        raise _fail(where, f"must be a finite number; got {value!r}.")
    if low is not None and (number <= low if low_open else number < low):
        raise _fail(where, f"must be {'greater than' if low_open else 'at least'} {low:g}; got {number:g}.")
    if high is not None and number > high:
        raise _fail(where, f"must be at most {high:g}; got {number:g}.")
    return number


def _integer(where: str, value: Any, low: float | None, high: float | None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be a whole number; got {value!r}.")
    if low is not None and value < low:
        raise _fail(where, f"must be at least {low:g}; got {value}.")
    if high is not None and value > high:
        raise _fail(where, f"must be at most {high:g}; got {value}.")
    return value


def _flag(where: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise _fail(where, f"must be true or false; got {value!r}.")


def _name(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"must list names (text); got {value!r}.")
    return value.strip()


def _list(where: str, value: Any, item: Any, example: str) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise _fail(where, f"must be {example}; got {text!r}.") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise _fail(where, f"must be {example}; got {value!r}.")
    return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _metric(where: str, name: str) -> str:
    text = name.strip().lower()
    if text in METRICS or _TOPK.match(text):
        return text
    raise _fail(where, f"unknown metric {name!r}; use {', '.join(METRICS)} or topK (e.g. top5)"
                       f"{suggestion(text, METRICS)}.")


def topk_of(name: str) -> int | None:
    """The k of a "topK" metric name, else None."""
    match = _TOPK.match(name)
    return int(match.group(1)) if match else None


def parse_record(fields: tuple[Setting, ...], data: Any, where: str, example: str) -> dict[str, Any]:
    """One record (a loss, the pre-training stage): every field checked, unknown keys refused with a hint."""
    if not isinstance(data, dict):
        raise _fail(where, f"must be a mapping such as {example}; got {data!r}.")
    names = [f.key for f in fields]
    for key in data:
        if key not in names:
            raise _fail(f"{where}.{key}", f"unknown setting{suggestion(key, names)} (known: {', '.join(names)}).")
    out = {}
    for entry in fields:
        value = data.get(entry.key)
        if value is None and not entry.nullable:
            value = entry.default
        out[entry.key] = parse(entry, value, f"{where}.{entry.key}")
    return out


def parse_losses(value: Any, where: str = "settings.training.losses") -> list[dict[str, Any]]:
    """A list of loss records; ``{"y": "mse"}`` and ``{"y": {"loss": "mse"}}`` are read as one per output."""
    if value is None:
        return []
    if isinstance(value, str):  # the command line: "mse" or "y=mse,z=l1"
        value = [({"output": o.strip(), "loss": n.strip()} if n else {"output": "", "loss": o.strip()})
                 for o, _eq, n in (part.partition("=") for part in value.split(",") if part.strip())]
    if isinstance(value, dict):
        value = [dict(v, output=k) if isinstance(v, dict) else {"output": k, "loss": v} for k, v in value.items()]
    if not isinstance(value, list | tuple):
        raise _fail(where, "must be a list such as [{'output': 'y', 'loss': 'cross_entropy'}].")
    records = [parse_record(LOSS_FIELDS, item, f"{where}[{i}]", "{'output': 'y', 'loss': 'mse'}")
               for i, item in enumerate(value)]
    outputs = [r["output"] for r in records]
    if len(set(outputs)) != len(outputs):
        raise _fail(where, "lists the same output twice; give each Output node one loss.")
    return records


# ---------------------------------------------------------------------------------------------------------------
# Reading a whole section


def get_path(data: dict[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) of a nested key."""
    here: Any = data
    for part in path:
        if not isinstance(here, dict) or part not in here:
            return False, None
        here = here[part]
    return True, here


def set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set a nested key, creating the mappings on the way."""
    here = data
    for part in path[:-1]:
        nxt = here.get(part)
        if not isinstance(nxt, dict):
            nxt = here[part] = {}
        here = nxt
    here[path[-1]] = value


def _subsections(section: str) -> dict[str, list[str]]:
    """Mappings inside a section (``early_stopping``, ``gan``, ...) -> their keys."""
    result: dict[str, list[str]] = {}
    for entry in section_settings(section):
        if len(entry.path) > 1:
            result.setdefault(entry.path[0], []).append(entry.path[1])
    return result


def unknown_training_keys(raw: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(location, message) for every key of settings.training that no entry declares."""
    top = {s.path[0] for s in section_settings("training")}
    subs = _subsections("training")
    for key in raw:
        if key == "data":
            continue
        if key not in top:
            hint = (f" — it belongs in {MOVED[key]}" if key in MOVED
                    else suggestion(key, sorted(top | {f"{k}.{n}" for k, v in subs.items() for n in v})))
            yield f"settings.training.{key}", f"unknown training setting{hint}."
        elif key in subs:
            inner = raw[key]
            if inner is None:
                continue
            if not isinstance(inner, dict):
                yield f"settings.training.{key}", f"must be a mapping of names to values; got {inner!r}."
                continue
            for name in inner:
                if name not in subs[key]:
                    yield (f"settings.training.{key}.{name}",
                           f"unknown setting in {key}{suggestion(name, subs[key])} (known: {', '.join(subs[key])}).")


def read_training(raw: dict[str, Any]) -> dict[str, Any]:
    """Every training entry's checked value by id (``"training.lr"``), defaults filled in. The first problem
    raises ConfigError naming its location."""
    for where, message in unknown_training_keys(raw):
        raise _fail(where, message)
    values = {}
    for entry in section_settings("training"):
        found, value = get_path(raw, entry.path)
        values[entry.id] = parse(entry, value) if found and (value is not None or entry.nullable) \
            else default(entry.id)
    return values


def read_data(raw: dict[str, Any]) -> dict[str, Any]:
    """Every data entry's checked value by id; keys no entry declares are the loader's options."""
    raw = dict(raw)
    sources = [key for key in ("source", *DATA_ALIASES) if raw.get(key)]
    if len(sources) > 1:
        raise ConfigError(f"settings.data: names its source twice ({', '.join(sources)}); keep one.")
    source = raw.pop(sources[0]) if sources else ""
    for key in ("source", *DATA_ALIASES):
        raw.pop(key, None)
    raw["source"] = source
    declared = {s.key for s in section_settings("data")}
    values = {}
    for entry in section_settings("data"):
        found, value = get_path(raw, entry.path)
        values[entry.id] = parse(entry, value) if found and (value is not None or entry.nullable) \
            else default(entry.id)
    options = values["data.options"]
    for key in raw:
        if key not in declared:
            options[key] = raw[key]
    if values["data.val_fraction"] + values["data.test_fraction"] >= 1.0:
        raise ConfigError("settings.data: val_fraction plus test_fraction must leave samples to train on "
                          "(sum < 1).")
    return values


def data_option_problems(data: dict[str, Any], options: dict[str, Any]) -> list[tuple[str, str]]:
    """(location, message) for loader options the data's format does not take, with the closest known one."""
    from netbuilder.data.load import loader_options

    source = data.get("source") or next((data.get(k) for k in DATA_ALIASES if data.get(k)), "")
    try:
        fmt, known = loader_options(str(source), str(data.get("format") or "") or None)
    except ValueError:
        return []  # the format cannot be told without the file; loading it will say so
    where = {key: ("settings.data.options." if key in (data.get("options") or {}) else "settings.data.") + key
             for key in options}
    return [(where[key], f"unknown option for {fmt} data{suggestion(key, known)} (options: "
                         f"{', '.join(known) or 'none'}).")
            for key in sorted(options) if key not in known]


def settings_problems(settings: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Every problem of a document's training and data settings as (location, message): unknown or misspelt keys
    with a suggestion, and values that cannot be used. For ``netbuilder validate``."""
    settings = settings or {}
    problems: list[tuple[str, str]] = []
    training = settings.get("training")
    if training is not None and not isinstance(training, dict):
        return [("settings.training", "must be a mapping of setting names to values.")]
    training = dict(training or {})
    problems.extend((where, _tidy(text)) for where, text in unknown_training_keys(training))
    for entry in section_settings("training"):
        found, value = get_path(training, entry.path)
        if found and value is not None:
            try:
                parse(entry, value)
            except ConfigError as error:
                problems.append(_split(str(error)))
    data = settings.get("data")
    if isinstance(data, str):
        data = {"source": data}
    if data is not None and not isinstance(data, dict):
        return [*problems, ("settings.data", "must be a mapping such as {\"source\": \"digits\"}.")]
    data = dict(data or {})
    try:
        values = read_data(data)
    except ConfigError as error:
        problems.append(_split(str(error)))
    else:
        problems.extend((where, _tidy(text)) for where, text in data_option_problems(data, values["data.options"]))
    if not problems:
        from netbuilder.train.config import TrainConfig

        try:  # rules between settings (nesterov needs momentum, one transfer source, ...)
            TrainConfig.from_settings(settings)
        except ConfigError as error:
            problems.append(_split(str(error)))
    return problems


def _split(message: str) -> tuple[str, str]:
    where, sep, text = message.partition(": ")
    return (where, text) if sep and where.startswith("settings") else ("settings", message)


# ---------------------------------------------------------------------------------------------------------------
# The docs page


def markdown() -> str:
    """``docs/settings.md``: every setting, its flag, type, default and what it does."""
    lines = ["# Training and data settings", "",
             "Generated from `netbuilder/train/schema.py` by `netbuilder settings --markdown > docs/settings.md`; "
             "a test keeps it current.", "",
             "A document keeps them in `settings.training` and `settings.data`. `netbuilder train` takes each as a "
             "flag, and any of them as `--set section.key=VALUE` (e.g. `--set training.lr=0.01`). Lists are "
             "written with commas (`--metrics f1,top3`), mappings as JSON (`--data-options '{\"target\": \"y\"}'`), "
             "and `none` empties a setting that may be empty.", ""]

    def table(entries: tuple[Setting, ...], prefix: str, flags: bool) -> None:
        head = "| key | flag | allowed | default | what it does |" if flags else \
            "| key | allowed | default | what it does |"
        lines.extend([head, "|---|---|---|---|---|" if flags else "|---|---|---|---|"])
        for entry in entries:
            value = "(empty)" if entry.default in (None, "", [], {}) else json.dumps(entry.default)
            doc = entry.doc.replace("|", "\\|")
            cells = [f"`{prefix}{entry.key}`", *([f"`{entry.cli_flag}`"] if flags else []), entry.allowed(),
                     f"`{value}`" if value != "(empty)" else value, doc]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    for section, title in (("training", "## settings.training"), ("data", "## settings.data")):
        lines.extend([title, ""])
        table(section_settings(section), "", True)
    lines.extend(["## Loss records (`settings.training.losses[]`)", ""])
    table(LOSS_FIELDS, "", False)
    lines.extend(["## Pre-training stage (`settings.training.transfer.pretrain`)", ""])
    table(PRETRAIN_FIELDS, "", False)
    return "\n".join(lines).rstrip() + "\n"
