"""Larq's `larq.models` entry points: `summary(model)`, `load_model(filepath)` and
`ModelProfile(model)` with the profile classes it is made of."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def summary(
    model: Any,
    print_fn: Callable[[str], Any] | None = None,
    include_macs: bool = True,
    target: str | None = None,
) -> Any:
    """Print Larq's two summary tables for a live Keras model and return its `ModelProfile`.

    `print_fn` receives the whole report (default: `print`). `target="lce"` adds the predicted
    Larq Compute Engine deployment view to the report (`bnnstat.inspect.analysis.analyze`
    returns it as data).
    """
    from bnnstat.inspect import keras_adapter, report
    from bnnstat.inspect.analysis import analyze
    from bnnstat.terminal import safe_names

    # names printed to a terminal: control characters escaped (see bnnstat.terminal)
    analysis = analyze(safe_names(keras_adapter.record(model)), target)
    text = report.render(analysis, "table", include_macs=include_macs)
    (print_fn or print)(text)
    return analysis.profile


def load_model(
    filepath: str | Path,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """`keras.models.load_model`, plus Keras 2 `.h5` files saved by Larq or Larq Zoo.

    Same arguments and defaults as Keras. `.keras` and Keras 3 `.h5` files load through Keras
    with bnnstat's objects registered; Keras 2 files are translated to Keras 3 layers
    (`bnnstat.loading`). With ``compile=True`` an HDF5 model is compiled from its saved training
    config and keeps its optimizer state (Keras' own HDF5 loader drops it), including a Larq
    `CaseOptimizer` with the variable routing it was trained with.

    Lambda layers hold Python code and are only deserialized with ``safe_mode=False``.

    Raises:
        bnnstat.errors.ModelLoadError: (also a `ValueError`) one line naming the file and the
            problem.
    """
    from bnnstat.loading import load_model as _load

    return _load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


# ------------------------------------------------------------------------------------------
# Larq's profile objects: `ModelProfile(model)` and the classes it is made of
# ------------------------------------------------------------------------------------------
# Same names, attributes and return values as `larq.models` (0.14); the numbers come from the
# inspector (`keras_adapter.record` -> `profile.profile`), these classes only present them.

_NOT_BUILT = (
    "This model has not yet been built. Build the model first by calling `model.build()` or "
    "calling `model.fit()` with some data, or specify an `input_shape` argument in the first "
    "layer(s) for automatic build."
)


def _format_table_entry(x: Any, units: int = 1) -> Any:
    """A table cell as Larq fills it: ``"?"`` for unknown (None, NaN, text), 0 stays 0,
    otherwise ``x / units`` (``x`` itself when `units` is 1)."""
    if x is None or isinstance(x, str) or x != x:  # x != x: NaN
        return "?"
    if x == 0 or units == 1:
        return x
    return x / units


def _normalize_shape(shape: Any) -> tuple[int, ...]:
    return tuple(dim if dim else -1 for dim in shape)


class _RecordedWeight:
    """What `WeightProfile` reads from a weight: its full name, shape and precision tag."""

    def __init__(self, name: str, shape: tuple[int, ...], precision: int) -> None:
        self.name = name
        self.shape = shape
        self.precision = precision


class WeightProfile:
    """One weight as `larq.models.WeightProfile` counts it.

    `bitwidth` is the weight's precision tag (32 without one); ``memory = bitwidth x count``
    bits, ``fp_equivalent_memory = 32 x count`` and ``int8_fp_weights_memory`` counts any
    weight wider than 8 bits as 8 bits. `is_bias()`: the weight's full name contains "bias".

    Args:
        weight: a Keras variable (or anything with `name`/`path`, `shape` and optionally
            `precision`).
        trainable: whether the weight is trained.
    """

    def __init__(self, weight: Any, trainable: bool = True) -> None:
        from bnnstat.utils import precision_of

        self._weight = weight
        self.bitwidth = precision_of(weight) or 32
        self.trainable = trainable

    @property
    def count(self) -> int:
        count = 1
        for dim in self._weight.shape:
            count *= int(dim)
        return count

    @property
    def memory(self) -> int:
        return self.bitwidth * self.count

    @property
    def fp_equivalent_memory(self) -> int:
        return 32 * self.count

    @property
    def int8_fp_weights_memory(self) -> int:
        """Memory with any weight wider than 8 bits counted as 8 bits."""
        return self.count * 8 if self.bitwidth > 8 else self.memory

    def is_bias(self) -> bool:
        return "bias" in str(getattr(self._weight, "path", None) or self._weight.name)


@dataclass
class OperationProfile:
    """`n` operations of type `op_type` (``"mac"``) at `precision` bits: the maximum of the
    input precision (32 without an input quantizer) and the weight's bit width."""

    n: int
    precision: int
    op_type: str


class LayerProfile:
    """One layer as `larq.models.LayerProfile` reports it.

    Attributes: `name`, `weight_profiles` (BatchNormalization's beta/gamma left out when they
    fuse into moving_mean/moving_variance) and `op_profiles` (one MAC record per non-bias
    weight of Dense/Conv1D/Conv2D/DepthwiseConv2D/SeparableConv1D/2D layers and their Quant
    versions: ``n = weight count x output pixels``).
    """

    def __init__(self, layer: Any) -> None:
        import dataclasses

        from bnnstat.inspect import keras_adapter, profile

        record = keras_adapter.layer_record(layer, keras_adapter._Calls(), set())
        try:  # the one output shape of a layer used in a single graph node
            output_shape = tuple(None if d is None else int(d) for d in layer.output.shape)
        except (AttributeError, ValueError, RuntimeError):
            output_shape = None
        record = dataclasses.replace(record, output_shape=output_shape)
        self._set(layer, profile.profile_layer(record))

    @classmethod
    def _of(cls, layer: Any, inspected: Any) -> LayerProfile:
        """The profile of `layer` from the inspector's profile of it."""
        layer_profile = cls.__new__(cls)
        layer_profile._set(layer, inspected)
        return layer_profile

    def _set(self, layer: Any, inspected: Any) -> None:
        self._layer = layer
        self._inspected = inspected
        self.name = inspected.name
        self.weight_profiles = [
            WeightProfile(
                _RecordedWeight(f"{inspected.name}/{w.name}", tuple(w.shape), w.bitwidth),
                trainable=w.trainable,
            )
            for w in inspected.weights
        ]
        self.op_profiles = [
            OperationProfile(n=m.n, precision=m.precision, op_type="mac")
            for m in inspected.macs or ()
        ]

    def _memory_parts(self) -> Sequence[Any]:
        """What the memory properties add up: a layer's weights (a model's layers)."""
        return self.weight_profiles

    @property
    def memory(self) -> int:
        return sum(p.memory for p in self._memory_parts())

    @property
    def int8_fp_weights_memory(self) -> int:
        return sum(p.int8_fp_weights_memory for p in self._memory_parts())

    @property
    def fp_equivalent_memory(self) -> int:
        return sum(p.fp_equivalent_memory for p in self._memory_parts())

    def weight_count(self, bitwidth: int | None = None, trainable: bool | None = None) -> int:
        """Number of weights, optionally only those of one bit width and/or trainability."""
        return sum(
            p.count
            for p in self.weight_profiles
            if (bitwidth is None or p.bitwidth == bitwidth)
            and (trainable is None or p.trainable == trainable)
        )

    def op_count(self, op_type: str | None = None, precision: int | None = None) -> int | None:
        """MACs (of one precision); None where Larq cannot count them (printed ``?``).

        Raises ValueError for any `op_type` but ``"mac"``, as Larq does.
        """
        if op_type != "mac":
            raise ValueError("Currently only counting of MAC-operations is supported.")
        if self._inspected.macs is None:
            return None
        return sum(
            op.n for op in self.op_profiles if precision is None or op.precision == precision
        )

    @property
    def input_precision(self) -> int | None:
        return self._inspected.input_precision

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        """The output shape with unknown sizes as -1; None when unknown or ambiguous."""
        shape = self._inspected.output_shape
        return None if shape is None else _normalize_shape(shape)

    @property
    def output_shape_str(self) -> str:
        return str(self.output_shape or "multiple")

    @property
    def output_pixels(self) -> int | None:
        """Pixels of one output feature map: H x W (4-D), length (3-D), 1 (2-D).

        Raises NotImplementedError for outputs of any other rank, as Larq does.
        """
        shape = self.output_shape
        if not shape:
            return None
        if len(shape) == 4:
            return shape[1] * shape[2]
        if len(shape) == 3:
            return shape[1]
        if len(shape) == 2:
            return 1
        raise NotImplementedError()

    @property
    def unique_param_bidtwidths(self) -> list[int]:
        """Sorted bit widths of the weights (Larq's spelling; `unique_param_bitwidths` too)."""
        return sorted({p.bitwidth for p in self.weight_profiles})

    @property
    def unique_param_bitwidths(self) -> list[int]:
        return self.unique_param_bidtwidths

    @property
    def unique_op_precisions(self) -> list[int]:
        return sorted({op.precision for op in self.op_profiles})

    def generate_table_row(self, table_config: Mapping[str, Any]) -> list[Any]:
        """This layer's row of `ModelProfile.generate_table` (cells unformatted)."""
        row: list[Any] = [self.name, self.input_precision or "-", self.output_shape_str]
        for bits in table_config["param_bidtwidths"]:
            row.append(_format_table_entry(self.weight_count(bits), table_config["param_units"]))
        row.append(_format_table_entry(self.memory, table_config["memory_units"]))
        for precision in table_config["mac_precisions"]:
            row.append(
                _format_table_entry(self.op_count("mac", precision), table_config["mac_units"])
            )
        return row


class ModelProfile(LayerProfile):
    """`larq.models.ModelProfile`: the profiles of a built model's layers, their totals and
    the two tables of `larq.models.summary`.

    `layer_profiles` has one entry per ``model.layers`` entry; a nested model is itself a
    `ModelProfile` (its row sums its layers' weights and MACs; its input precision is its first
    layer's and its output shape its last layer's).

    ```python
    profile = bnnstat.models.ModelProfile(model)
    profile.weight_count(bitwidth=1), profile.op_count("mac", 1), profile.memory
    print(LayersTable(profile.generate_table(), title="stats").table)
    ```

    Raises ValueError if the model is not built.
    """

    def __init__(self, model: Any) -> None:
        from bnnstat.inspect import keras_adapter, profile

        if not getattr(model, "built", False):
            raise ValueError(_NOT_BUILT)
        inspected = profile.profile(keras_adapter.record(model))
        self._set_model(model, inspected.layers)

    def _set_model(self, model: Any, inspected_layers: Sequence[Any]) -> None:
        import keras

        self._layer = model
        self.name = model.name
        layers = list(model.layers)
        if len(layers) != len(inspected_layers):  # a bug, not a user error
            raise RuntimeError(f"profile of {model.name!r} does not match its layers")
        self.layer_profiles: list[LayerProfile] = []
        for layer, inspected in zip(layers, inspected_layers, strict=True):
            if isinstance(layer, keras.Model):
                nested = ModelProfile.__new__(ModelProfile)
                nested._set_model(layer, inspected.layers)
                self.layer_profiles.append(nested)
            else:
                self.layer_profiles.append(LayerProfile._of(layer, inspected))

    def _memory_parts(self) -> Sequence[Any]:
        return self.layer_profiles

    def weight_count(self, bitwidth: int | None = None, trainable: bool | None = None) -> int:
        return sum(lp.weight_count(bitwidth, trainable) for lp in self.layer_profiles)

    def op_count(self, op_type: str | None = None, bitwidth: int | None = None) -> int:
        """Sum over the layers that have a count (a ``?`` adds 0); only ``op_type="mac"``."""
        return sum(lp.op_count(op_type, bitwidth) or 0 for lp in self.layer_profiles)

    @property
    def unique_param_bidtwidths(self) -> list[int]:
        return sorted({b for lp in self.layer_profiles for b in lp.unique_param_bidtwidths})

    @property
    def unique_op_precisions(self) -> list[int]:
        return sorted({p for lp in self.layer_profiles for p in lp.unique_op_precisions})

    @property
    def input_precision(self) -> int | None:
        return self.layer_profiles[0].input_precision

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.layer_profiles[-1].output_shape

    def _generate_table_header(self, table_config: Mapping[str, Any]) -> list[str]:
        from bnnstat.inspect.report import BITS_PER_KB

        units = table_config["memory_units"]
        unit_name = {8: "byte", BITS_PER_KB: "kB"}.get(units)
        if unit_name is None:
            raise NotImplementedError()
        return [
            "Layer",
            "Input prec.\n(bit)",
            "Outputs",
            *(
                f"# {bits}-bit\nx {table_config['param_units']}"
                for bits in table_config["param_bidtwidths"]
            ),
            f"Memory\n({unit_name})",
            *(f"{precision}-bit MACs" for precision in table_config["mac_precisions"]),
        ]

    def _generate_table_total(self, table_config: Mapping[str, Any]) -> list[Any]:
        row: list[Any] = ["Total", "", ""]
        for bits in table_config["param_bidtwidths"]:
            row.append(_format_table_entry(self.weight_count(bits), table_config["param_units"]))
        row.append(_format_table_entry(self.memory, table_config["memory_units"]))
        for precision in table_config["mac_precisions"]:
            row.append(
                _format_table_entry(self.op_count("mac", precision), table_config["mac_units"])
            )
        return row

    def generate_table(self, include_macs: bool = True) -> list[list[Any]]:
        """Larq's layer table: header, one row per layer, the Total row (cells unformatted:
        ints, floats (kB) and ``"?"``; `sanitize_table` turns them into text)."""
        from bnnstat.inspect.report import BITS_PER_KB

        table_config = {
            "param_bidtwidths": self.unique_param_bidtwidths,
            "mac_precisions": self.unique_op_precisions if include_macs else [],
            "param_units": 1,
            "memory_units": BITS_PER_KB,
            "mac_units": 1,
        }
        return [
            self._generate_table_header(table_config),
            *(lp.generate_table_row(table_config) for lp in self.layer_profiles),
            self._generate_table_total(table_config),
        ]

    def generate_summary(self, include_macs: bool = True) -> list[list[Any]]:
        """Larq's summary table as [label, value] rows: parameter counts, sizes, the
        compression ratio (memory / float-32 memory, a float) and, with `include_macs`, the
        MAC count and the binarized / ternarized MAC ratios when above 0."""
        from bnnstat.inspect.report import readable_number
        from bnnstat.utils import memory_as_readable_str

        summary: list[list[Any]] = [
            ["Total params", readable_number(self.weight_count())],
            ["Trainable params", readable_number(self.weight_count(trainable=True))],
            ["Non-trainable params", readable_number(self.weight_count(trainable=False))],
            ["Model size", memory_as_readable_str(self.memory)],
            ["Model size (8-bit FP weights)", memory_as_readable_str(self.int8_fp_weights_memory)],
            ["Float-32 Equivalent", memory_as_readable_str(self.fp_equivalent_memory)],
            ["Compression Ratio of Memory", self.memory / max(1e-8, self.fp_equivalent_memory)],
        ]
        if include_macs:
            macs = self.op_count(op_type="mac")
            binarized = self.op_count("mac", 1) / max(1, macs)
            ternarized = self.op_count("mac", 2) / max(1, macs)
            summary.append(["Number of MACs", readable_number(macs)])
            if binarized > 0:
                summary.append(["Ratio of MACs that are binarized", f"{binarized:.4f}"])
            if ternarized > 0:
                summary.append(["Ratio of MACs that are ternarized", f"{ternarized:.4f}"])
        return summary


def sanitize_table(table_data: Sequence[Sequence[Any]]) -> list[list[str]]:
    """Every cell as text: floats with 2 decimals, anything else through `str`."""
    return [[f"{v:.2f}" if type(v) is float else str(v) for v in row] for row in table_data]


class LayersTable:
    """Larq's layer table as text (`.table`): a box with a title, header and Total rules,
    the first column left-aligned and the others right-aligned."""

    def __init__(self, table_data: Sequence[Sequence[Any]], title: str | None = None) -> None:
        self.table_data = sanitize_table(table_data)
        self.title = title

    @property
    def table(self) -> str:
        from bnnstat.inspect.report import box

        columns = len(self.table_data[0]) if self.table_data else 0
        return box(
            self.table_data,
            title=self.title,
            align=["left"] + ["right"] * (columns - 1),
            heading_border=True,
            footing_border=True,
        )


class SummaryTable:
    """Larq's summary table as text (`.table`): a titled box of left-aligned label/value rows."""

    def __init__(self, table_data: Sequence[Sequence[Any]], title: str | None = None) -> None:
        self.table_data = sanitize_table(table_data)
        self.title = title

    @property
    def table(self) -> str:
        from bnnstat.inspect.report import box

        return box(self.table_data, title=self.title)


def __getattr__(name: str) -> Any:
    """Larq's `mac_containing_layers` / `op_count_supported_layer_types`: tuples of layer
    classes, built on first access so that importing this module never imports Keras (and
    `memory_as_readable_str`, which Larq's module also exposes)."""
    if name == "memory_as_readable_str":
        from bnnstat.utils import memory_as_readable_str

        return memory_as_readable_str
    if name not in ("mac_containing_layers", "op_count_supported_layer_types"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import keras

    from bnnstat import layers
    from bnnstat.inspect.catalog import LAYER_KINDS

    rules = ("weights",) if name == "mac_containing_layers" else ("weights", "zero")
    names = [kind.name for kind in LAYER_KINDS.values() if kind.larq_macs in rules]
    classes = {
        getattr(module, class_name)
        for module in (layers, keras.layers)
        for base in names
        for class_name in (base, f"Quant{base}")
        if isinstance(getattr(module, class_name, None), type)
    }
    return tuple(sorted(classes, key=lambda cls: (cls.__module__, cls.__name__)))
