"""Output roles: what an Output node's values mean, declared once like a layer spec.

An Output's ``role`` parameter names one of these. Training picks the loss from it, the analyser warns about a
squashing layer before a role whose loss takes raw scores, the data fit check matches roles to the data's task,
prediction decides how to show the values, and export decides what preprocessing to bake in. Each of those asks
this registry instead of comparing role strings, so a new role is one `Role` entry here (the strings themselves
are stored in ``.nbg`` files and never change).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    """One output role.

    ``loss``/``loss_one_unit``: the default loss ("none" trains nothing from the output; a role without a loss of
    its own, such as logits, follows the task). ``takes_logits``: the loss applies softmax/sigmoid itself, so a
    Softmax or Sigmoid right before the Output is a mistake. ``tasks``: the data tasks this role answers (the
    first role listed for a task is what a fix sets). ``metrics``: what evaluation reports for it. ``view``: how a
    prediction of it is shown (class probabilities, values, images, text, an episode...). ``inverts``: which
    preprocessing a prediction undoes ("targets" back to the target's units, "inputs" back to the data's).
    """

    id: str
    title: str
    doc: str
    loss: str
    loss_one_unit: str | None = None  # when the output has a single unit (binary classification)
    takes_logits: bool = False
    is_probability: bool = False
    tasks: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    view: str = "values"
    inverts: str = ""  # "", "targets" or "inputs"
    recipe: str = ""  # the recipe an Output of this role asks for, when the role alone decides it
    trained_by_recipe: bool = False  # the recipe computes this output's loss itself (no per-output default)


CLASS_METRICS = ("accuracy", "precision", "recall", "f1")

ROLES: dict[str, Role] = {role.id: role for role in (
    Role("logits", "Logits", "Raw class scores; the loss applies softmax (or sigmoid for one unit) itself.",
         loss="cross_entropy", loss_one_unit="bce_logits", takes_logits=True,
         tasks=("classification", "language_model"), metrics=CLASS_METRICS, view="classes"),
    Role("probabilities", "Probabilities", "Class probabilities from a Softmax or Sigmoid.",
         loss="nll", loss_one_unit="bce", is_probability=True, tasks=("classification",), metrics=CLASS_METRICS,
         view="classes"),
    Role("regression", "Regression", "Values predicted in the target's units.", loss="mse",
         tasks=("regression", "forecasting"), metrics=("mae", "r2"), inverts="targets"),
    Role("reconstruction", "Reconstruction", "The input given back (autoencoders).", loss="mse",
         view="reconstruction", inverts="inputs", recipe="autoencoder"),
    Role("token_logits", "Token logits", "Next-token scores at every position (language models).",
         loss="cross_entropy", takes_logits=True, tasks=("language_model",), metrics=("perplexity",), view="text",
         recipe="language_model"),
    Role("score", "GAN score", "A discriminator's raw real-or-fake score.", loss="bce_logits", takes_logits=True,
         view="score"),
    Role("generated", "Generated", "Samples a generator makes.", loss="none", view="samples", inverts="inputs"),
    Role("features", "Features", "Plain features, not trained directly.", loss="none"),
    Role("action_logits", "Action logits", "A policy's raw score per action; the agent samples from their "
         "softmax (reinforcement learning).", loss="none", takes_logits=True, tasks=("reinforcement",),
         metrics=("return",), view="episode", recipe="ppo", trained_by_recipe=True),
    Role("state_value", "State value", "The expected return from this state: the critic of an actor-critic agent "
         "(one unit).", loss="none", tasks=("reinforcement",), view="values", recipe="ppo",
         trained_by_recipe=True),
)}

OUTPUT_ROLES: tuple[str, ...] = tuple(ROLES)


class UnknownRoleError(KeyError):
    def __str__(self) -> str:
        return f"Unknown output role {self.args[0]!r}; known roles: {', '.join(OUTPUT_ROLES)}."


def role(role_id: str | None) -> Role:
    """The registry entry of ``role_id``; UnknownRoleError when there is none."""
    found = ROLES.get(role_id or "")
    if found is None:
        raise UnknownRoleError(role_id)
    return found


def get(role_id: str | None) -> Role | None:
    """The entry of ``role_id``, or None (a file from a newer version may name a role this one lacks)."""
    return ROLES.get(role_id or "")


def roles_where(**wanted: object) -> tuple[str, ...]:
    """The ids of the roles whose fields equal ``wanted``, e.g. ``roles_where(takes_logits=True)``."""
    return tuple(r.id for r in ROLES.values() if all(getattr(r, k) == v for k, v in wanted.items()))


def roles_for_task(task: str) -> tuple[str, ...]:
    """The roles that answer a data task, most usual first (what a fix sets): a role made for the task (token
    logits for a language model) before one that also serves it (logits)."""
    fitting = [r for r in ROLES.values() if task in r.tasks]
    return tuple(r.id for r in sorted(fitting, key=lambda r: r.tasks.index(task)))


def shows_classes(role_id: str | None) -> bool:
    """Whether an output of this role holds class scores or probabilities."""
    found = get(role_id)
    return found is not None and found.view == "classes"


def default_loss(role_id: str, task: str, units: int | None) -> str:
    """The loss an Output of ``role_id`` trains with for ``task`` when the settings name none.

    A role with its own kind of values (reconstruction, token logits, a GAN score, no loss at all) keeps its loss
    whatever the task; class scores trained on regression or forecasting data are compared with mean squared
    error, as the data has no classes.
    """
    entry = get(role_id) or ROLES["logits"]
    if entry.view == "classes" and task in ("regression", "forecasting"):
        return "mse"
    if units == 1 and entry.loss_one_unit is not None:
        return entry.loss_one_unit
    return entry.loss
