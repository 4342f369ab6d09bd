"""Sweeps that find the converter's limits: many one-layer probes that differ in one factor.

NOT run by CI or the tests. Needs the oracle virtualenv (`benchmarks/lce_oracle/setup.sh`):

    benchmarks/lce_oracle/.venv/bin/python benchmarks/lce_oracle/make_sweeps.py [GRID|SPEC ...]

A probe is named by its spec, `KIND_CIN_COUT[_OPTION-VALUE ...]`, for example
`conv3_1024_4096_kq-xnor` or `conv3_64_64_groups-2_dil-2`:

- KIND: `dense` (QuantDense on a vector of CIN), `conv1` / `conv3` (1x1 / 3x3 QuantConv2D,
  padding "same", on a 2x2 / 4x4 input with CIN channels);
- `kq-Q` kernel quantizer, `iq-Q` input quantizer, Q one of QUANTIZERS: `sign` (`ste_sign`, the
  default for both), `xnor` (Larq Zoo's `xnor_weight_scale`), `magnitude`
  (`magnitude_aware_sign`), `dorefa` (`DoReFa(k_bit=2, mode="weights")`), `noop1`
  (`NoOp(precision=1)`), `none` (no quantizer);
- `groups-G`, `dil-D`, `stride-S`, `pad-P` (pad_values), `valid` (padding "valid"),
  `hw-N` (input height and width), `bias` (use_bias=True).

GRIDS below list the specs of each sweep; each spec gets an entry in
`tests/data/lce/sweeps.json` (as `make_probes.measure` writes one: `.tflite` size or how the
conversion failed, ops with constants) and a shape-only copy `tests/data/lce/sweeps/SPEC.h5`.
Weights are seeded random (trained-like). The entry's `split` is `heldout` for the specs of
the `heldout` grid: no rule of `bnnstat.inspect.lce` was fitted on them.

Specs already measured are skipped (delete the entry to redo it). Before converting, an entry
saying the process aborted is written, so a converter crash leaves its trace; run the script
again to go on with the rest.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent.parent / "tests" / "data" / "lce"
RESULTS = OUT / "sweeps.json"

QUANTIZERS = ("sign", "xnor", "magnitude", "dorefa", "noop1", "none")
KINDS = ("dense", "conv1", "conv3")
_9216x4096 = 9216 * 4096


def _size_specs() -> list[str]:
    """Kernel element counts around 2^24, 2^25, 9216x4096 and 2^26, per layer kind."""
    specs = []
    for c_in in (4096, 6144, 7168, 8192, 9216, 16384):  # x 4096: 2^24 .. 2^26
        specs += [f"dense_{c_in}_4096", f"conv1_{c_in}_4096"]
    for c_in in (448, 768, 896, 912, 1024, 1824):  # x 9 x 4096: 2^23.8 .. 2^26
        specs.append(f"conv3_{c_in}_4096")
    return specs


def _quantizer_specs() -> list[str]:
    """Every kernel quantizer x input quantizer, below 2^24 and at 9216x4096, per kind."""
    specs = []
    for kq in QUANTIZERS[:-1]:
        for iq in ("sign", "none"):
            tail = f"_kq-{kq}_iq-{iq}"
            specs += [f"conv1_9216_4096{tail}", f"conv3_1024_4096{tail}",
                      f"conv1_2048_2048{tail}", f"conv3_256_1024{tail}"]
            if kq != "xnor":  # Larq Zoo's xnor_weight_scale reduces over 3 axes: convs only
                specs += [f"dense_9216_4096{tail}", f"dense_2048_2048{tail}"]
    return specs


def _packed_conv_specs() -> list[str]:
    """Packed 3x3 convs: channels per group, dilation, strides, pad_values, C_in % 32."""
    specs = []
    for c_in, groups in ((64, 2), (128, 4), (96, 3), (256, 8), (128, 2), (64, 4), (48, 3)):
        specs.append(f"conv3_{c_in}_{c_in}_groups-{groups}")
    for dil in (2, 3, 4):
        specs.append(f"conv3_64_64_dil-{dil}_hw-9")
    for stride in (2, 3):
        specs += [f"conv3_64_64_stride-{stride}_hw-9", f"conv3_64_64_stride-{stride}_valid_hw-9"]
    for pad in (0, 1):
        specs += [f"conv3_64_64_pad-{pad}", f"conv3_64_64_pad-{pad}_valid"]
    specs.append("conv3_64_64_pad-0.5")
    for c_in in (1, 3, 8, 16, 31, 33, 63, 65, 100, 127, 200):
        specs.append(f"conv3_{c_in}_64")
    for c_out in (1, 8, 33, 100):
        specs.append(f"conv3_64_{c_out}")
    for c_in in (3, 31, 65):
        specs.append(f"conv1_{c_in}_64")
    return specs


def _heldout_specs() -> list[str]:
    """Combinations no rule was fitted on: checked only after the rules were written."""
    return [
        "conv3_96_80_groups-2_dil-2_hw-9",
        "conv3_72_40_stride-2_hw-9",
        "conv3_160_80_groups-5_pad-0",
        "conv1_100_200_stride-2_hw-6",
        "conv3_40_40_kq-xnor_valid_hw-6",
        "conv3_128_64_kq-magnitude_dil-2_hw-9",
        "conv3_64_64_kq-dorefa",
        "conv3_64_64_kq-noop1_iq-none",
        "conv1_3072_4096",
        "conv1_5120_4096_kq-xnor",
        "conv3_1000_4096_kq-xnor",
        "conv1_12288_4096_kq-magnitude",
        "dense_12288_2048_iq-none",
        "conv3_2000_1024_kq-noop1",
        "dense_300_100_kq-dorefa_iq-none",
        "conv3_200_300_bias",
    ]


GRIDS = {
    "size": _size_specs,
    "quantizer": _quantizer_specs,
    "packed": _packed_conv_specs,
    "heldout": _heldout_specs,
}


def parse(spec: str) -> dict:
    kind, c_in, c_out, *options = spec.split("_")
    parsed: dict = {"kind": kind, "c_in": int(c_in), "c_out": int(c_out),
                    "kq": "sign", "iq": "sign", "groups": 1, "dil": 1, "stride": 1,
                    "pad": 1.0, "padding": "same", "hw": None, "bias": False}
    if kind not in KINDS:
        raise ValueError(f"{spec}: unknown kind {kind}")
    for option in options:
        key, _, value = option.partition("-")
        if key in ("kq", "iq"):
            if value not in QUANTIZERS:
                raise ValueError(f"{spec}: unknown quantizer {value}")
            parsed[key] = value
        elif key in ("groups", "dil", "stride", "hw"):
            parsed[key] = int(value)
        elif key == "pad":
            parsed[key] = float(value)
        elif key == "valid":
            parsed["padding"] = "valid"
        elif key == "bias":
            parsed["bias"] = True
        else:
            raise ValueError(f"{spec}: unknown option {option}")
    return parsed


def quantizer(name: str):
    import larq as lq

    if name == "none":
        return None
    if name == "xnor":
        from larq_zoo.literature.xnornet import xnor_weight_scale

        return xnor_weight_scale
    if name == "magnitude":
        return "magnitude_aware_sign"
    if name == "dorefa":
        return lq.quantizers.DoReFa(k_bit=2, mode="weights")
    if name == "noop1":
        return lq.quantizers.NoOp(precision=1)
    return "ste_sign"


def build(spec: str):
    import larq as lq
    import tensorflow as tf

    p = parse(spec)
    common = dict(input_quantizer=quantizer(p["iq"]), kernel_quantizer=quantizer(p["kq"]),
                  kernel_constraint="weight_clip", use_bias=p["bias"])
    if p["kind"] == "dense":
        inputs = tf.keras.Input((p["c_in"],))
        layer = lq.layers.QuantDense(p["c_out"], **common)
    else:
        size = 1 if p["kind"] == "conv1" else 3
        hw = p["hw"] or (2 if size == 1 else 4)
        inputs = tf.keras.Input((hw, hw, p["c_in"]))
        layer = lq.layers.QuantConv2D(
            p["c_out"], size, strides=p["stride"], dilation_rate=p["dil"], groups=p["groups"],
            padding=p["padding"], pad_values=p["pad"], **common,
        )
    return tf.keras.Model(inputs, layer(inputs), name=spec.replace("-", "").replace(".", "p"))


def kernel_elements(spec: str) -> int:
    p = parse(spec)
    size = {"dense": 1, "conv1": 1, "conv3": 9}[p["kind"]]
    return size * p["c_in"] // p["groups"] * p["c_out"]


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {"probes": {}}


def save(results: dict) -> None:
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def measure(spec: str, grid: str, results: dict) -> dict:
    import larq_compute_engine as lce
    import tensorflow as tf
    from make_probes import analyse, copy_shape_only, randomize

    tf.keras.backend.clear_session()
    model = build(spec)
    randomize(model, seed=sum(map(ord, spec)))
    entry: dict = {"grid": grid, "split": "heldout" if grid == "heldout" else "fit",
                   "file": f"sweeps/{spec}.h5", "params": int(model.count_params()),
                   "kernel_elements": kernel_elements(spec)}
    (OUT / "sweeps").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        full = Path(scratch) / "model.h5"
        model.save(full, save_format="h5", include_optimizer=False)
        entry["full_h5_bytes"] = full.stat().st_size
        copy_shape_only(full, OUT / entry["file"])
    results["probes"][spec] = dict(
        entry, converted=False, error="the converter aborted the process (no Python exception)"
    )
    save(results)
    started = time.perf_counter()
    try:
        flatbuffer = lce.convert_keras_model(model)
    except Exception as error:  # the converter's failure is a measured fact too
        entry.update(converted=False, error=f"{type(error).__name__}: {str(error)[:300]}")
    else:
        entry.update(converted=True, tflite_bytes=len(flatbuffer), **analyse(flatbuffer))
    entry["convert_seconds"] = round(time.perf_counter() - started, 1)
    return entry


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    jobs: list[tuple[str, str]] = []
    for arg in argv or list(GRIDS):
        if arg in GRIDS:
            jobs += [(spec, arg) for spec in GRIDS[arg]()]
        else:
            parse(arg)
            jobs.append((arg, "bisect"))
    results = load()
    results["versions"] = {"larq": "0.14.0", "larq_compute_engine": "0.16.0",
                           "tensorflow": "2.15.1", "larq_zoo": "2.4.0"}
    # Cheap probes first: a crash on a huge kernel then costs nothing already queued.
    jobs.sort(key=lambda job: kernel_elements(job[0]))
    for spec, grid in jobs:
        if spec in results["probes"]:
            continue
        print(f"--- {spec} ({grid}, {kernel_elements(spec)} kernel elements)", flush=True)
        entry = measure(spec, grid, results)
        print({k: v for k, v in entry.items() if k != "ops"}, flush=True)
        results["probes"][spec] = entry
        save(results)


if __name__ == "__main__":
    main(sys.argv[1:])
