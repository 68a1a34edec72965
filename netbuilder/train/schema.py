"""Every training and data setting a user can set, declared once.

Like a layer spec declares its parameters, each `Setting` here declares one entry of a document's
``settings["training"]`` or ``settings["data"]``: its key, type, default, range, choices, what it does, its label in
the app and its command-line flag. From this one list come:

* the checks of `TrainConfig.from_dict` (`netbuilder.train.settings_check`), whose errors name the setting where
  the file has it (``settings.training.optimizer: must be one of ...; got 'adma' — did you mean 'adam'?``);
* the defaults of the `TrainConfig` dataclasses (`default`);
* the editors of the app's Training panel (chosen by type, grouped by ``group``);
* the flags of ``netbuilder train`` (``flag``) and ``--set key=value``;
* the reference page ``docs/settings.md`` (`netbuilder.train.settings_doc`), kept current by a test;
* ``netbuilder validate``'s report of unknown or misspelt keys (`settings_check.settings_problems`).

Adding a setting is adding one entry here (and reading it where training uses it).
"""

from __future__ import annotations

import json
import re
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
          "Reinforcement learning",
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
                "vae", "gan", "language_model", "ppo"),
       choice_labels=("Automatic (from the network and data)", "Classification", "Regression",
                      "Sequence classification", "Time-series forecasting", "Autoencoder", "Variational autoencoder",
                      "GAN (generator + discriminator)", "Language model",
                      "Reinforcement learning (PPO, on an environment)")),
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
    # ---- Reinforcement learning (PPO) ---------------------------------------------------------------------------
    _s("rl.envs", "int", 8, "Environments", "Copies of the environment stepped side by side; the batch size is "
       "the environment steps of all of them per update.", "Reinforcement learning", low=1, high=1024,
       flag="--rl-envs", advanced=True),
    _s("rl.steps_per_epoch", "int", 10_240, "Steps per epoch", "Environment steps (all copies together) between "
       "two evaluations and checkpoints.", "Reinforcement learning", low=1, high=100_000_000,
       flag="--rl-steps-per-epoch", advanced=True),
    _s("rl.gamma", "float", 0.98, "Discount (gamma)", "How much a reward one step later counts: returns are "
       "sums of rewards weighted gamma^t.", "Reinforcement learning", low=0.0, high=1.0, flag="--rl-gamma",
       advanced=True),
    _s("rl.gae_lambda", "float", 0.8, "GAE lambda", "Generalised advantage estimation: 0 trusts the value head "
       "(low variance), 1 the observed returns (no bias).", "Reinforcement learning", low=0.0, high=1.0,
       flag="--rl-gae-lambda", advanced=True),
    _s("rl.clip", "float", 0.2, "Clip range", "PPO's clipping: how far one update may move an action's "
       "probability ratio from 1.", "Reinforcement learning", low=0.0, low_open=True, high=10.0,
       flag="--rl-clip", advanced=True),
    _s("rl.update_epochs", "int", 20, "Update epochs", "Passes over each batch of experience.",
       "Reinforcement learning", low=1, high=1000, flag="--rl-update-epochs", advanced=True),
    _s("rl.minibatch", "int", 256, "Minibatch", "Environment steps per gradient step within a batch.",
       "Reinforcement learning", low=1, high=1_000_000, flag="--rl-minibatch", advanced=True),
    _s("rl.entropy", "float", 0.0, "Entropy bonus", "Weight of the policy's entropy: above 0 keeps exploring.",
       "Reinforcement learning", low=0.0, high=10.0, flag="--rl-entropy", advanced=True),
    _s("rl.value_weight", "float", 0.5, "Value loss weight", "Weight of the value head's loss in the total.",
       "Reinforcement learning", low=0.0, high=1000.0, flag="--rl-value-weight", advanced=True),
    _s("rl.eval_episodes", "int", 10, "Evaluation episodes", "Episodes played with the greedy policy after each "
       "epoch (val_return).", "Reinforcement learning", low=0, high=10_000, flag="--rl-eval-episodes",
       advanced=True),
    _s("rl.test_episodes", "int", 100, "Test episodes", "Episodes played at the end with the best weights "
       "(test_return; 100 is how Gymnasium defines solved).", "Reinforcement learning", low=0, high=100_000,
       flag="--rl-test-episodes", advanced=True),
    # ---- Transfer learning --------------------------------------------------------------------------------------
    _s("transfer.nodes", "names", [], "Layers", "The nodes to initialise from the transfer source (empty = every "
       "node whose name and shapes match).", "Transfer learning", flag="--transfer-nodes", advanced=True),
    _s("transfer.pretrain", "mapping", None, "Pre-training stage", "A stage run first on other classes of the same "
       "data, whose weights the main run starts from: {\"classes\": [...], \"epochs\": N, \"val_fraction\": X} "
       "(fields below; empty = none).", "Transfer learning", nullable=True, null_text="no pre-training",
       flag="--pretrain", advanced=True, record=PRETRAIN_FIELDS),
    # ---- Data ---------------------------------------------------------------------------------------------------
    _s("source", "text", "", "Data", "A bundled data set id (digits, iris, ...) or a file or folder. --data keeps "
       "the file's other data settings (loader options, classes, split); the format then follows from the new name "
       "unless --data-format is given.", "Data split",
       section="data", flag="--data"),
    _s("format", "text", "", "Format", "bundled, csv, npy, npz, idx, images or text (empty = from the name).",
       "Data split", section="data", flag="--data-format"),
    _s("options", "mapping", {}, "Loader options", "Options of the format's loader (csv: target, features, task, "
       "header, delimiter, encoding, scale_target; images: size, grayscale; text: seq_len, stride; ...). They may "
       "also be written directly in settings.data.", "Data split", section="data", flag="--data-options"),
    _s("val_fraction", "float", 0.15, "Validation", "Share of the samples held out for validation.", "Data split",
       section="data", low=0.0, high=0.99),
    _s("test_fraction", "float", None, "Test", "Share of the samples held out for the final test, reported once at "
       "the end (empty = automatic: 10 % for bundled data, none for your own files).", "Data split",
       section="data", low=0.0, high=0.99, nullable=True, null_text="automatic"),
    _s("normalize", "bool", True, "Standardise inputs", "Scale inputs to mean 0 and standard deviation 1, "
       "fitted on the training split.", "Data split", section="data"),
    _s("augment", "mapping", {}, "Augmentation", "Random changes to training samples, e.g. {\"hflip\": true, "
       "\"crop\": 2}.", "Data split", section="data", advanced=True),
    _s("seed", "int", None, "Split seed", "Seed of the split (empty = the training seed).", "Data split",
       section="data", low=0, high=2**63 - 1, nullable=True, null_text="the training seed", flag="--data-seed",
       advanced=True),
    _s("classes", "ints", [], "Classes", "Train on these class ids only; labels keep their ids (empty = all).",
       "Data split", section="data", flag="--classes", advanced=True),
    _s("per_class", "int", 0, "Per class", "Keep at most this many training samples per class (0 = all); the "
       "validation and test splits stay whole.", "Data split", section="data", low=0, high=10_000_000,
       zero_text="all", flag="--per-class", advanced=True),
)

# Keys people put at the top of settings.training that belong somewhere else.
MOVED = {"beta": "vae.beta", "latent_size": "gan.latent_size", "d_lr": "gan.d_lr", "g_lr": "gan.g_lr",
         "beta1": "gan.beta1",
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
