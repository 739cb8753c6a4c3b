"""examples/notebook.ipynb runs in a real Jupyter kernel (ipykernel, started from this test's own
interpreter), headless through nbclient, and its outputs say what the README's "In Jupyter"
section promises: top-level await trains, a background fit trains between cells while predict
runs, cancelling it (or interrupting the kernel) keeps the finished epochs, the live plot is a
widget that draws in the kernel, and fit's tqdm.auto bar is a widget with ipywidgets and text
without."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import numpy as np
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from rendercanvas.core.encoders import encode_array

import intricate
from intricate.plot import read_png
from intricate.plot.scene import TAB10

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"
WIDGET = "application/vnd.jupyter.widget-view+json"
README_CELLS = re.findall(r"```ipython\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
CELL_TIMEOUT = 300  # seconds; the whole notebook takes ~15 s on lavapipe


def kernel_manager(folder: Path) -> KernelManager:
    """A manager for kernels of this interpreter: a kernel spec of our own, since "python3"
    could resolve to a system-wide spec that starts another interpreter, without intricate or
    with another version of it."""
    spec = folder / "kernels" / "intricate-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "intricate test", "language": "python",
        "env": {
            # The intricate this test imported (the checkout's, or the installed one).
            "PYTHONPATH": os.pathsep.join(filter(None, [
                str(Path(intricate.__file__).parents[1]), os.environ.get("PYTHONPATH")])),
            "IPYTHONDIR": str(folder / "ipython"),  # no history database in the user's home
            "JUPYTER_PLATFORM_DIRS": "1",  # jupyter_core's deprecation warning otherwise
        }}))
    return KernelManager(kernel_name="intricate-test",
                         kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))


@contextmanager
def shut_down_after(manager: KernelManager) -> Iterator[KernelManager]:
    """Shut the manager's kernel down on the way out, whatever happened, and check it's gone
    (nbclient leaves running a kernel it was handed)."""
    try:
        yield manager
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=False)
        assert not manager.is_alive(), "the notebook's kernel is still running"


def run_notebook(notebook: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Execute ``notebook`` in a fresh kernel of this interpreter with ``folder`` as its working
    directory."""
    with shut_down_after(kernel_manager(folder)) as manager:
        NotebookClient(notebook, km=manager, timeout=CELL_TIMEOUT, allow_errors=False,
                       resources={"metadata": {"path": str(folder)}}).execute()
    return notebook


def texts(cell: nbformat.NotebookNode, stream: str = "stdout") -> str:
    return "".join(output.get("text", "") for output in cell.outputs
                   if output.output_type == "stream" and output.name == stream)


def widget(notebook: nbformat.NotebookNode, model_id: str) -> dict:
    """Widget ``model_id``'s model name and the last state the kernel gave it (nbclient keeps
    them in the notebook's metadata)."""
    return notebook.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"][
        model_id]


def cell_with(notebook: nbformat.NotebookNode, code: str) -> nbformat.NotebookNode:
    """The example's one code cell containing ``code`` (not one the test added)."""
    (cell,) = [cell for cell in notebook.cells if cell.cell_type == "code"
               and code in cell.source and "added" not in cell.metadata.get("tags", [])]
    return cell


def test_the_example_notebook_runs_in_a_real_kernel(tmp_path):
    # One test, one kernel: test workers would each run a module-scoped notebook fixture again.
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    probe = nbformat.v4.new_code_cell(PROBE, metadata={"tags": ["added"]})
    # Then the README's notebook cells (```ipython blocks), in the same kernel.
    readme = [nbformat.v4.new_code_cell(block, metadata={"tags": ["added"]})
              for block in README_CELLS]
    notebook.cells += [probe, *readme]
    run_notebook(notebook, tmp_path)
    facts = json.loads(texts(probe))
    assert (facts["executable"], facts["intricate"]) == (sys.executable, intricate.__file__)
    check_top_level_await(notebook)
    check_background_fit(notebook)
    check_live_plot_widget(notebook, probe, facts, tmp_path)
    check_pictures(notebook, tmp_path)
    check_readme_cells(readme, tmp_path)


# Our own last cell: what the kernel ran, and the live plot's widget made to send a frame as it
# would to a browser (rendercanvas' snapshot() draws into the cell's output instead).
PROBE = """\
import json, sys, intricate
frames = plot.frames  # drawn by the GPU for the widget while the background fit trained
canvas = plot.show()  # the widget again, and its rendercanvas canvas
canvas.snapshot()
for _ in range(3000):  # at most ~30 s: the canvas draws in a later turn of the event loop
    if canvas.get_stats()["sent_frames"]:
        break
    await asyncio.sleep(0.01)
print(json.dumps({"executable": sys.executable, "intricate": intricate.__file__,
                  "frames": frames, "sent_frames": canvas.get_stats()["sent_frames"]}))
"""


def check_top_level_await(notebook: nbformat.NotebookNode) -> None:
    """The loss falls, and tqdm.auto's bar is a widget (the test extra brings ipywidgets with
    anywidget), full (60 of 60 epochs) and green at the end."""
    cell = cell_with(notebook, "history = await model.fit(")
    first, last, accuracy = map(float, re.fullmatch(
        r"loss (\S+) -> (\S+), accuracy (\S+)\n", texts(cell)).groups())
    assert last < 0.5 * first and accuracy > 0.8
    (bar,) = [output for output in cell.outputs if WIDGET in output.get("data", {})]
    box = widget(notebook, bar.data[WIDGET]["model_id"])  # tqdm's HBox: text, bar, text
    (state,) = [child["state"] for child in (
        widget(notebook, name.removeprefix("IPY_MODEL_")) for name in box["state"]["children"])
        if child["model_name"] == "FloatProgressModel"]
    assert "epoch" in bar.data["text/plain"]
    assert (state["value"], state["max"], state["bar_style"]) == (60, 60, "success")
    assert not texts(cell, "stderr")


def check_background_fit(notebook: nbformat.NotebookNode) -> None:
    """predict answers while the background fit trains; cancelling it keeps its epochs, and
    the live plot shows them all."""
    printed = texts(cell_with(notebook, "await model.predict(")).split("targets")[0]
    predictions = [float(value) for value in re.findall(r"[-+.\de]+", printed)]
    assert len(predictions) == 4 and all(0 <= value <= 1 for value in predictions)
    printed = texts(cell_with(notebook, "background.cancel()"))
    cancelled, kept, plotted, loss = re.fullmatch(
        r"cancelled: (\w+), epochs kept: (\d+), plotted: (\d+), last loss (\S+)\n",
        printed).groups()
    assert cancelled == "True" and 100 <= int(kept) < 100_000 and float(loss) < 0.5
    assert plotted == kept  # the plot shows every epoch the history keeps


def check_live_plot_widget(notebook: nbformat.NotebookNode, probe: nbformat.NotebookNode,
                           facts: dict, folder: Path) -> None:
    """The plot is rendercanvas' anywidget canvas under its cell, the GPU drew frames for it
    during the fit, and the frame the widget sends is the picture save_png wrote."""
    cell = cell_with(notebook, "plot  # the widget")
    (view,) = [output for output in cell.outputs if WIDGET in output.get("data", {})]
    model = widget(notebook, view.data[WIDGET]["model_id"])
    assert model["state"]["_anywidget_id"] == "rendercanvas.anywidget.AnywidgetRenderCanvas"
    assert model["state"]["_title"] == "Two moons"
    assert facts["frames"] >= 1 and facts["sent_frames"] == 1
    (snapshot,) = [output.data["text/html"] for output in probe.outputs
                   if "base64," in output.get("data", {}).get("text/html", "")]
    # Encoded as the widget encodes frames (PNG; JPEG where simplejpeg is installed), at the
    # quality its snapshot() uses: the same bytes only from the same pixels.
    sent = base64.b64decode(snapshot.split("base64,")[1].split("'")[0])
    assert sent == encode_array(read_png(folder / "moons-training.png"), 70)[1]


def check_pictures(notebook: nbformat.NotebookNode, folder: Path) -> None:
    """The cells show the PNG files they wrote: the curves in their colours (loss blue,
    accuracy orange), and a decision surface coloured by both classes."""
    for name, code in (("moons-training.png", "plot.save_png_async("),
                       ("moons-surface.png", "decision_surface(")):
        (shown,) = [output.data["image/png"] for output in cell_with(notebook, code).outputs
                    if "image/png" in output.get("data", {})]
        assert base64.b64decode(shown) == (folder / name).read_bytes()
    curves = read_png(folder / "moons-training.png")[..., :3].astype(int)
    assert curves.shape == (400, 640, 3)
    for color in TAB10[:2]:  # at least a 50-pixel line of each
        assert (np.abs(curves - np.round(np.array(color[:3]) * 255)).max(axis=-1) <= 8).sum() > 50
    surface = read_png(folder / "moons-surface.png")[..., :3].astype(int)
    red, blue = surface[..., 0], surface[..., 2]
    # Both classes' colours, full or paled, over a good part of the picture each.
    assert (blue > red + 40).mean() > 0.1 and (red > blue + 40).mean() > 0.1


def check_readme_cells(cells: list[nbformat.NotebookNode], folder: Path) -> None:
    """The README's blocks: a widget bar, the background fit cancelled, its PNG written."""
    fit, background, later = cells
    assert any(WIDGET in output.get("data", {}) for output in fit.outputs)
    assert any(WIDGET in output.get("data", {}) for output in background.outputs)
    assert re.search(r"\n\d+ epochs kept\n", texts(later))
    assert read_png(folder / "training.png").shape == (400, 640, 4)


def test_without_ipywidgets_the_bar_is_text_and_asyncio_run_is_refused(tmp_path):
    """What the README says of a notebook without ipywidgets, and of asyncio.run there."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in [
        # As if ipywidgets weren't installed: importing it fails.
        "import sys\nsys.modules['ipywidgets'] = None\n"
        "import asyncio\nimport numpy as np\nimport intricate\nfrom intricate.layers import Dense",
        "model = intricate.Model([Dense(2, 1)], seed=0)\n"
        "x = np.ones((4, 2), np.float32)\n"
        "history = await model.fit(x, x[:, :1], intricate.TrainingOptions(epochs=3, verbose=1))\n"
        "print(len(history.loss))",
        "try:\n    asyncio.run(model.predict(x))\nexcept RuntimeError as error:\n    print(error)",
    ]])
    imports, fit, run = run_notebook(notebook, tmp_path).cells
    # `import intricate` alone doesn't warn ("IProgress not found"): tqdm.auto is imported by
    # the first fit that shows a bar.
    assert not texts(imports, "stderr")
    assert "IProgress not found" in texts(fit, "stderr")
    assert not any(WIDGET in output.get("data", {}) for output in fit.outputs)
    assert re.search(r"\r100%\|.*\| 3/3 \[", texts(fit)) and texts(fit).endswith("\n3\n")
    assert "cannot be called from a running event loop" in texts(run)


def test_interrupting_the_kernel_stops_a_fit_between_two_steps(tmp_path):
    """Jupyter's "interrupt kernel" during ``await model.fit(...)`` cancels the fit mid-window:
    ipykernel cancels the cell from its SIGINT handler with a callback that runs only when the
    event loop wakes, which device.run makes it do while it awaits the GPU thread (the cell used
    to run on until fit's next read of the loss: here 10**7 epochs)."""
    with shut_down_after(kernel_manager(tmp_path)) as manager:
        manager.start_kernel(cwd=str(tmp_path))
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=CELL_TIMEOUT)

        def run(code: str) -> tuple[dict, str]:
            printed = []
            reply = client.execute_interactive(code, timeout=CELL_TIMEOUT, output_hook=lambda m:
                                               printed.append(m["content"].get("text", "")))
            return reply["content"], "".join(printed)

        def value(expression: str) -> str:
            """``expression``'s repr, from the execute reply's user_expressions: a print's
            stream message may reach IOPub after the cell's idle status on a loaded machine
            (CI once read "" for a print), the reply is the shell channel's answer itself."""
            reply = client.execute_interactive("", user_expressions={"value": expression},
                                               timeout=CELL_TIMEOUT, output_hook=lambda m: None)
            assert reply["content"]["status"] == "ok", reply["content"]
            result = reply["content"]["user_expressions"]["value"]
            assert result["status"] == "ok", result
            return result["data"]["text/plain"]

        assert run(XOR)[0]["status"] == "ok"
        # stop_on_error=False: the interrupt ends this cell with an error, after which the
        # kernel would otherwise answer "aborted" to requests that arrive while it aborts its
        # queue (under load, the next cell's: CI saw it).
        started = client.execute(
            "await model.fit(x, y, TrainingOptions(epochs=10**9, callbacks=[Started()]))",
            stop_on_error=False)
        assert any("training" in message["content"].get("text", "") for message in iter(
            lambda: client.get_iopub_msg(timeout=CELL_TIMEOUT), None)
            if message["parent_header"].get("msg_id") == started)
        time.sleep(1)  # some epochs; fit reads the loss every 10**7 epochs
        manager.interrupt_kernel()
        # A bound against hanging, not a measure: without the wake-ups this takes hours.
        reply = next(message for message in iter(lambda: client.get_shell_msg(timeout=120), None)
                     if message["parent_header"].get("msg_id") == started)
        assert reply["content"]["ename"] == "CancelledError"
        kept, fitting = ast.literal_eval(value("(len(model.history.loss), model._fitting)"))
        assert 0 < kept < 10**7 and fitting is False  # stopped within the first window
        assert run("history = await model.fit(x, y)")[0]["status"] == "ok"  # it trains again
        assert value("len(history.loss)") == "1"


XOR = """\
import numpy as np
from intricate import Model, TrainingOptions
from intricate.callbacks import Callback
from intricate.layers import Dense, TanH
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
y = np.array([[0], [1], [1], [0]], dtype=np.float32)
model = Model([Dense(2, 3), TanH(), Dense(3, 1), TanH()], seed=0)
await model.fit(x, y, TrainingOptions(epochs=2))  # built: the long fit starts at once


class Started(Callback):
    waits_for_each_epoch = False  # only watches: fit keeps its windows of 10**7 epochs

    def on_train_begin(self, logs=None):
        print("training", flush=True)
"""
