"""Training callbacks for BNNs: hyperparameter schedules and weight-flip statistics.

FlipStatistics log schema (read by ``bnnstat flips LOG``)
==========================================================

One record per binary layer each time statistics are recorded (after every epoch, and every
`every_n_steps` training batches when set). A record covers the flips since the previous record
of the same training run, so the records of an epoch add up to that epoch's flips.

======== ===== ==============================================================================
field    type  meaning
======== ===== ==============================================================================
epoch    int   Keras' epoch index, from 0 (``initial_epoch`` included)
step     int   training batches completed when the record was made, counted from the first
               batch this callback saw (across epochs and ``fit`` calls)
layer    str   ``layer.name`` of a layer with precision-1 weights (nested models: the inner
               layer's name)
flipped  int   binary weights of the layer whose sign differs from the previous record
               (sign(0) = +1; before the first record: from the start of ``fit``)
total    int   number of binary (precision-1) weights of the layer
ratio    float ``flipped / total``
======== ===== ==============================================================================

``.jsonl`` / ``.json`` / ``.ndjson`` paths get JSON lines (one object with exactly these keys per
line); ``.csv`` paths get CSV with the header ``epoch,step,layer,flipped,total,ratio``.
"""

from __future__ import annotations

import csv
import inspect
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from bnnstat.utils import precision_of

__all__ = ["FLIP_LOG_FIELDS", "FlipStatistics", "HyperparameterScheduler"]

FLIP_LOG_FIELDS = ("epoch", "step", "layer", "flipped", "total", "ratio")

_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


# ---------------------------------------------------------------------------------------------
# HyperparameterScheduler


def _has_attribute(obj: Any, name: str) -> bool:
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    return True


def _inner_optimizers(optimizer: Any) -> list[Any]:
    """Optimizers wrapped by `optimizer` (LossScaleOptimizer, CaseOptimizer)."""
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:
        return [inner]
    return list(getattr(optimizer, "optimizers", None) or [])


def _owners(optimizer: Any, name: str) -> list[Any]:
    """The optimizers that hold `name`: `optimizer` itself, else the wrapped ones that do."""
    if _has_attribute(optimizer, name):
        return [optimizer]
    found: list[Any] = []
    for inner in _inner_optimizers(optimizer):
        found.extend(o for o in _owners(inner, name) if all(o is not f for f in found))
    return found


def _value(value: Any) -> float:
    return float(keras.ops.convert_to_numpy(value))


def _shown(value: Any) -> str:
    """The value in its own precision (a float32 0.0025 prints as 0.0025)."""
    return str(np.asarray(keras.ops.convert_to_numpy(value))[()])


def _set_attribute(obj: Any, name: str, value: float) -> None:
    """Set through a property setter; assign into a plain variable attribute (so compiled
    training functions, which captured the variable, see the new value)."""
    if isinstance(getattr(type(obj), name, None), property):
        setattr(obj, name, value)
        return
    current = getattr(obj, name)
    if isinstance(current, keras.Variable) or hasattr(current, "assign"):
        current.assign(value)
    else:
        setattr(obj, name, value)


class HyperparameterScheduler(keras.callbacks.Callback):
    """Schedule any optimizer hyperparameter, e.g. Bop's `gamma` inside a CaseOptimizer.

    At the start of every epoch (``update_freq="epoch"``, with the epoch index from 0) or of every
    training batch (``update_freq="step"``, with the optimizer's `iterations`), the
    hyperparameter is set to ``schedule(t, current_value)`` (or ``schedule(t)`` for a
    one-argument schedule). The value is logged under `log_name` at the end of each epoch (so
    it appears in ``History`` and TensorBoard).

    ```python
    bop = lq.optimizers.Bop(threshold=1e-6, gamma=1e-3)
    optimizer = lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, bop),
        default_optimizer=keras.optimizers.Adam(0.01),
    )
    callbacks = [HyperparameterScheduler(lambda epoch: 1e-3 * 0.1 ** (epoch // 30), "gamma", bop)]
    ```

    Args:
        schedule: function of the epoch (or step) index, optionally also of the current value,
            returning the new value.
        hyperparameter: name of the attribute to schedule (e.g. ``"gamma"``).
        optimizer: the optimizer holding it. None: the model's optimizer, or the one optimizer
            wrapped by it (inside a LossScaleOptimizer / CaseOptimizer) that has the attribute.
        update_freq: ``"epoch"`` (default) or ``"step"``.
        verbose: 0 quiet, 1 print every update.
        log_name: name under which the value is logged; defaults to `hyperparameter`.
    """

    def __init__(
        self,
        schedule: Callable[..., Any],
        hyperparameter: str,
        optimizer: keras.optimizers.Optimizer | None = None,
        update_freq: str = "epoch",
        verbose: int = 0,
        log_name: str | None = None,
    ) -> None:
        super().__init__()
        if update_freq not in ("epoch", "step"):
            raise ValueError(
                "HyperparameterScheduler.update_freq can only be 'step' or 'epoch'."
                f" Received value '{update_freq}'"
            )
        self.schedule = schedule
        self.hyperparameter = hyperparameter
        self.optimizer = optimizer
        self.update_freq = update_freq
        self.verbose = verbose
        self.log_name = log_name or hyperparameter
        self._target: Any = None

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self._target = self._resolve(self.optimizer or model.optimizer)

    def _resolve(self, optimizer: Any) -> Any:
        owners = _owners(optimizer, self.hyperparameter)
        if not owners:
            raise ValueError(f'Optimizer must have a "{self.hyperparameter}" attribute.')
        if len(owners) > 1:
            names = ", ".join(f"`{o.name}`" for o in owners)
            raise ValueError(
                f'Several optimizers have a "{self.hyperparameter}" attribute ({names}); '
                "pass the one to schedule as `optimizer=`."
            )
        return owners[0]

    @property
    def target(self) -> Any:
        """The optimizer whose hyperparameter is scheduled (known once the model is set)."""
        return self._target

    def _call_schedule(self, t: int, current: float) -> Any:
        try:
            parameters = inspect.signature(self.schedule).parameters.values()
        except (TypeError, ValueError):  # builtins without a signature
            return self.schedule(t)
        positional = [
            p
            for p in parameters
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        takes_two = len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)
        return self.schedule(t, current) if takes_two else self.schedule(t)

    def set_hyperparameter(self, t: int) -> Any:
        """Set the hyperparameter to its scheduled value at `t`; return the attribute."""
        current = _value(getattr(self._target, self.hyperparameter))
        new = _value(self._call_schedule(t, current))
        _set_attribute(self._target, self.hyperparameter, new)
        return getattr(self._target, self.hyperparameter)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.update_freq != "step":
            return
        # The optimizer's global step: `batch` restarts at 0 every epoch.
        step = int(keras.ops.convert_to_numpy(self._target.iterations))
        value = self.set_hyperparameter(step)
        if self.verbose > 0:
            print(f"Batch {step}: {self.log_name} is now {_shown(value)}.")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.update_freq != "epoch":
            return
        value = self.set_hyperparameter(epoch)
        if self.verbose > 0:
            print(f"Epoch {epoch}: {self.log_name} is now {_shown(value)}.")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs[self.log_name] = _value(getattr(self._target, self.hyperparameter))


# ---------------------------------------------------------------------------------------------
# FlipStatistics


def _post_order(layers: list[Any]) -> Iterator[Any]:
    """Layers of (nested) models, inner layers before the model that contains them."""
    for layer in layers:
        if isinstance(layer, keras.Model):
            yield from _post_order(list(layer.layers))
        yield layer


def binary_weights_by_layer(model: keras.Model) -> dict[str, list[Any]]:
    """`{layer name: [its precision-1 variables]}` in model order (nested models flattened)."""
    seen: set[int] = set()
    result: dict[str, list[Any]] = {}
    for layer in _post_order(list(model.layers)):
        own = [w for w in layer.weights if id(w) not in seen]
        seen.update(id(w) for w in own)
        binary = [w for w in own if precision_of(w) == 1]
        if binary and not isinstance(layer, keras.Model):
            result.setdefault(layer.name, []).extend(binary)
    return result


def _signs(variable: Any) -> np.ndarray:
    """Boolean array `w >= 0` (sign(0) = +1), flattened."""
    return np.asarray(keras.ops.convert_to_numpy(variable)).ravel() >= 0


class FlipStatistics(keras.callbacks.Callback):
    """Record how many binary weights flip sign, per binary layer, while training.

    After each epoch (and every `every_n_steps` training batches when given) it writes one
    record per layer that has precision-1 weights (e.g. ``QuantDense`` with a ``ste_sign`` or
    ``NoOp(precision=1)`` kernel quantizer): the number of those weights whose sign changed since
    the previous record, the layer's binary weight count and their ratio. The schema is at the
    top of this module; ``bnnstat flips LOG`` reports and plots such logs.

    Args:
        path: output file; ``.csv`` for CSV, ``.jsonl`` / ``.json`` / ``.ndjson`` for JSON lines.
        every_n_steps: also record every this many training batches (None: per epoch only).
            The end-of-epoch record then covers the batches since the last step record, and is
            skipped when there are none.
        append: append to an existing file instead of overwriting it when training starts.
    """

    def __init__(self, path: str | Path, every_n_steps: int | None = None, append: bool = False):
        super().__init__()
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix == ".csv":
            self.format = "csv"
        elif suffix in _JSON_SUFFIXES:
            self.format = "jsonl"
        else:
            raise ValueError(
                f"FlipStatistics: cannot tell the log format of {str(self.path)!r}; use a .csv "
                "or .jsonl (.json, .ndjson) file name"
            )
        if every_n_steps is not None and (
            isinstance(every_n_steps, bool)
            or not isinstance(every_n_steps, int)
            or every_n_steps < 1
        ):
            raise ValueError(f"every_n_steps must be a positive int or None, got {every_n_steps!r}")
        self.every_n_steps = every_n_steps
        self.append = append
        self._step = 0
        self._last_record_step = 0
        self._epoch = 0
        self._started = False
        self._previous: dict[str, list[np.ndarray]] = {}
        self._layers: dict[str, list[Any]] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._layers = binary_weights_by_layer(self.model)
        self._previous = self._snapshot()
        self._last_record_step = self._step
        if not (self.append or self._started) or not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="", encoding="utf-8") as handle:
                if self.format == "csv":
                    csv.writer(handle).writerow(FLIP_LOG_FIELDS)
        self._started = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._step += 1
        if self.every_n_steps and self._step % self.every_n_steps == 0:
            self.record()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._step > self._last_record_step or not self.every_n_steps:
            self.record()

    def _snapshot(self) -> dict[str, list[np.ndarray]]:
        return {name: [_signs(v) for v in variables] for name, variables in self._layers.items()}

    def record(self) -> list[dict[str, Any]]:
        """Write one record per binary layer (flips since the last record) and return them."""
        current = self._snapshot()
        rows = []
        for name, signs in current.items():
            flipped = sum(
                int(np.count_nonzero(now != before))
                for now, before in zip(signs, self._previous[name], strict=True)
            )
            total = sum(s.size for s in signs)
            rows.append(
                {
                    "epoch": int(self._epoch),
                    "step": int(self._step),
                    "layer": name,
                    "flipped": flipped,
                    "total": int(total),
                    "ratio": flipped / total if total else 0.0,
                }
            )
        self._previous = current
        self._last_record_step = self._step
        self._write(rows)
        return rows

    def _write(self, rows: list[dict[str, Any]]) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            if self.format == "csv":
                writer = csv.DictWriter(handle, fieldnames=FLIP_LOG_FIELDS)
                writer.writerows(rows)
            else:
                for row in rows:
                    handle.write(json.dumps(row) + "\n")
