"""``intricate info``: what wgpu sees on this machine, and the device intricate opens.

JSON keys (``intricate info --json``):
    intricate, wgpu        the versions
    adapters               every adapter wgpu enumerates, each: name, vendor, backend, type,
                           driver, vendor_id, device_id, chosen (the one the default device
                           runs on), features (sorted), limits (hyphenated WebGPU names)
    device                 the default device (what models and ``bench`` use): name, vendor,
                           backend, type, driver, vendor_id, device_id, features (the optional
                           ones it was opened with), limits, dtypes (element types its shaders
                           can compute in), model_dtypes (the Model(dtype=) policies it runs),
                           timestamps (GPU timestamp queries: how ``bench`` times), subgroups
"""

from __future__ import annotations

from typing import Any

import wgpu

from .._version import __version__
from ..gpu import Device, dtypes

IDENTITY = {"name": "device", "vendor": "vendor", "backend": "backend_type",
            "type": "adapter_type", "driver": "description", "vendor_id": "vendor_id",
            "device_id": "device_id"}  # our key → wgpu's adapter info key
SHOWN_LIMITS = ("max-storage-buffer-binding-size", "max-buffer-size",
                "max-compute-workgroup-storage-size", "max-compute-invocations-per-workgroup",
                "max-compute-workgroups-per-dimension")


def identity(adapter_info: dict[str, Any]) -> dict[str, Any]:
    """An adapter's name, vendor, backend, type, driver and ids, from wgpu's adapter info."""
    return {key: adapter_info.get(source, "") for key, source in IDENTITY.items()}


def _adapters() -> list[dict[str, Any]]:
    return [{**identity(dict(adapter.info)), "features": sorted(adapter.features),
             "limits": dict(adapter.limits)} for adapter in wgpu.gpu.enumerate_adapters_sync()]


async def collect(device: Device) -> dict[str, Any]:
    """The ``info --json`` document (see the module docstring) for ``device``."""
    adapters = await device.run(_adapters)  # wgpu calls stay on the GPU thread
    mine = identity(device.adapter_info)
    for adapter in adapters:
        adapter["chosen"] = all(adapter[key] == mine[key] for key in IDENTITY)
    return {"intricate": __version__, "wgpu": wgpu.__version__, "adapters": adapters,
            "device": {**mine, "features": sorted(device.features), "limits": device.limits,
                       "dtypes": list(device.dtypes),
                       "model_dtypes": list(dtypes.supported(device)),
                       "timestamps": "timestamp-query" in device.features,
                       "subgroups": "subgroup" in device.features}}


def text(document: dict[str, Any]) -> str:
    """``collect``'s document as the lines ``intricate info`` prints."""
    device = document["device"]
    lines = [f"intricate {document['intricate']} (wgpu {document['wgpu']})",
             f"device: {device['name']} [{device['type']}, {device['backend']}] "
             f"driver {device['driver'] or '?'}",
             f"  dtypes: {', '.join(device['dtypes'])}; models: "
             f"{', '.join(device['model_dtypes'])}",
             f"  features: {', '.join(device['features']) or 'none of the optional ones'}",
             f"  timing: {'GPU timestamps' if device['timestamps'] else 'wall clock'}"]
    lines += [f"  {name}: {device['limits'][name]}" for name in SHOWN_LIMITS
              if name in device["limits"]]
    lines.append(f"adapters ({len(document['adapters'])}):")
    for adapter in document["adapters"]:
        mark = "*" if adapter["chosen"] else " "
        lines.append(f" {mark} {adapter['name']} [{adapter['type']}, {adapter['backend']}] "
                     f"driver {adapter['driver'] or '?'}, {len(adapter['features'])} features")
    return "\n".join(lines)
