"""Where a training step's time goes: host encoding vs GPU execution, per model, with the
dispatches per step and compute passes per epoch (a profile for benchmarks/RESULTS.md, not a
benchmark). ``--before REV`` loads the package as it was at git revision REV beside this one
(as the module ``intricate_before``, on its own device) and measures both in turns, in this
process, so a noisy shared CPU weighs on both alike (A/B); ``--fit`` measures instead the
samples/s of whole fits of benchmarks/mlp.py's --quick rows (normal path: the tiny-model path
is off, so both sides run the same engine); ``--encode`` only the host µs per dispatch of a
step encoded by wgpu-native's C functions and by wgpu-py's public API.

    python benchmarks/profile_step.py [--before HEAD~1|FOLDER] [--fit | --encode] [--case NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import io
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

import intricate

CASES = [("2-3-1 b4", [2, 3, 1], 4), ("784-512-512-10 b128", [784, 512, 512, 10], 128)]
FIT_CASES = [("2-3-1 b4", [2, 3, 1], 4, 200), ("784-128-10 b128", [784, 128, 10], 128, 100),
             ("784-512-512-10 b128", [784, 512, 512, 10], 128, 100)]  # mlp.py's, steps/epoch


def load_revision(revision: str):
    """The intricate package (and its shaders) at git ``revision``, or in the folder
    ``revision`` names (holding intricate/ and shaders/: where there is no git history),
    imported as ``intricate_before``."""
    folder = Path(revision)
    if not (folder / "intricate" / "__init__.py").is_file():
        root = Path(__file__).resolve().parents[1]
        archive = subprocess.run(["git", "-C", str(root), "archive", revision, "intricate",
                                  "shaders"], check=True, capture_output=True).stdout
        folder = Path(tempfile.mkdtemp(prefix="intricate-before-"))
        tarfile.open(fileobj=io.BytesIO(archive)).extractall(folder, filter="data")
    spec = importlib.util.spec_from_file_location(
        "intricate_before", folder / "intricate" / "__init__.py",
        submodule_search_locations=[str(folder / "intricate")])
    package = importlib.util.module_from_spec(spec)
    sys.modules["intricate_before"] = package
    spec.loader.exec_module(package)
    return package


def normal_path(package) -> None:
    """Fits take Epochs' path (where the package has the one-workgroup path for tiny models)."""
    try:
        importlib.import_module(f"{package.__name__}.engine.tiny").ENABLED = False
    except ImportError:
        pass


def model_for(package, device, sizes):
    layers_module = importlib.import_module(f"{package.__name__}.layers")
    layers = []
    for ins, outs in zip(sizes, sizes[1:]):
        layers += [layers_module.Dense(ins, outs), layers_module.ReLU()]
    layers[-1] = layers_module.SoftMax() if sizes[-1] > 1 else layers_module.Sigmoid()
    return package.Model(layers, device=device, seed=0)


def data_for(sizes, samples):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, sizes[0])).astype(np.float32)
    y = (np.eye(sizes[-1])[rng.integers(0, sizes[-1], samples)] if sizes[-1] > 1 else
         rng.integers(0, 2, (samples, 1))).astype(np.float32)
    return x, y


def options_for(package, sizes, batch, optimizer, shuffle, epochs=1):
    return package.TrainingOptions(optimizer=optimizer, learning_rate=0.01, batch_size=batch,
                                   shuffle=shuffle, epochs=epochs, seed=0, verbose=0,
                                   loss_algorithm="cce" if sizes[-1] > 1 else "bce")


async def profile(package, device, sizes, batch, optimizer, shuffle, runs: int) -> dict:
    """Medians over ``runs`` epochs of 100 steps encoded (one submit: no chunk is submitted
    while encoding, so the encode time is the host's alone), submitted and waited for."""
    x, y = data_for(sizes, batch * 100)
    model = model_for(package, device, sizes)
    options = options_for(package, sizes, batch, optimizer, shuffle)
    await model.fit(x, y, options)  # compiles
    submits = importlib.import_module(f"{package.__name__}.engine.submits")
    trainer = importlib.import_module(f"{package.__name__}.engine.epochs")
    saved = submits.MAX_WORK_PER_SUBMIT, submits.DEFAULT_WORK_PER_SUBMIT
    submits.MAX_WORK_PER_SUBMIT, submits.DEFAULT_WORK_PER_SUBMIT = {}, 2**62
    try:
        return await _profile(package, device, model, x, y, options, shuffle, runs, trainer)
    finally:
        submits.MAX_WORK_PER_SUBMIT, submits.DEFAULT_WORK_PER_SUBMIT = saved


async def _profile(package, device, model, x, y, options, shuffle, runs, trainer) -> dict:
    # The engine works on the model's GPU state (private: this profile looks inside).
    epochs = await device.run(trainer.Epochs, model._state, x, y, None, options, 0, 1)
    order = np.random.default_rng(0).permutation(len(x)).astype(np.uint32)

    def run():
        if shuffle:
            package.gpu.upload(epochs.permutation, order)
        device.stats.reset()
        start = time.perf_counter()
        encoder = epochs.encode_epoch(0)
        encoded = time.perf_counter()
        staged = package.gpu.StagedRead(device, encoder, [epochs.log.view(0, (1, 8))])
        device.submit(encoder)
        submitted = time.perf_counter()
        staged.collect()
        counts = dict(device.stats)
        return (encoded - start, submitted - encoded, time.perf_counter() - submitted,
                counts["dispatches"], counts.get("passes", float("nan")))

    await device.run(run)
    results = [await device.run(run) for _ in range(runs)]
    encode, submit, wait, dispatches, passes = (np.median(column) for column in zip(*results))
    steps = len(epochs.steps)
    return {"steps": steps, "encode_us_per_step": encode / steps * 1e6,
            "submit_us": submit * 1e6, "wait_us_per_step": wait / steps * 1e6,
            "dispatches_per_step": (dispatches - 1) / steps, "passes_per_epoch": passes}


async def encode_cost(device, sizes, batch) -> dict[str, float]:
    """µs of host time per dispatch of a shuffled step (gather + training program) encoded 100
    times into one open pass: by wgpu-native's C functions, and by wgpu-py's public API (this
    package only: the handles hidden from gpu/encoding.py)."""
    from intricate.engine import epochs as trainer
    from intricate.gpu import encoding

    x, y = data_for(sizes, batch * 4)
    costs, native_handle = {}, encoding.native_handle
    for mode in ("native", "public"):
        encoding.native_handle = native_handle if mode == "native" else (lambda _: None)
        try:
            model = model_for(intricate, device, sizes)
            options = options_for(intricate, sizes, batch, "sgd", True)
            await model.fit(x, y, options)  # compiles
            epochs = await device.run(trainer.Epochs, model._state, x, y, None, options, 0, 1)
            runs = [item for program in (epochs.gathers[batch], epochs.training[batch])
                    for item in program.encoded(0) if isinstance(item, encoding.DispatchRun)]
            assert all((item.native is None) == (mode == "public") for item in runs)

            def run(runs=runs):
                times = []
                for _ in range(7):
                    encoder = encoding.Encoder(device)
                    start = time.perf_counter()
                    for _ in range(100):
                        for item in runs:
                            encoder.dispatch(item)
                    times.append(time.perf_counter() - start)
                    encoder.end_pass()  # never submitted
                return np.median(times)

            dispatches = sum(len(item.public) for item in runs)
            costs[mode] = await device.run(run) / (100 * dispatches) * 1e6
        finally:
            encoding.native_handle = native_handle
    return costs


async def samples_per_second(package, device, sizes, batch, steps, optimizer) -> float:
    """mlp.py's measure: samples/s of a fit on a resident Dataset (shuffled), whole fits."""
    samples = batch * (steps // 5)
    x, y = data_for(sizes, samples)
    model = model_for(package, device, sizes)
    data = await model.upload(x, y)
    await model.fit(data, options=options_for(package, sizes, batch, optimizer, True))
    start = time.perf_counter()
    await model.fit(data, options=options_for(package, sizes, batch, optimizer, True, 3))
    return 3 * samples / (time.perf_counter() - start)


def chosen(cases: list[tuple], part: str | None) -> list[tuple]:
    """The cases whose name contains ``part`` (all for None)."""
    return [case for case in cases if part is None or part in case[0]]


async def main(arguments) -> None:
    sides = [("after", intricate)]
    if arguments.before:
        sides.append(("before", load_revision(arguments.before)))
    devices = {}
    for side, package in sides:
        normal_path(package)
        devices[side] = await package.setup_device()
    print(f"adapter: {devices['after'].name}; before = {arguments.before or '-'}")
    if arguments.encode:
        for name, sizes, batch in chosen(CASES, arguments.case):
            costs = await encode_cost(devices["after"], sizes, batch)
            print(f"{name}: encode us/dispatch " + ", ".join(
                f"{mode} {cost:.2f}" for mode, cost in costs.items()), flush=True)
        return
    if not arguments.fit:
        print(f"{'case':>42} {'side':>6} {'steps':>5} {'encode us/step':>14} {'submit us':>10} "
              f"{'gpu wait us/step':>16} {'disp/step':>9} {'passes/ep':>9}")
    for name, sizes, batch in [] if arguments.fit else chosen(CASES, arguments.case):
        for optimizer in ("sgd", "adam"):
            for shuffle in (False, True):
                rows = {side: [] for side, _ in sides}
                for _ in range(arguments.repeats):  # interleaved: after, before, after, ...
                    for side, package in sides:
                        rows[side].append(await profile(package, devices[side], sizes, batch,
                                                        optimizer, shuffle, 3))
                for side, _ in sides:
                    row = {key: np.median([r[key] for r in rows[side]]) for key in rows[side][0]}
                    case = f"{name} {optimizer} shuffle={shuffle}"
                    print(f"{case:>42} {side:>6} {row['steps']:>5.0f} "
                          f"{row['encode_us_per_step']:>14.1f} {row['submit_us']:>10.1f} "
                          f"{row['wait_us_per_step']:>16.1f} {row['dispatches_per_step']:>9.1f} "
                          f"{row['passes_per_epoch']:>9.0f}", flush=True)
    if not arguments.fit:
        return
    print(f"{'mlp.py --quick row':>32} " + " ".join(f"{side + ' samples/s':>18}"
                                                    for side, _ in sides) + "  after/before")
    for name, sizes, batch, steps in chosen(FIT_CASES, arguments.case):
        for optimizer in ("sgd", "adam"):
            speeds = {side: [] for side, _ in sides}
            for _ in range(arguments.repeats):
                for side, package in sides:
                    speeds[side].append(await samples_per_second(
                        package, devices[side], sizes, batch, steps, optimizer))
            medians = {side: np.median(values) for side, values in speeds.items()}
            ratio = medians["after"] / medians["before"] if "before" in medians else np.nan
            print(f"{name + ' ' + optimizer:>32} " + " ".join(
                f"{medians[side]:>18,.0f}" for side, _ in sides) + f"  {ratio:>12.2f}",
                flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a git revision to compare with (e.g. HEAD~1), or a "
                        "folder holding that revision's intricate/ and shaders/")
    parser.add_argument("--fit", action="store_true", help="samples/s of whole fits instead")
    parser.add_argument("--encode", action="store_true", help="only the encoding's host µs "
                        "per dispatch, C calls vs wgpu-py's API (this package)")
    parser.add_argument("--case", help='only cases whose name holds this, e.g. "784-512"')
    parser.add_argument("--repeats", type=int, default=5, help="turns per side (medians)")
    asyncio.run(main(parser.parse_args()))
