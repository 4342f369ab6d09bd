r"""Optimizers for Binarized Neural Networks on the Keras 3 optimizer API (Larq's
``larq.optimizers``).

BNNs mix 1-bit weights with higher-precision ones (typically the first and last layers, biases and
BatchNorm parameters). `CaseOptimizer` routes each trainable variable to the optimizer whose
predicate claims it; `Bop` trains binary weights directly, without latent weights:

```python
import keras
import bnnstat as lq

optimizer = lq.optimizers.CaseOptimizer(
    (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop(threshold=1e-6, gamma=1e-3)),
    default_optimizer=keras.optimizers.Adam(0.01),
)
model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
```

Design notes (Keras 3.15 / TensorFlow 2.21):

- Routing is decided once, in `CaseOptimizer.build()`, which sees the model's `keras.Variable`s
  with their precision tags. During `apply()` variables are looked up by the optimizer's own
  variable key (`_get_variable_index`), which resolves per-replica `tf.Variable`s of a
  `MirroredStrategy` to their distributed container; never by `id()`, name or path (paths change
  when a model is reloaded: ``net/bin/kernel`` becomes ``bin/kernel``).
- The predicates are serialized with the optimizer (``Bop.is_binary_variable`` is registered with
  Keras), so a reloaded model recomputes exactly the same routing from the precision tags that the
  quantized layers set in ``build()``. Custom predicates must be registered with
  ``keras.saving.register_keras_serializable`` to reload in safe mode.
- State: every inner optimizer is saved as its own object in ``.keras`` files (its iterations and
  slots), next to the CaseOptimizer's own counter.

Learning rates (a deliberate choice): Bop has no learning rate, and its adaptivity rate `gamma`
is *not* reachable as ``learning_rate``. `gamma` is the averaging rate of the gradient signal and
its useful scale is tied to `threshold`; a learning-rate schedule written for Adam (Keras'
``LearningRateScheduler``, ``ReduceLROnPlateau``, which in Keras 3 set the learning rate of every
optimizer listed in ``model.optimizer.optimizers``) must not silently rescale it. So:

- reading ``Bop.learning_rate`` gives the current `gamma` (Keras passes it to each update step
  and its TensorBoard callback logs it as ``learning_rate_Bop``);
- setting ``Bop.learning_rate`` changes nothing and warns once, pointing to
  ``bnnstat.callbacks.HyperparameterScheduler(schedule, "gamma")``, which schedules `gamma`
  (also inside a CaseOptimizer or a LossScaleOptimizer);
- ``CaseOptimizer.learning_rate`` reads the default optimizer's learning rate (else the first
  inner optimizer's) and setting it sets every inner optimizer's, exactly what Keras'
  callbacks do through ``optimizers``, so mixed precision (where Keras wraps the CaseOptimizer in
  a LossScaleOptimizer and only sees ``learning_rate``) behaves the same.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from bnnstat import _keras_compat as compat
from bnnstat import _registry
from bnnstat.utils import as_given, precision_of

__all__ = ["Bop", "CaseOptimizer", "TrainsVariables"]

Schedule = keras.optimizers.schedules.LearningRateSchedule
Predicate = Callable[[Any], bool]


def _sign_zero_positive(x: Any) -> Any:
    """sign(x) with sign(0) = +1, in the dtype of `x`."""
    return ops.where(ops.greater_equal(x, 0), ops.ones_like(x), -ops.ones_like(x))


def _is_binary_variable(var: Any) -> bool:
    """True for variables tagged with precision 1 (`bnnstat.utils.precision_of(var) == 1`).

    This is an example of a predicate that can be used by the `CaseOptimizer`.
    """
    return precision_of(var) == 1


_registry.register(_is_binary_variable, name="is_binary_variable")


class _Hyperparameters:
    """Float-or-schedule hyperparameters of an optimizer (Bop's `threshold` and `gamma`).

    A float is held in a non-trainable scalar variable (saved with the optimizer state, and
    assignable without retracing the training function); a `LearningRateSchedule` or a
    zero-argument callable is evaluated at the optimizer's iteration count on every read.
    """

    @staticmethod
    def create(optimizer: keras.optimizers.Optimizer, name: str, value: Any) -> Any:
        if isinstance(value, Schedule) or callable(value):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{type(optimizer).__name__}: `{name}` must be a float or a "
                f"keras.optimizers.schedules.LearningRateSchedule, got {value!r}"
            )
        with compat.name_scope(optimizer.name, caller=optimizer):
            variable = keras.Variable(
                float(value),
                name=name,
                dtype="float32",
                trainable=False,
                aggregation="only_first_replica",
            )
        compat.track_variable(optimizer, variable)
        return variable

    @staticmethod
    def current(optimizer: keras.optimizers.Optimizer, stored: Any) -> Any:
        if isinstance(stored, Schedule):
            return stored(optimizer.iterations)
        if isinstance(stored, keras.Variable):
            return stored
        return stored()

    @staticmethod
    def assign(optimizer: keras.optimizers.Optimizer, name: str, stored: Any, value: Any) -> Any:
        """The new stored value: a schedule replaces, a float is assigned to the variable."""
        if isinstance(value, Schedule) or callable(value):
            if isinstance(stored, keras.Variable):
                compat.untrack_variable(optimizer, stored)
            return value
        if not isinstance(stored, keras.Variable):
            raise TypeError(
                f"{type(optimizer).__name__} was created with a schedule for `{name}`, so "
                f"`{name}` cannot be set to a number; create it with a float instead."
            )
        stored.assign(ops.cast(value, stored.dtype))
        return stored

    @staticmethod
    def serialize(stored: Any) -> Any:
        if isinstance(stored, Schedule):
            return keras.optimizers.schedules.serialize(stored)
        if isinstance(stored, keras.Variable):
            # the float32 variable holds 1e-8 as 9.99999993922529e-09: save it as given
            return as_given(float(ops.convert_to_numpy(stored)))
        return keras.saving.serialize_keras_object(stored)

    @staticmethod
    def deserialize(value: Any, custom_objects: Any = None) -> Any:
        if isinstance(value, dict):
            return keras.saving.deserialize_keras_object(value, custom_objects=custom_objects)
        return value


@_registry.register
class Bop(keras.optimizers.Optimizer):
    r"""Binary optimizer (Bop), a latent-free optimizer for binary weights.

    For every variable it trains, Bop keeps an exponential moving average `m` of the gradient
    `g` and flips a weight when the average agrees in sign with the weight by more than
    `threshold`:

    \[ m \leftarrow m + \gamma\,(g - m), \qquad
       w \leftarrow \operatorname{sign}\big(-\operatorname{sign}(w\,m - \tau)\, w\big) \]

    with \(\tau\) = `threshold`, the inner sign the usual one (sign(0) = 0) and the outer one
    mapping 0 to +1. So \(w\) flips where \(w m > \tau\), keeps its sign where \(w m < \tau\), and
    becomes +1 where \(w m = \tau\). The result is always +-1, whatever `w` held before.

    `gamma` is somewhat analogous to a learning rate: a high `gamma` converges quickly but
    makes training noisy. A threshold that is too high learns little; one too low is noisy.

    Bop only targets variables that are explicitly tagged as binary (precision 1, e.g. a
    `NoOp(precision=1)` kernel quantizer) through `Bop.is_binary_variable`; use it inside a
    `CaseOptimizer` with a default optimizer for the other weights.

    Bop has no learning rate: ``learning_rate`` reads the current `gamma`; setting it (as Keras'
    learning-rate callbacks do) is ignored with a warning, so schedules meant for Adam never
    rescale `gamma`. Schedule `gamma` with `bnnstat.callbacks.HyperparameterScheduler`.

    Args:
        threshold: magnitude of the average gradient signal required to flip a weight; a float
            or a `keras.optimizers.schedules.LearningRateSchedule` (evaluated at `iterations`).
        gamma: the adaptivity rate; a float or a `LearningRateSchedule`.
        name: name of the optimizer.
        **kwargs: other Keras optimizer arguments (e.g. `clipvalue`), not `learning_rate`.

    Reference: Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural
    Network Optimization", NeurIPS 2019.
    """

    is_binary_variable = staticmethod(_is_binary_variable)

    def __init__(
        self,
        threshold: float | Schedule = 1e-8,
        gamma: float | Schedule = 1e-4,
        name: str = "Bop",
        **kwargs: Any,
    ) -> None:
        if "learning_rate" in kwargs:
            raise TypeError("Bop has no `learning_rate`; its adaptivity rate is `gamma`.")
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        # The base class made a learning-rate variable; Bop has none (see `learning_rate`).
        compat.drop_learning_rate(self)
        self._threshold = _Hyperparameters.create(self, "threshold", threshold)
        self._gamma = _Hyperparameters.create(self, "gamma", gamma)

    @compat.no_automatic_dependency_tracking
    def build(self, var_list: Sequence[Any]) -> None:
        """Create one moving average `m` (zeros) per trained variable.

        An empty `var_list` leaves the optimizer unbuilt (see `_defer_empty_build`).
        """
        if self.built or _defer_empty_build(var_list):
            return
        super().build(var_list)
        self._moving_averages = self.add_optimizer_variables(var_list, "m")

    # -- hyperparameters -----------------------------------------------------------------
    @property
    def threshold(self) -> Any:
        """Current flip threshold (a variable, or the schedule's value at `iterations`)."""
        return _Hyperparameters.current(self, self._threshold)

    @threshold.setter
    def threshold(self, value: Any) -> None:
        self._threshold = _Hyperparameters.assign(self, "threshold", self._threshold, value)

    @property
    def gamma(self) -> Any:
        """Current adaptivity rate (a variable, or the schedule's value at `iterations`)."""
        return _Hyperparameters.current(self, self._gamma)

    @gamma.setter
    def gamma(self, value: Any) -> None:
        self._gamma = _Hyperparameters.assign(self, "gamma", self._gamma, value)

    @property
    def learning_rate(self) -> Any:
        """The current `gamma` (read-only; Bop has no learning rate)."""
        return self.gamma

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if not getattr(self, "_warned_learning_rate", False):
            self._warned_learning_rate = True
            warnings.warn(
                f"Bop `{self.name}` has no learning rate; ignoring learning_rate={value!r}. Its "
                "adaptivity rate `gamma` is deliberately not reachable as `learning_rate`; "
                "schedule it with bnnstat.callbacks.HyperparameterScheduler(schedule, 'gamma').",
                stacklevel=2,
            )

    # -- update --------------------------------------------------------------------------
    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """m <- m + gamma (g - m);  w <- sign(-sign(w m - threshold) w), sign(0) = +1."""
        dtype = variable.dtype
        m = self._moving_averages[compat.variable_index(self, variable)]
        gamma = ops.cast(self.gamma, dtype)
        threshold = ops.cast(self.threshold, dtype)
        gradient = ops.cast(gradient, dtype)
        m_new = ops.add(m, ops.multiply(gamma, ops.subtract(gradient, m)))
        self.assign(m, m_new)
        w = ops.convert_to_tensor(variable)
        agreement = ops.sign(ops.subtract(ops.multiply(w, m_new), threshold))
        self.assign(variable, _sign_zero_positive(ops.multiply(ops.negative(agreement), w)))

    # -- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("learning_rate", None)
        config["threshold"] = _Hyperparameters.serialize(self._threshold)
        config["gamma"] = _Hyperparameters.serialize(self._gamma)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Bop:
        config = dict(config)
        config.pop("learning_rate", None)
        for key in ("threshold", "gamma"):
            if key in config:
                config[key] = _Hyperparameters.deserialize(config[key], custom_objects)
        return cls(**config)


@_registry.register
class CaseOptimizer(keras.optimizers.Optimizer):
    """An optimizer wrapper that applies different optimizers to subsets of the variables.

    An optimizer trains a variable iff its accompanying predicate returns True for it. At most
    one predicate may claim a variable; a variable claimed by none is trained by
    `default_optimizer`, or, when that is None, not trained at all (with a warning).

    Routing is computed in `build()` from the model's `keras.Variable`s (so predicates see their
    precision tags) and then looked up by the optimizer's own variable index, which is stable
    under `tf.function`, XLA and `MirroredStrategy`. Create the CaseOptimizer *and* its inner
    optimizers inside `strategy.scope()`.

    `learning_rate` reads the default optimizer's learning rate and sets every inner
    optimizer's (Bop ignores it: see the module docstring). `iterations` counts the
    CaseOptimizer's own steps; every inner optimizer keeps its own.

    Args:
        *predicate_optimizer_pairs: one or more ``(predicate, optimizer)`` pairs, where
            `predicate(variable) -> bool` decides whether `optimizer` trains `variable`.
        default_optimizer: the optimizer for variables that no predicate claims (keyword only).
        name: name of the optimizer.

    Raises (on `build`):
        ValueError: a variable is claimed by two optimizers (naming it and both optimizers), or
            a predicate's optimizer claims no variable.
    """

    def __init__(
        self,
        *predicate_optimizer_pairs: tuple[Predicate, keras.optimizers.Optimizer],
        default_optimizer: keras.optimizers.Optimizer | None = None,
        name: str = "optimizer_case",
    ) -> None:
        super().__init__(learning_rate=0.0, name=name)
        compat.drop_learning_rate(self)
        for i, pair in enumerate(predicate_optimizer_pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(
                    f"Expected a (predicate, optimizer) pair at `predicate_optimizer_pairs[{i}]` "
                    f"but got {pair!r}."
                )
            predicate, optimizer = pair
            if not callable(predicate):
                raise TypeError(
                    "Expected callable predicate at "
                    f"`predicate_optimizer_pairs[{i}][0]` but got `{type(predicate)}`."
                )
            if not isinstance(optimizer, keras.optimizers.Optimizer):
                raise TypeError(
                    "Expected `keras.optimizers.Optimizer` at "
                    f"`predicate_optimizer_pairs[{i}][1]` but got `{type(optimizer)}`."
                )
        if default_optimizer is not None and not isinstance(
            default_optimizer, keras.optimizers.Optimizer
        ):
            raise TypeError(
                "Expected `keras.optimizers.Optimizer` for `default_optimizer` but got "
                f"`{type(default_optimizer)}`."
            )
        if not predicate_optimizer_pairs and default_optimizer is None:
            raise ValueError(
                "CaseOptimizer needs at least one (predicate, optimizer) pair or a "
                "default_optimizer."
            )
        self.pred_opt_pairs = [tuple(pair) for pair in predicate_optimizer_pairs]
        self.default = default_optimizer
        # Inner optimizers, the default last: index k in `_routes` means `optimizers[k]`.
        self.optimizers = [opt for _, opt in self.pred_opt_pairs]
        if default_optimizer is not None:
            self.optimizers.append(default_optimizer)
        self._routes: list[int | None] = []

    # -- routing -------------------------------------------------------------------------
    def _route(self, variable: Any) -> int | None:
        """Index of the optimizer that trains `variable` (None: not trained)."""
        claims = [k for k, (predicate, _) in enumerate(self.pred_opt_pairs) if predicate(variable)]
        if len(claims) > 1:
            first, second = (self.optimizers[k] for k in claims[:2])
            raise ValueError(
                f"Variable `{_describe(variable)}` claimed by multiple optimizers: "
                f"`{first.name}` ({type(first).__name__}) and `{second.name}` "
                f"({type(second).__name__}). Each variable may be claimed by one predicate only."
            )
        if claims:
            return claims[0]
        if self.default is not None:
            return len(self.optimizers) - 1
        warnings.warn(
            f"No `default_optimizer` provided to train variable `{_describe(variable)}`.",
            stacklevel=3,
        )
        return None

    @compat.no_automatic_dependency_tracking
    def build(self, var_list: Sequence[Any]) -> None:
        """Route every variable, then build each inner optimizer on its own variables.

        An empty `var_list` leaves the optimizer unbuilt (see `_defer_empty_build`).
        """
        if self.built or _defer_empty_build(var_list):
            return
        var_list = list(var_list)
        routes = [self._route(v) for v in var_list]
        for k, (_, optimizer) in enumerate(self.pred_opt_pairs):
            if k not in routes:
                raise ValueError(
                    f"Optimizer `{optimizer.name}` ({type(optimizer).__name__}) did not claim any "
                    f"variables (its predicate returned False for all {len(var_list)} trainable "
                    "variables)."
                )
        super().build(var_list)
        self._routes = routes
        for k, optimizer in enumerate(self.optimizers):
            subset = [v for v, route in zip(var_list, routes, strict=True) if route == k]
            if subset and not optimizer.built:
                with compat.name_scope(optimizer.name, caller=optimizer):
                    optimizer.build(subset)
                optimizer.built = True

    def routes(self) -> list[tuple[Any, keras.optimizers.Optimizer | None]]:
        """`(variable, optimizer or None)` for every variable, in build order."""
        return [
            (v, None if k is None else self.optimizers[k])
            for v, k in zip(compat.built_variables(self), self._routes, strict=True)
        ]

    # -- update --------------------------------------------------------------------------
    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None) -> None:
        """Split `(gradient, variable)` pairs by route and apply each inner optimizer once."""
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be "
                    "built on a list of variables. Call `optimizer.build(trainable_variables)`."
                )
            trainable_variables = compat.built_variables(self)
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                with compat.name_scope(self.name, caller=self):
                    self.build(trainable_variables)
                self.built = True
            compat.check_variables_are_known(self, trainable_variables)
        buckets: list[tuple[list[Any], list[Any]]] = [([], []) for _ in self.optimizers]
        for grad, variable in zip(grads, trainable_variables, strict=True):
            route = self._routes[compat.variable_index(self, variable)]
            if route is not None and grad is not None:
                buckets[route][0].append(grad)
                buckets[route][1].append(variable)
        with compat.name_scope(self.name, caller=self):
            for optimizer, (bucket_grads, bucket_vars) in zip(
                self.optimizers, buckets, strict=True
            ):
                if bucket_vars:
                    optimizer.apply(bucket_grads, bucket_vars)
        self.iterations.assign_add(1)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        raise NotImplementedError("CaseOptimizer delegates every update to its inner optimizers")

    def finalize_variable_values(self, var_list: Sequence[Any]) -> None:
        for optimizer, (_, subset) in zip(self.optimizers, self._subsets(var_list), strict=True):
            if subset:
                optimizer.finalize_variable_values(subset)

    def _subsets(self, var_list: Sequence[Any]) -> list[tuple[int, list[Any]]]:
        subsets: list[tuple[int, list[Any]]] = [(k, []) for k in range(len(self.optimizers))]
        for variable in var_list:
            route = self._routes[compat.variable_index(self, variable)] if self.built else None
            if route is not None:
                subsets[route][1].append(variable)
        return subsets

    # -- state ---------------------------------------------------------------------------
    @property
    def variables(self) -> list[Any]:
        """Own variables (`iterations`) followed by every inner optimizer's variables."""
        result = list(compat.own_variables(self))
        for optimizer in self.optimizers:
            result.extend(optimizer.variables)
        return result

    def save_own_variables(self, store: Any) -> None:
        # Inner optimizers are saved as child objects (under `optimizers/`), so only our own.
        for i, variable in enumerate(compat.own_variables(self)):
            store[str(i)] = ops.convert_to_numpy(variable)

    def load_own_variables(self, store: Any) -> None:
        own = compat.own_variables(self)
        if len(store.keys()) != len(own):
            warnings.warn(
                f"Skipping variable loading for optimizer '{self.name}', because it has "
                f"{len(own)} variables whereas the saved optimizer has "
                f"{len(store.keys())} variables.",
                stacklevel=2,
            )
            return
        for i, variable in enumerate(own):
            variable.assign(store[str(i)])

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Set all state: own variables, then each inner optimizer's (the `variables` order)."""
        variables = self.variables
        if len(weights) != len(variables):
            raise ValueError(
                f"CaseOptimizer '{self.name}' has {len(variables)} variables, "
                f"got {len(weights)} values."
            )
        for variable, value in zip(variables, weights, strict=True):
            variable.assign(value)

    # -- learning rate -------------------------------------------------------------------
    @property
    def learning_rate(self) -> Any:
        """The default optimizer's learning rate (else the first inner optimizer's)."""
        source = self.default if self.default is not None else self.optimizers[0]
        return source.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        # Like Keras' callbacks with `optimizers`: every inner optimizer (Bop ignores it).
        for optimizer in self.optimizers:
            optimizer.learning_rate = value

    # -- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name,
            "predicate_optimizer_pairs": [
                {"predicate": serialize(predicate), "optimizer": serialize(optimizer)}
                for predicate, optimizer in self.pred_opt_pairs
            ],
            "default_optimizer": None if self.default is None else serialize(self.default),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> CaseOptimizer:
        """Build from our config, or from the config Larq (Keras 2) saved (`_from_larq_config`)."""
        if "optimizer_configs" in config:
            return cls._from_larq_config(config, custom_objects)

        def load(value: Any) -> Any:
            return keras.saving.deserialize_keras_object(value, custom_objects=custom_objects)

        pairs = [
            (load(item["predicate"]), load(item["optimizer"]))
            for item in config.get("predicate_optimizer_pairs", [])
        ]
        default = config.get("default_optimizer")
        return cls(
            *pairs,
            default_optimizer=None if default is None else load(default),
            name=config.get("name", "optimizer_case"),
        )

    @classmethod
    def _from_larq_config(cls, config: dict[str, Any], custom_objects: Any) -> CaseOptimizer:
        """Larq's CaseOptimizer config has no predicates: it lists the inner optimizers'
        configs (``optimizer_configs``, ``default_config``) and which optimizer trained which
        variable (``var_opt_mapping``: ``"layer/kernel_<id>"`` -> optimizer index, the default
        being the last). Each inner optimizer gets a `TrainsVariables` predicate naming its
        variables, so the routing is exactly the saved one."""

        def load(value: dict[str, Any]) -> keras.optimizers.Optimizer:
            with keras.saving.custom_object_scope(custom_objects or {}):
                return keras.optimizers.deserialize(dict(value))

        optimizers = [load(item) for item in config["optimizer_configs"]]
        default = config.get("default_config")
        owners: dict[int, list[str]] = {}
        for key, index in dict(config.get("var_opt_mapping") or {}).items():
            owners.setdefault(int(index), []).append(_strip_unique_suffix(str(key)))
        pairs = [(TrainsVariables(owners.get(k, [])), opt) for k, opt in enumerate(optimizers)]
        return cls(
            *pairs,
            default_optimizer=None if default is None else load(default),
            name=config.get("name", "optimizer_case"),
        )


@_registry.register
class TrainsVariables:
    """A `CaseOptimizer` predicate that claims the variables with the given names.

    A name is ``"layer/variable"`` (Keras 2 style, e.g. ``"conv_1/kernel"``): it matches a
    Keras 3 variable whose path ends with it. Used for models whose routing was saved as a list
    of variables (Larq files).
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = sorted(set(names))
        self._names = frozenset(self.names)

    def __call__(self, variable: Any) -> bool:
        path = str(getattr(variable, "path", None) or getattr(variable, "name", ""))
        return "/".join(path.split(":")[0].split("/")[-2:]) in self._names

    def get_config(self) -> dict[str, Any]:
        return {"names": list(self.names)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TrainsVariables:
        return cls(**config)


def _strip_unique_suffix(key: str) -> str:
    """Larq's variable key ``"conv_1/kernel_1330"`` -> ``"conv_1/kernel"``."""
    head, sep, tail = key.rpartition("_")
    return head if sep and tail.isdigit() else key


def _defer_empty_build(var_list: Sequence[Any]) -> bool:
    """True when there is nothing to build on yet.

    Keras' legacy HDF5 loader compiles a model and then builds its optimizer on the model's own
    variable list, which is empty for a Sequential or functional model, before it tries to
    restore the optimizer state. Keras' own optimizers accept that (and can then no longer
    train the model); Bop and CaseOptimizer stay unbuilt instead, so the state restore fails
    with the ValueError the loader expects (it warns and keeps a fresh optimizer), and the first
    training step builds them on the real variables.
    """
    return len(var_list) == 0


def _describe(variable: Any) -> str:
    """A variable's path (Keras 3) or name."""
    return str(getattr(variable, "path", None) or getattr(variable, "name", variable))


# Keras 2 / Larq training configs name the classes plainly.
_registry.register_alias("Bop", Bop)
_registry.register_alias("CaseOptimizer", CaseOptimizer)
