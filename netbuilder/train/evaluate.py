"""Using a finished run: evaluate it on held-out data, or predict from new inputs.

Both rebuild the network from the document, load the run's weights (the best epoch's by default, and they say
which epoch; a run interrupted before its best epoch reached the disk is refused rather than silently used with
older weights) and reuse what the run recorded: the data settings and split seed (so "test" is the same test split
the run never trained on) and the preprocessing fitted on the training split (``preprocessing.json``), so new inputs
are scaled exactly like the training data and regression, reconstruction and generated outputs come back in the
data's own units.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from netbuilder.compile import CompileError, compile_network, compiled_info
from netbuilder.data.base import REINFORCEMENT, ArraySplit, DataError, DataInfo, PreparedData
from netbuilder.data.environments import Episodes
from netbuilder.data.preprocess import Preprocessing
from netbuilder.document.model import Document
from netbuilder.fs.limits import FileRefused, check_readable
from netbuilder.specs import roles
from netbuilder.train.config import TrainConfig, TransferConfig
from netbuilder.train.loop import open_dataset, resolve_device, select_classes
from netbuilder.train.losses import feeding_type
from netbuilder.train.preprocessing import prepared_with, with_preprocessing
from netbuilder.train.recipes import (
    Context,
    TrainError,
    build_recipe,
    choose_recipe,
    pick_network,
    sample_text,
)
from netbuilder.train.runs import ChosenWeights, Run, load_run, read_preprocessing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _load_state(run: Run, which: str) -> ChosenWeights:
    return run.choose_weights(which)


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], network: str) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        lines = str(error).strip().splitlines()
        detail = lines[1].strip() if len(lines) > 1 else lines[0]
        raise TrainError(f"The run's weights do not fit network {network!r}: {detail}",
                         "Use the document this run was trained from (its copy is graph.nbg in the run "
                         "folder).") from None


def evaluate(document: Document, run_dir: str | os.PathLike[str], data: Any = None, split: str = "auto",
             weights: str = "best", device: str = "auto", episodes: int | None = None) -> dict[str, Any]:
    """Metrics of a trained run on held-out data.

    ``data`` None re-creates the run's own split (same source, options and seed) and evaluates on its test part
    (``split="auto"``: test if the run kept one, else validation). ``data`` may also be a bundled id, a path or a
    Dataset: then all of it is evaluated (as split "data"), scaled with the run's normaliser. Returns
    ``{"<split>_loss": ..., "<split>_accuracy": ..., "split": ..., "samples": ..., "weights": "best checkpoint
    (epoch 3)", "weights_epoch": 3}`` (and ``"note"`` when the weights are older than the run's metrics) and, for
    classification, ``"confusion"`` and ``"class_names"``. For an agent (an environment's run) the split is
    greedy episodes from fixed seeds, ``episodes`` of them (default: the run's rl.test_episodes), and the result
    holds ``"<split>_return"``, the mean return, with ``"unit": "episodes"``.
    """
    run = load_run(run_dir)
    config = dataclasses.replace(run.config, transfer=TransferConfig(), device=device)
    prepared, name = evaluation_data(run, config, data, split)
    torch_device = resolve_device(config.device)
    recipe_name = run.record.get("recipe") or choose_recipe(document, config, prepared.info)
    if recipe_name == "gan":
        raise TrainError("A GAN has no held-out metric to evaluate.", "Use predict to draw samples from the "
                                                                      "generator instead.")
    split_data = prepared.train if name == "data" else getattr(prepared, name)
    if split_data is None or len(split_data) == 0:
        raise TrainError(f"The run's data has no {name} split to evaluate on.",
                         "Pass other data, or choose split val or train.")
    recipe = build_recipe(recipe_name, Context(document, config, prepared, torch_device))
    if isinstance(split_data, Episodes) and episodes is not None:
        if episodes < 1:
            raise TrainError(f"Evaluate at least 1 episode, not {episodes}.", "Use --episodes 100 (Gymnasium's "
                             "solved check).")
        split_data.count = episodes
    chosen = _load_state(run, weights)
    for network, state in chosen.weights.items():
        if network in recipe.modules:
            _load_into(recipe.modules[network], state, network)
    if isinstance(split_data, ArraySplit) and torch_device.type != "cpu":
        split_data = ArraySplit(split_data.x.to(torch_device),
                                split_data.y.to(torch_device) if split_data.y is not None else None)
    result = recipe.evaluate(split_data, prefix=f"{name}_")
    out: dict[str, Any] = dict(result.metrics)
    out["split"] = name
    out["samples"] = len(split_data)
    if isinstance(split_data, Episodes):
        out["unit"] = "episodes"
    out["weights"] = chosen.describe()
    out["weights_epoch"] = chosen.epoch
    if chosen.note:
        out["note"] = chosen.note
    if result.confusion is not None:
        out["confusion"] = result.confusion
        out["class_names"] = result.class_names
    return out


def evaluation_data(run: Run, config: TrainConfig, data: Any, split: str) -> tuple[PreparedData, str]:
    """The data a run is evaluated or explained on, prepared exactly as the run prepared it: its own source split
    with its seed and saved preprocessing, or other data (``data``) read with the run's loader and preprocessing,
    so a model is never judged on inputs scaled differently from those it learned on."""

    if data is None:
        options = config.data
        if not options.source:
            raise TrainError("The run does not record where its data came from.", "Pass the data to evaluate on.")
        dataset = open_dataset(options)
        seed = config.seed if options.seed is None else options.seed
        saved = read_preprocessing(run.path)
        prepared = dataset.prepare(val_fraction=options.val_fraction, test_fraction=options.resolved_test_fraction(),
                                   seed=seed, normalize=options.normalize and saved is None)
        prepared = prepared_with(prepared, saved)
        if split == "auto":
            split = "test" if prepared.test is not None else "val" if prepared.val is not None else "train"
        if split not in ("train", "val", "test"):
            raise TrainError(f"Unknown split {split!r}.", "Use auto, train, val or test.")
        return prepared, split
    dataset = _other_dataset(config, data) if isinstance(data, str | Path) else data
    prepared = dataset.prepare(val_fraction=0.0, test_fraction=0.0, seed=0, normalize=False)
    saved = read_preprocessing(run.path)
    train = with_preprocessing(prepared.train, saved)
    return PreparedData(prepared.info, train, None, None, saved or prepared.preprocessing, prepared.options), "data"


def _other_dataset(config: TrainConfig, data: str | Path) -> Any:
    """Data named by the user instead of the run's: a source of the run's own format is read with the run's loader
    options and class filter (another CSV with the same columns has the same target column; a model trained on
    digits 5-9 is evaluated on those); another format is read with its defaults."""
    from netbuilder.data import load_data
    from netbuilder.data.sources import options_for_another_source, source_format

    options = config.data
    same = source_format(str(data)) == source_format(options.source, options.format or None) is not None
    if not same:
        return load_data(data)
    return select_classes(load_data(str(data), **options_for_another_source(options.options)), options.classes)


# ---------------------------------------------------------------------------------------------------------------
# Prediction


@dataclass
class Prediction:
    """What a trained network makes of some inputs, in the data's own units (the run's preprocessing undone)."""

    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # Output name -> N×… tensor
    labels: list[str] | None = None  # classification: the predicted class of each sample
    probabilities: torch.Tensor | None = None  # classification: N×C
    text: str | None = None  # language models: the prompt and its continuation
    images: torch.Tensor | None = None  # generated or reconstructed images, N×C×H×W in the data's units
    image_rows: int = 1  # autoencoders: inputs in the first half of ``images``, reconstructions in the second
    pixel_range: tuple[float, float] | None = None  # the declared range of ``images`` (None: unknown)
    episode: Any = None  # agents: the replayed `netbuilder.train.episodes.Episode`
    weights: str = ""  # which weights made it, e.g. "best checkpoint (epoch 3)"
    note: str = ""  # why those weights may be older than the run's metrics (an interrupted run)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.text is not None:
            data["text"] = self.text
        if self.labels is not None:
            data["labels"] = self.labels
        if self.probabilities is not None:
            data["probabilities"] = [[round(float(p), 6) for p in row] for row in self.probabilities.tolist()]
        if self.episode is not None:
            data["episode"] = self.episode.to_dict()
        data["outputs"] = {name: value.tolist() for name, value in self.outputs.items()}
        data["weights"] = self.weights
        if self.note:
            data["note"] = self.note
        return data


def predict(document: Document, run_dir: str | os.PathLike[str], inputs: Any, weights: str = "best",
            device: str = "auto", temperature: float | None = None, length: int | None = None) -> Prediction:
    """Run a trained network on new inputs.

    ``inputs``: a tensor or array; a ``.npy`` or ``.csv`` file (one sample per row, or arrays of the Input's
    shape); an image file (resized to the Input's size); for a language model, a text prompt to continue; for a
    GAN or a VAE, a number of samples to generate. Inputs are given in the data's units (pixels in [0, 1], table
    values as in the file) and go through the run's preprocessing; regression, reconstruction and generated
    outputs come back in the data's units.
    """
    run = load_run(run_dir)
    config = run.config
    torch_device = resolve_device(device)
    info = DataInfo(**_info_fields(run.record.get("data") or {}))
    recipe = run.record.get("recipe") or ""
    chosen = _load_state(run, weights)
    prediction = _predict(document, run, config, info, recipe, chosen.weights, inputs, torch_device, temperature,
                          length)
    prediction.weights, prediction.note = chosen.describe(), chosen.note
    return prediction


def _predict(document: Document, run: Run, config: TrainConfig, info: DataInfo, recipe: str,
             state: dict[str, dict[str, torch.Tensor]], inputs: Any, torch_device: torch.device,
             temperature: float | None, length: int | None) -> Prediction:
    preprocessing = read_preprocessing(run.path) or Preprocessing()
    if recipe == "ppo" or info.task == REINFORCEMENT:
        return _predict_episode(document, state, inputs, torch_device, config, info)
    if recipe == "gan" or {"generator", "discriminator"} <= set(document.networks):
        return _predict_gan(document, state, inputs, torch_device, config, preprocessing, info)
    network = pick_network(document, config)
    module = compiled_with_weights(network, state, torch_device)
    cinfo = compiled_info(module)
    if len(cinfo.input_names) != 1:
        raise TrainError("predict feeds networks with exactly one Input.")
    itype = cinfo.input_types[0]
    if recipe == "language_model" or (itype.dtype == "int64" and "token_logits" in cinfo.output_roles):
        if not isinstance(inputs, str):
            raise TrainError("A language model continues a text prompt.", "Give the prompt as text.")
        features = itype.features
        fixed = bool(features) and isinstance(features[0], int)
        window = int(features[0]) if fixed else int(info.sample_shape[0]) if info.sample_shape else 64
        index = cinfo.output_roles.index("token_logits") if "token_logits" in cinfo.output_roles else 0
        vocab = preprocessing.vocab or info.vocab
        text = sample_text(module, vocab, inputs, length if length is not None else config.lm.sample_length,
                           temperature if temperature is not None else config.lm.temperature, config.seed, window,
                           fixed, index)
        return Prediction(text=text)
    if recipe == "vae" and _is_count(inputs):
        return _predict_vae_samples(network, module, int(inputs), config, preprocessing, info)
    x = _read_inputs(inputs, itype.features, itype.dtype)
    with torch.inference_mode():
        out = module(preprocessing.apply_inputs(x).to(torch_device))
    outs = (out,) if cinfo.single_output else tuple(out)
    result = Prediction(pixel_range=preprocessing.pixel_range)
    for name, value, role in zip(cinfo.output_names, outs, cinfo.output_roles, strict=True):
        value = value.detach().float().cpu() if value.is_floating_point() else value.detach().cpu()
        if roles.role(role).is_probability and feeding_type(network, name) == "LogSoftmax":
            value = value.exp()  # log-probabilities (trained with NLL as they are), shown as probabilities
        inverts = roles.role(role).inverts
        if inverts == "targets":
            value = preprocessing.invert_targets(value)
        elif roles.role(role).view == "reconstruction":
            value = preprocessing.invert_inputs(value.reshape(x.shape) if value.numel() == x.numel() else value)
            images = _as_images(torch.cat([x.float(), value.reshape(x.shape)]) if value.numel() == x.numel()
                                else None, info)
            if images is not None and result.images is None:
                result.images, result.image_rows = images, 2
        result.outputs[name] = value
    for name, role in zip(cinfo.output_names, cinfo.output_roles, strict=True):
        value = result.outputs[name]  # as shown: log-probabilities already turned into probabilities
        if roles.shows_classes(role) and value.dim() == 2:
            logits = roles.role(role).takes_logits
            if value.shape[1] == 1:
                p1 = torch.sigmoid(value.float()) if logits else value.float()
                probs = torch.cat([1 - p1, p1], dim=1).cpu()
            else:
                probs = (torch.softmax(value.float(), dim=1) if logits else value.float()).cpu()
            names = info.class_names or [str(i) for i in range(probs.shape[1])]
            result.probabilities = probs
            result.labels = [names[i] if i < len(names) else str(i) for i in probs.argmax(dim=1).tolist()]
            break
    return result


def _is_count(inputs: Any) -> bool:
    return (isinstance(inputs, int) and not isinstance(inputs, bool)) or (
        isinstance(inputs, str) and inputs.strip().isdigit())


def _as_images(x: torch.Tensor | None, info: DataInfo) -> torch.Tensor | None:
    """N×… values as N×C×H×W images when they are images (or flat pixels of a square grey image)."""
    if x is None or not x.is_floating_point():
        return None
    if x.dim() == 4 and x.shape[1] in (1, 3):
        return x
    shape = tuple(info.sample_shape)
    per = x[0].numel() if x.shape[0] else 0
    if info.kind == "images" and len(shape) == 3 and per == int(np.prod(shape)):
        return x.reshape(x.shape[0], *shape)
    side = int(round(per ** 0.5))
    if info.pixel_range is not None and side * side == per and per > 1:
        return x.reshape(x.shape[0], 1, side, side)
    return None


def _predict_vae_samples(network: Any, module: nn.Module, count: int, config: TrainConfig,
                         preprocessing: Preprocessing, info: DataInfo) -> Prediction:
    """``count`` samples decoded from N(0, 1) latents, in the data's units."""
    from netbuilder.train.recipes import decoder_module

    if not 1 <= count <= 10_000:
        raise TrainError(f"Ask for 1 to 10000 samples, not {count}.")
    try:
        decoder, latent = decoder_module(network, module)
    except TrainError as error:
        raise TrainError(f"This VAE cannot generate samples: {error}",
                         "Give inputs to reconstruct instead (a .npy or .csv file).") from None
    device = next(module.parameters()).device
    z = torch.randn((count, *[int(d) for d in latent.features]), generator=torch.Generator().manual_seed(config.seed))
    with torch.inference_mode():
        decoded = decoder.eval()(z.to(device)).float().cpu()
    name = next((n.name for n in network.outputs() if n.params.get("role") == "reconstruction"), "samples")
    decoded = preprocessing.invert_inputs(decoded)
    return Prediction({name: decoded}, images=_as_images(decoded, info), pixel_range=preprocessing.pixel_range)


def _info_fields(data: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(DataInfo)}
    fields = {k: v for k, v in data.items() if k in known}
    for key in ("sample_shape", "target_shape"):
        if key in fields:
            fields[key] = tuple(fields[key])
    fields.setdefault("id", "data")
    fields.setdefault("title", "")
    fields.setdefault("task", "classification")
    fields.setdefault("sample_shape", ())
    return fields


def compiled_with_weights(network: Any, state: dict[str, dict[str, torch.Tensor]],
                          device: torch.device) -> nn.Module:
    """``network`` compiled with the run's weights for it, in eval mode; a network that no longer compiles or has
    no weights in the run is a TrainError in the user's words."""
    try:
        module = compile_network(network)
    except CompileError as error:
        raise TrainError(str(error), "Fix the network, then predict again.") from None
    weights = state.get(network.name) or (next(iter(state.values())) if len(state) == 1 else None)
    if weights is None:
        raise TrainError(f"The run has no weights for network {network.name!r}.")
    _load_into(module, weights, network.name)
    return module.to(device).eval()


def _predict_gan(document: Document, state: dict[str, dict[str, torch.Tensor]], inputs: Any,
                 device: torch.device, config: TrainConfig, preprocessing: Preprocessing,
                 info: DataInfo) -> Prediction:
    generator = compiled_with_weights(document.networks["generator"], {"generator": state.get("generator", {})}, device)
    latent = compiled_info(generator).input_types[0].features
    if isinstance(inputs, int) or (isinstance(inputs, str) and inputs.strip().isdigit()):
        count = int(inputs)
        rng = torch.Generator().manual_seed(config.seed)
        z = torch.randn((count, *[int(d) for d in latent]), generator=rng)
    else:
        z = _read_inputs(inputs, latent, "float32")
    with torch.inference_mode():
        fake = preprocessing.invert_inputs(generator(z.to(device)).float().cpu())
    return Prediction({compiled_info(generator).output_names[0]: fake}, images=_as_images(fake, info),
                      pixel_range=preprocessing.pixel_range)


def _predict_episode(document: Document, state: dict[str, dict[str, torch.Tensor]], inputs: Any,
                     device: torch.device, config: TrainConfig, info: DataInfo) -> Prediction:
    """One greedy episode of an agent from the seed ``inputs`` (a whole number): traces, and frames when the
    environment can draw itself."""
    from netbuilder.data.environments import env_id_of
    from netbuilder.train.episodes import replay, strip

    if not _is_count(inputs):
        raise TrainError(f"An agent replays an episode from a seed (a whole number), not {inputs!r}.",
                         "Give a seed, e.g. 0.")
    module = compiled_with_weights(pick_network(document, config), state, device)
    cinfo = compiled_info(module)
    if "action_logits" not in cinfo.output_roles:
        raise TrainError("The network has no Output with role action_logits to act with.",
                         "Use the document this run was trained from.")
    policy_index = cinfo.output_roles.index("action_logits")
    value_index = cinfo.output_roles.index("state_value") if "state_value" in cinfo.output_roles else None

    def policy(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = module(x.to(device))
        outs = (out,) if cinfo.single_output else tuple(out)
        return outs[policy_index], outs[value_index] if value_index is not None else None

    episode = replay(env_id_of(info.source or config.data.source), policy, int(inputs))
    outputs = {cinfo.output_names[policy_index]: torch.from_numpy(episode.logits)}
    if value_index is not None and episode.values is not None:
        outputs[cinfo.output_names[value_index]] = torch.from_numpy(episode.values).unsqueeze(1)
    return Prediction(outputs, images=strip(episode), pixel_range=(0.0, 1.0), episode=episode)


def _read_inputs(inputs: Any, features: tuple[Any, ...], dtype: str) -> torch.Tensor:
    """Inputs as an N×<features> tensor of the Input's dtype."""
    if isinstance(inputs, torch.Tensor):
        x = inputs.detach().cpu()
    elif isinstance(inputs, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(inputs))
    elif isinstance(inputs, str | Path):
        x = _read_file(Path(inputs), features)
    else:
        raise TrainError(f"Cannot predict from a {type(inputs).__name__}.",
                         "Give a .npy or .csv file, an image, or an array.")
    x = x.to(torch.long if dtype == "int64" else torch.float32)
    fixed = [d for d in features if isinstance(d, int)]
    if len(fixed) == len(features):
        per_sample = int(np.prod(fixed)) if fixed else 1
        if tuple(x.shape) == tuple(features):
            x = x.unsqueeze(0)
        elif x.numel() % per_sample == 0 and tuple(x.shape[1:]) != tuple(features):
            x = x.reshape(-1, *features)
        if tuple(x.shape[1:]) != tuple(features):
            wanted = "×".join(map(str, features))
            raise TrainError(f"The inputs have shape {'×'.join(map(str, x.shape))}, but the network's Input takes "
                             f"samples of {wanted}.", f"Give N×{wanted} values (one sample per row for tables).")
    elif x.dim() == len(features):
        x = x.unsqueeze(0)
    return x


def _read_file(path: Path, features: tuple[Any, ...]) -> torch.Tensor:
    if not path.exists():
        raise TrainError(f"The input file {path} does not exist.")
    suffix = path.suffix.lower()
    try:  # a regular file of a sensible size only: never a device or a FIFO
        check_readable(path, "array" if suffix == ".npy" else "image" if suffix in IMAGE_SUFFIXES else "table")
    except FileRefused as error:
        raise DataError(str(error)) from None
    if suffix == ".npy":
        try:
            return torch.from_numpy(np.ascontiguousarray(np.load(path, allow_pickle=False)))
        except (ValueError, OSError) as error:
            raise DataError(f"{path.name} cannot be read as a NumPy array: {error}.") from None
    if suffix in (".csv", ".tsv", ".txt"):
        delimiter = "\t" if suffix == ".tsv" else ","
        try:
            table = np.genfromtxt(path, delimiter=delimiter, dtype=np.float64)
        except ValueError as error:
            raise DataError(f"{path.name} is not a table of numbers: {error}.") from None
        table = np.atleast_2d(table)
        if table.size and np.isnan(table[0]).all():  # a header row
            table = table[1:]
        if np.isnan(table).any():
            row, col = map(int, np.argwhere(np.isnan(table))[0])
            raise DataError(f"{path.name}: row {row + 1}, column {col + 1} is empty or not a number.")
        return torch.from_numpy(table.astype(np.float32))
    if suffix in IMAGE_SUFFIXES:
        if len(features) != 3 or not all(isinstance(d, int) for d in features):
            raise TrainError(f"{path.name} is an image, but the network's Input takes "
                             f"{'×'.join(map(str, features))}, not C×H×W.")
        from netbuilder.data.images import read_image

        channels, height, width = (int(d) for d in features)
        return read_image(str(path), (height, width), channels == 1).unsqueeze(0).float() / 255.0
    raise TrainError(f"Cannot read inputs from {path.name}.", "Use a .npy or .csv file, or an image.")
