"""PyTorch's nn.Flatten flattens NCHW samples as (C, H, W), ours NHWC ones as (H, W, C): a
PyTorch CNN with Conv2d → Flatten → Linear loaded here (from_torch_state_dict, a torch-layout
file) and written back (save(layout="torch")) must permute the first Linear's input columns, and
a BatchNorm1d between them its per-feature vectors; both ways must predict as torch does."""

from __future__ import annotations

import numpy as np
import pytest

from intricate import Model, TrainingOptions
from intricate.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    TanH,
)


def torch_cnn(torch, batch_norm: bool):
    """Conv2d → ReLU → Flatten → [BatchNorm1d →] Dropout → Linear → ReLU → Linear, in float64;
    its modules with weights in our layers' order."""
    nn = torch.nn
    features = 3 * 4 * 5  # (C, H, W) = (3, 4, 5) after the conv
    middle = [nn.BatchNorm1d(features)] if batch_norm else []
    network = nn.Sequential(nn.Conv2d(2, 3, (2, 3)), nn.ReLU(), nn.Flatten(), *middle,
                            nn.Dropout(0.5), nn.Linear(features, 6), nn.ReLU(),
                            nn.Linear(6, 2)).double()
    with torch.no_grad():  # moving statistics that differ per feature, so a wrong order shows
        for module in network:
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 2)
                module.bias.uniform_(-1, 1)
    return network.eval()


def our_cnn(batch_norm: bool, flatten) -> list:
    middle = [BatchNormalization(epsilon=1e-5)] if batch_norm else []
    return [Conv2D(2, 3, (2, 3)), ReLU(), flatten, *middle, Dropout(0.5), Dense(60, 6), ReLU(),
            Dense(6, 2)]


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("flatten", [Flatten, lambda: Reshape((-1,))],
                         ids=["Flatten", "Reshape"])
async def test_a_torch_cnn_with_flatten_predicts_the_same_both_ways(device, rng, tmp_path,
                                                                    batch_norm, flatten):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load_file
    from safetensors.torch import save_file as torch_save_file

    torch.manual_seed(0)
    network = torch_cnn(torch, batch_norm)
    x = rng.normal(size=(3, 5, 7, 2))  # NHWC here, NCHW in torch
    torch_x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    want = network(torch_x).detach().numpy()
    model = Model.from_torch_state_dict(network.state_dict(), our_cnn(batch_norm, flatten()),
                                        device=device, dtype="float64", input_shape=(5, 7, 2))
    np.testing.assert_allclose(await model.predict(x), want, rtol=1e-10, atol=1e-12)

    # A torch-layout file PyTorch wrote (sorted names): the same weights.
    path = tmp_path / "theirs.safetensors"
    torch_save_file(network.state_dict(), path)
    from_file = Model.from_torch_state_dict(path, our_cnn(batch_norm, flatten()), device=device,
                                            dtype="float64", input_shape=(5, 7, 2))
    np.testing.assert_allclose(await from_file.predict(x), want, rtol=1e-10, atol=1e-12)

    # Saved in the torch layout: PyTorch loads it and predicts as before; our load reads it back.
    path = tmp_path / "ours.safetensors"
    model.save(path, layout="torch")
    again = torch_cnn(torch, batch_norm)
    again.load_state_dict({key.replace(".moving_", ".running_"): value
                           for key, value in torch_load_file(path).items()}, strict=False)
    np.testing.assert_allclose(again(torch_x).detach().numpy(), want, rtol=1e-10, atol=1e-12)
    loaded = Model.load(path, device=device)
    for got, kept in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, kept)


async def test_a_linear_before_an_unflatten_gives_its_rows_in_torchs_order(device, rng, tmp_path):
    """Linear → ReLU → Unflatten(1, (C, H, W)) → Conv2d (a generator's start): the Linear's
    rows (its weight's and bias') are the image's values in (C, H, W) order there, (H, W, C)
    here; and a Flatten right after an image keeps its order whatever follows."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load_file

    nn = torch.nn
    torch.manual_seed(1)

    def network():
        return nn.Sequential(nn.Linear(5, 24), nn.ReLU(), nn.Unflatten(1, (3, 2, 4)),
                             nn.Conv2d(3, 2, 2), nn.Flatten(), nn.Linear(6, 2)).double()

    theirs = network()
    x = rng.normal(size=(4, 5))
    want = theirs(torch.from_numpy(x)).detach().numpy()
    layers = [Dense(5, 24), ReLU(), Reshape((2, 4, 3)), Conv2D(3, 2, 2), Flatten(), Dense(6, 2)]
    model = Model.from_torch_state_dict(theirs.state_dict(), layers, device=device,
                                        dtype="float64", input_shape=(5,))
    np.testing.assert_allclose(await model.predict(x), want, rtol=1e-10, atol=1e-12)
    path = tmp_path / "ours.safetensors"
    model.save(path, layout="torch")
    again = network()
    again.load_state_dict(torch_load_file(path))
    np.testing.assert_allclose(again(torch.from_numpy(x)).detach().numpy(), want, rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("case", ["flatten", "unflatten"])
async def test_one_training_step_through_flatten_matches_torchs(device, rng, tmp_path, case):
    """One SGD step on the mean squared error, here and in torch (by hand: torch.optim is not
    needed), then both saved in PyTorch's layout: the same weights (the gradients of Flatten
    and Reshape are their dE/dO, read in each framework's order)."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load_file

    nn = torch.nn
    torch.manual_seed(2)
    if case == "flatten":
        network = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Sigmoid(), nn.MaxPool2d(2),
                                nn.Flatten(), nn.Linear(16, 5), nn.Tanh(), nn.Linear(5, 3))
        layers = [Conv2D(1, 4, 3, padding=1), Sigmoid(), MaxPool2D(2), Flatten(), Dense(16, 5),
                  TanH(), Dense(5, 3)]
        shape = (4, 4, 1)
    else:
        network = nn.Sequential(nn.Linear(6, 24), nn.Unflatten(1, (3, 2, 4)),
                                nn.Conv2d(3, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(6, 3))
        layers = [Dense(6, 24), Reshape((2, 4, 3)), Conv2D(3, 2, 2), ReLU(), Flatten(),
                  Dense(6, 3)]
        shape = (6,)
    network = network.double()
    x, y = rng.normal(size=(5, *shape)), rng.normal(size=(5, 3))
    model = Model.from_torch_state_dict(network.state_dict(), layers, device=device,
                                        dtype="float64", input_shape=shape)
    await model.fit(x, y, TrainingOptions(learning_rate=0.5, epochs=1, shuffle=False))
    torch_x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy() if len(shape) == 3 else x)
    torch.nn.functional.mse_loss(network(torch_x), torch.from_numpy(y)).backward()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter -= 0.5 * parameter.grad
    model.save(tmp_path / "stepped.safetensors", layout="torch")
    ours = torch_load_file(tmp_path / "stepped.safetensors")
    for key, value in network.state_dict().items():
        np.testing.assert_allclose(ours[key].numpy(), value.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=key)
