"""Files: atomic safetensors files (``files``), whole models (``model_files``; layers save
through the registry in layers/registry.py) and PyTorch state dicts (``pytorch``)."""
