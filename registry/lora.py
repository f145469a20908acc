"""A LoRA adapter as users hand it to `zoo build --lora`: the folder PEFT's save_pretrained wrote
(adapter_config.json and adapter_model.safetensors), or that safetensors file alone.

The adapter is untrusted input: the config is read bounded, as JSON, and must agree with the rank
given; nothing is imported or executed from it here. What the adapter does to the model is the
converter's business (`Converter.prepare_lora`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .components import LoraAdapter
from .errors import BuildError
from .download import file_sha256

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
MAX_CONFIG_BYTES = 1 << 20


def _rank_in(config: Path) -> int:
    try:
        with open(config, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_CONFIG_BYTES else None
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
        data = None
    rank = data.get("r") if isinstance(data, dict) else None
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise BuildError(f"{config} is not a PEFT LoRA config (a JSON object under 1 MiB with a positive rank `r`).",
                         fix="Pass the folder PEFT's save_pretrained wrote for the adapter.")
    return rank


def read(given: Path, rank: int | None) -> LoraAdapter:
    """The adapter's weights file, its config (when there is one) and its rank, checked against each other."""
    path = given.expanduser().resolve()
    if path.is_dir():
        weights, config = path / WEIGHTS, path / CONFIG
        if not weights.is_file():
            raise BuildError(f"--lora {given} has no {WEIGHTS}.",
                             fix="Pass the folder PEFT's save_pretrained wrote (adapter_config.json and adapter_model.safetensors).")
    elif path.is_file():
        weights, config = path, path.parent / CONFIG
    else:
        raise BuildError(f"--lora {given} is neither a file nor a folder.",
                         fix="Pass the adapter folder PEFT's save_pretrained wrote, or its adapter_model.safetensors.")
    config = config if config.is_file() else None
    recorded = _rank_in(config) if config is not None else None
    if rank is None and recorded is None:
        raise BuildError(f"--lora {given} comes without adapter_config.json, so zoo cannot tell its rank.",
                         fix="Add --lora-rank N (the rank the adapter was trained with), or pass the adapter's folder.")
    if rank is not None and recorded is not None and rank != recorded:
        raise BuildError(f"--lora-rank {rank} was given, but the adapter's {CONFIG} says its rank is {recorded}.",
                         fix=f"Pass --lora-rank {recorded}, or leave --lora-rank out.")
    return LoraAdapter(weights, rank if rank is not None else recorded, config)


def digest(adapter: LoraAdapter) -> str:
    """One sha256 over what the adapter's effect depends on: its weights and (alpha, targets) its config."""
    parts = [file_sha256(adapter.path)] + ([file_sha256(adapter.config)] if adapter.config is not None else [])
    return parts[0] if len(parts) == 1 else hashlib.sha256(" ".join(parts).encode()).hexdigest()
