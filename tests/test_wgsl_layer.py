"""WGSLLayer (issue 13 part 4): layers written in WGSL train in fit like built-ins (same GPU work
counted per epoch), pass check_gradients (and a wrong backward fails it), save and load with
allow_code=True only, and bad declarations are refused before any GPU work."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from intricate import Model, ModelFileError, ShaderError, TrainingOptions
from intricate.initializers import Constant
from intricate.io import files
from intricate.kernels.gradients import check_gradients
from intricate.layers import Dense, Layer, SoftMax, TanH, WGSLLayer

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float32)
ENTRY = ("@compute @workgroup_size(workgroup_size)\nfn {name}(@builtin(workgroup_id) group: "
         "vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,\n    "
         "@builtin(local_invocation_index) lane: u32) {{\n"
         "    let i = invocation(group, groups, lane);\n"
         "    if (i >= params.count) {{ return; }}\n")
GRID = '\noverride workgroup_size: u32 = 64;\n{% include "gpu/grid.wgsl" %}\n'

# squareplus (Barron 2021): o = (x + sqrt(x² + 4)) / 2, a smooth ReLU.
SQUAREPLUS = """
@group(0) @binding(0) var<storage, read> inputs: array<f32>;
@group(0) @binding(1) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(2) var<storage, read> grad_outputs: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_inputs: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
struct Params { count: u32 }
""" + ENTRY.format(name="forward") + """
    let x = inputs[i];
    outputs[i] = 0.5 * (x + sqrt(x * x + 4.0));
}
""" + ENTRY.format(name="backward") + """
    let x = inputs[i];
    grad_inputs[i] = grad_outputs[i] * 0.5 * (1.0 + x / sqrt(x * x + 4.0));
}
""" + GRID

# o = x · scale + bias per feature; one backward entry: invocation j < width also sums column j.
SCALE_BIAS = """
@group(0) @binding(0) var<storage, read> inputs: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(4) var<storage, read> grad_outputs: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_inputs: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_scale: array<f32>;
@group(0) @binding(7) var<storage, read_write> grad_bias: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
struct Params { rows: u32, input_size: u32, count: u32 }
""" + ENTRY.format(name="forward") + """
    let j = i % params.input_size;
    outputs[i] = inputs[i] * scale[j] + bias[j];
}
""" + ENTRY.format(name="backward") + """
    let j = i % params.input_size;
    grad_inputs[i] = grad_outputs[i] * scale[j];
    if (i < params.input_size) {
        var dscale = 0.0;
        var dbias = 0.0;
        for (var row = 0u; row < params.rows; row++) {
            let at = row * params.input_size + i;
            dscale += grad_outputs[at] * inputs[at];
            dbias += grad_outputs[at];
        }
        grad_scale[i] = dscale;
        grad_bias[i] = dbias;
    }
}
""" + GRID

# outputs = inputs @ kernel + bias (Keras layout, as Dense); two backward entries, each with
# its own grid: the parameter gradients (one invocation per kernel element), then dE/dI.
DENSE = """
@group(0) @binding(0) var<storage, read> inputs: array<f32>;
@group(0) @binding(1) var<storage, read> kernel: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(4) var<storage, read> grad_outputs: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_inputs: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_kernel: array<f32>;
@group(0) @binding(7) var<storage, read_write> grad_bias: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
struct Params { rows: u32, input_size: u32, output_size: u32, count: u32 }
""" + ENTRY.format(name="forward") + """
    let row = i / params.output_size;
    let column = i % params.output_size;
    var sum = bias[column];
    for (var k = 0u; k < params.input_size; k++) {
        sum += inputs[row * params.input_size + k] * kernel[k * params.output_size + column];
    }
    outputs[i] = sum;
}
""" + ENTRY.format(name="backward_parameters") + """
    let k = i / params.output_size;
    let column = i % params.output_size;
    var sum = 0.0;
    for (var row = 0u; row < params.rows; row++) {
        let at = row * params.output_size + column;
        sum += inputs[row * params.input_size + k] * grad_outputs[at];
    }
    grad_kernel[i] = sum;
    if (i < params.output_size) {
        var total = 0.0;
        for (var row = 0u; row < params.rows; row++) {
            total += grad_outputs[row * params.output_size + i];
        }
        grad_bias[i] = total;
    }
}
""" + ENTRY.format(name="backward_inputs") + """
    let row = i / params.input_size;
    let k = i % params.input_size;
    var sum = 0.0;
    for (var column = 0u; column < params.output_size; column++) {
        let at = row * params.output_size + column;
        sum += grad_outputs[at] * kernel[k * params.output_size + column];
    }
    grad_inputs[i] = sum;
}
""" + GRID


def squareplus() -> WGSLLayer:
    return WGSLLayer(SQUAREPLUS, origin="squareplus.wgsl")


def scale_bias(width: int, source: str = SCALE_BIAS) -> WGSLLayer:
    return WGSLLayer(source, parameters={"scale": width, "bias": width},
                     initializers={"scale": "glorot_uniform", "bias": "normal"})


def wgsl_dense(inputs: int, outputs: int) -> WGSLLayer:
    return WGSLLayer(DENSE, backward=["backward_parameters", "backward_inputs"],
                     parameters={"kernel": (inputs, outputs), "bias": outputs},
                     input_size=inputs, output_size=outputs, origin="dense.wgsl")


async def test_a_wgsl_activation_trains_xor_and_passes_check_gradients(device):
    model = Model([Dense(2, 3), squareplus(), Dense(3, 1), TanH()], device=device, seed=0)
    history = await model.fit(XOR_X, XOR_Y, TrainingOptions(learning_rate=0.1, epochs=2000))
    assert history.loss[-1] < 0.01
    assert np.array_equal(np.round(await model.predict(XOR_X)), XOR_Y)
    assert await model.evaluate(XOR_X, XOR_Y) == pytest.approx(history.loss[-1], rel=0.05)
    hidden = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32) * 3
    report = await check_gradients(model.layers[1], hidden)
    assert report.passed, str(report)
    assert report["grad_inputs"].size == 12 and "passed" in str(report)


async def test_a_wgsl_dense_trains_as_the_built_in_one(device):
    """Same initial weights (glorot kernel, zero bias, drawn in the same order): the WGSL dense
    layers follow the built-in ones step for step, and XoR converges."""
    wgsl = Model([wgsl_dense(2, 3), TanH(), wgsl_dense(3, 1), TanH()], device=device, seed=0)
    built_in = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], device=device, seed=0)
    for a, b in zip(wgsl.get_weights(), built_in.get_weights()):
        assert np.array_equal(a, b)
    options = TrainingOptions(optimizer="adam", learning_rate=0.05, epochs=300)
    ours, theirs = await wgsl.fit(XOR_X, XOR_Y, options), await built_in.fit(XOR_X, XOR_Y, options)
    np.testing.assert_allclose(ours.loss, theirs.loss, rtol=1e-3)
    for a, b in zip(wgsl.get_weights(), built_in.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    assert ours.loss[-1] < 0.01
    x = np.random.default_rng(1).standard_normal((5, 2)).astype(np.float32)
    report = await check_gradients(wgsl.layers[0], x)
    assert report.passed, str(report)
    assert [check.name for check in report.outputs] == ["grad_inputs", "grad_kernel", "grad_bias"]
    for layer in (built_in.layers[0], TanH(), SoftMax()):  # built-in layers too
        report = await check_gradients(layer, x, device=device)
        assert report.passed and report.outputs[0].size == 10, str(report)


async def test_check_gradients_batches_its_forwards_into_few_submits(device, rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    device.stats.reset()
    report = await check_gradients(squareplus(), x, device=device)
    assert report.passed, str(report)
    # 15 elements perturbed both ways, one forward each; plus the analytic forward + backward.
    assert device.stats["dispatches"] == 2 * 15 + 2
    assert device.stats["submits"] == 2 and device.stats["readbacks"] == 2
    layer = scale_bias(50)
    report = await check_gradients(layer, rng.standard_normal((40, 50)), samples=16,
                                   device=device)
    assert report.passed, str(report)
    assert [check.size for check in report.outputs] == [16, 16, 16]


async def test_a_wrong_backward_fails_naming_the_worst_index(device, rng):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    # dE/dscale without its factor x: wrong everywhere; dE/dI and dE/dbias stay right.
    wrong = SCALE_BIAS.replace("grad_outputs[at] * inputs[at]", "grad_outputs[at]")
    report = await check_gradients(scale_bias(4, wrong), x, device=device)
    assert not report.passed
    assert report["grad_inputs"].passed and report["grad_bias"].passed
    bad = report["grad_scale"]
    assert not bad.passed and bad.max_rel_error > 0.1 and len(bad.worst_index) == 1
    assert f"worst at [{bad.worst_index[0]}]" in str(report) and "FAILED" in str(report)
    # A gradient added to instead of written is caught as unwritten.
    adding = SCALE_BIAS.replace("grad_bias[i] = dbias", "grad_bias[i] += dbias")
    report = await check_gradients(scale_bias(4, adding), x, device=device)
    assert not report.passed and report.unwritten == {"grad_inputs": 0, "grad_scale": 0,
                                                     "grad_bias": 4}
    assert "grad_bias: 4 elements unwritten" in str(report)
    # A derivative off by 10% in one activation.
    off = WGSLLayer(SQUAREPLUS.replace("0.5 * (1.0 + x", "0.55 * (1.0 + x"))
    report = await check_gradients(off, x, device=device)
    assert not report.passed and report["grad_inputs"].max_rel_error > 0.05


async def test_a_layer_with_parameters_trains_xor_in_fit(device):
    model = Model([Dense(2, 3), scale_bias(3), TanH(), Dense(3, 1), TanH()], device=device,
                  seed=0)
    history = await model.fit(XOR_X, XOR_Y, TrainingOptions(learning_rate=0.1, epochs=2000))
    assert history.loss[-1] < 0.01
    report = await check_gradients(model.layers[1], np.random.default_rng(2).standard_normal(
        (5, 3)))
    assert report.passed, str(report)


async def test_gpu_work_per_epoch_equals_a_built_in_model(device):
    """SoftMax is a built-in layer with one forward and one backward dispatch that nothing fuses
    with: the squareplus layer in its place, or a WGSL dense in the first Dense's (its dE/dI
    entry skipped, as the built-in skips its dX GEMM), does exactly the same GPU work."""
    models = {"built-in": [Dense(2, 4), SoftMax(), Dense(4, 1)],
              "activation": [Dense(2, 4), squareplus(), Dense(4, 1)],
              "dense": [wgsl_dense(2, 4), SoftMax(), Dense(4, 1)]}
    counts = {}
    for name, layers in models.items():
        model = Model(layers, device=device, seed=0)
        await model.predict(XOR_X)  # on the device first: parameters uploaded
        device.stats.reset()
        await model.fit(XOR_X, XOR_Y, TrainingOptions(epochs=3, batch_size=2))
        counts[name] = {key: device.stats[key]
                        for key in ("dispatches", "submits", "readbacks", "uploads")}
    assert counts["activation"] == counts["built-in"] == counts["dense"], counts
    assert counts["built-in"]["submits"] == 3  # one per epoch


async def test_save_and_load_need_allow_code(device, tmp_path):
    model = Model([wgsl_dense(2, 3), squareplus(), Dense(3, 1)], device=device, seed=0)
    await model.fit(XOR_X, XOR_Y, TrainingOptions(epochs=5))
    path = tmp_path / "wgsl.safetensors"
    model.save(str(path))
    with pytest.raises(ModelFileError, match="allow_code=True"):
        Model.load(str(path))
    with pytest.raises(ModelFileError, match=r"layers\[0\] is a WGSLLayer, which carries WGSL"):
        await Model.load_async(str(path), device=device)
    loaded = Model.load(str(path), device=device, allow_code=True)
    assert np.array_equal(await loaded.predict(XOR_X), await model.predict(XOR_X))
    again = await Model.load_async(str(path), device=device, allow_code=True)
    assert again.layers[0].settings() == model.layers[0].settings()
    assert "dense.wgsl" in repr(again.layers[0])
    with pytest.raises(ValueError, match="layout='torch'.*carries WGSL code"):
        model.save(str(tmp_path / "torch.safetensors"), layout="torch")
    # One layer's file: from_file and load into a layer of the same WGSL.
    layer_path = str(tmp_path / "layer.safetensors")
    model.layers[0].save(layer_path)
    with pytest.raises(ModelFileError, match="layer is a WGSLLayer.*allow_code=True"):
        Layer.from_file(layer_path)
    restored = Layer.from_file(layer_path, allow_code=True)
    assert [w.tolist() for w in restored.host_weights] == [
        w.tolist() for w in model.layers[0].current_weights()]
    blank = wgsl_dense(2, 3)
    with pytest.raises(ModelFileError, match="allow_code"):
        blank.load(layer_path)
    blank.load(layer_path, allow_code=True)
    assert np.array_equal(blank.host_weights[0], restored.host_weights[0])
    other = WGSLLayer(DENSE.replace("var sum = bias[column];", "var sum = 2.0 * bias[column];"),
                      backward=["backward_parameters", "backward_inputs"],
                      parameters={"kernel": (2, 3), "bias": 3}, input_size=2, output_size=3)
    with pytest.raises(ModelFileError, match="'source': 'sha256:[0-9a-f]{16}'") as refused:
        other.load(layer_path, allow_code=True)
    assert "fn forward" not in str(refused.value)  # names the difference, not the WGSL


def _tamper(source: str, target: str, edit) -> None:
    tensors, metadata = files.read(source)
    config = json.loads(metadata["config"])
    edit(config["layers"][0]["config"])
    metadata["config"] = json.dumps(config)
    files.write_atomically(target, files.encode(tensors, metadata))


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(source=c["source"].replace("fn backward_inputs", "fn other")),
     "backward entry 'backward_inputs' not found"),
    (lambda c: c.update(source=c["source"].replace("var<storage, read> kernel",
                                                   "var<storage, read_write> kernel")),
     "kernel is var<storage, read_write>, expected var<storage, read>"),
    (lambda c: c.update(source=42), "source: expected WGSL text"),
    (lambda c: c.update(parameters={"kernel": [3, 2], "bias": [3]}),
     r"tensor 'layers.0.kernel' is float32 \(2, 3\), but the config needs float32 \(3, 2\)"),
], ids=["entry renamed", "access changed", "source not text", "shapes changed"])
async def test_a_tampered_file_is_refused_clearly(device, tmp_path, edit, message):
    model = Model([wgsl_dense(2, 3), TanH()], device=device, seed=0)
    path, tampered = str(tmp_path / "good.safetensors"), str(tmp_path / "bad.safetensors")
    model.save(path)
    _tamper(path, tampered, edit)
    device.stats.reset()
    with pytest.raises(ModelFileError, match=message):
        Model.load(tampered, device=device, allow_code=True)
    assert device.stats["dispatches"] == device.stats["submits"] == 0


BAD = [
    (dict(forward="forwards"), "forward entry 'forwards' not found; the @compute entry points "
                               r"are \['forward', 'backward'\]"),
    (dict(source=SCALE_BIAS, parameters={"scale": 3}),
     r"forward entry 'forward' does not follow the layer convention: bias \(storage\) is not "
     "part of the convention"),
    (dict(source=SQUAREPLUS.replace("read> inputs", "read_write> inputs")),
     "inputs is var<storage, read_write>, expected var<storage, read>"),
    (dict(source=SQUAREPLUS.replace("read> grad_outputs: array<f32>",
                                    "read> grad_outputs: array<u32>")),
     "grad_outputs is array<u32>, expected array<f32>"),
    (dict(source=SQUAREPLUS.replace("{ count: u32 }", "{ count: u32, alpha: f32 }")),
     r"Params field alpha: f32, expected one of \['rows', 'input_size', 'output_size', 'count'\]"),
    (dict(source=SQUAREPLUS.replace("@group(0) @binding(3)", "@group(1) @binding(3)")),
     r"grad_inputs is in @group\(1\)"),
    (dict(source=SQUAREPLUS.replace("@workgroup_size(workgroup_size)\nfn backward",
                                    "@workgroup_size(8, 8)\nfn backward")),
     r"@workgroup_size\(8, 8, 1\), expected a 1-D workgroup"),
    (dict(source=SCALE_BIAS.replace("grad_scale[i] = dscale;", ""),
          parameters={"scale": 3, "bias": 3}),
     r"no backward entry of \['backward'\] writes \['grad_scale'\]"),
    (dict(parameters={"outputs": 3}), "'outputs' can't name a parameter"),
    (dict(parameters={"scale": (3, 0)}), r"parameters\['scale'\]: expected a positive integer"),
    (dict(initializers={"scael": "zeros"}), r"initializers: \['scael'\] name no parameter"),
    (dict(backward="forward"), "each used once"),
    (dict(source="   "), "source: expected WGSL text"),
    (dict(source=SQUAREPLUS + "{% if %}"), "source: .*template"),
]


@pytest.mark.parametrize("arguments, message", BAD, ids=[m[:30] for _, m in BAD])
async def test_bad_declarations_are_refused_before_any_gpu_work(device, arguments, message):
    device.stats.reset()
    arguments = {"source": SQUAREPLUS, **arguments}
    with pytest.raises(ValueError, match=message):
        WGSLLayer(**arguments)
    assert device.stats["dispatches"] == device.stats["submits"] == device.stats["uploads"] == 0


async def test_a_compile_error_surfaces_before_any_dispatch(device):
    broken = WGSLLayer(SQUAREPLUS.replace("outputs[i] = 0.5 *", "outputs[i] = 0.5 +* "))
    model = Model([Dense(2, 2), broken], device=device, seed=0)
    device.stats.reset()
    with pytest.raises(ShaderError, match="<source>"):
        await model.fit(XOR_X, np.ones((4, 2), np.float32), TrainingOptions(epochs=1))
    assert device.stats["dispatches"] == 0


async def test_copy_clone_and_summary(device, capsys):
    model = Model([wgsl_dense(2, 3), squareplus(), Dense(3, 1)], device=device, seed=0)
    await model.fit(XOR_X, XOR_Y, TrainingOptions(epochs=3))
    clone = model.clone()
    assert np.array_equal(await clone.predict(XOR_X), await model.predict(XOR_X))
    twin = model.layers[0].copy()
    assert [w.tolist() for w in twin.host_weights] == [
        w.tolist() for w in model.layers[0].current_weights()]
    other = Model([twin, TanH()], device=device)
    assert (await other.predict(XOR_X)).shape == (4, 3)
    text = model.summary()
    assert "wgsllayer_0 (WGSLLayer)  (None, 3)     9" in text and "Total params: 13" in text
    assert repr(model.layers[1]) == "WGSLLayer('squareplus.wgsl', forward='forward', " \
                                    "backward='backward')"


async def test_check_gradients_refuses_bad_arguments_before_gpu_work(device):
    device.stats.reset()
    with pytest.raises(ValueError, match="takes 2 features, received 3"):
        await check_gradients(wgsl_dense(2, 3), np.ones((4, 3)))
    with pytest.raises(ValueError, match="x: expected finite values"):
        await check_gradients(squareplus(), np.array([[np.nan]]))
    with pytest.raises(ValueError, match="layer: expected an intricate Layer"):
        await check_gradients("squareplus", np.ones((1, 1)))
    with pytest.raises(ValueError, match="samples: expected a positive int"):
        await check_gradients(squareplus(), np.ones((1, 1)), samples=0)
    assert device.stats["dispatches"] == device.stats["submits"] == 0


async def test_the_guides_worked_example_checks_out_and_trains(device, rng):
    """shaders/README.md, "Turning a kernel into a layer": its scale-and-shift layer as shown."""
    guide = (Path(__file__).resolve().parents[1] / "shaders" / "README.md").read_text()
    (source,) = re.findall(r"```wgsl\n(.*?)```", guide.split("## Turning a kernel into a layer")[1],
                           re.S)
    layer = WGSLLayer(source, parameters={"scale": 3, "bias": 3},
                      initializers={"scale": Constant(1.0)})
    report = await check_gradients(layer, rng.standard_normal((6, 3)), device=device)
    assert report.passed, str(report)
    model = Model([Dense(2, 3), layer, TanH(), Dense(3, 1), TanH()], device=device, seed=0)
    history = await model.fit(XOR_X, XOR_Y, TrainingOptions(learning_rate=0.1, epochs=2000))
    assert history.loss[-1] < 0.01
