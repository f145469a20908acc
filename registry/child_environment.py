"""What a child process (a converter, bundler, check or runtime) sees of zoo's environment.

Standard library `os` only: `zoo run` computes it before anything else loads (registry/warm_start.py).
"""

from __future__ import annotations

import os

# An exact allowlist of names. Credentials (HF_TOKEN, KAGGLE_*, cloud keys, proxy URLs with passwords)
# never reach a child: it works on local files only, and a toolchain is third-party code. Prefixes let
# secrets through (TF_TOKEN_*, TF_VAR_*, NVIDIA_API_KEY), so only the locale, temp dirs and the numeric
# libraries' tuning knobs pass, by name (OPENBLAS_CORETYPE on some CPUs keeps numpy from crashing).
PASSED_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "NO_COLOR", "TMPDIR", "TMP", "TEMP",
    "SYSTEMROOT", "LD_LIBRARY_PATH",
    "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES", "LC_MONETARY", "LC_NUMERIC", "LC_TIME",
    "OMP_NUM_THREADS", "OMP_PROC_BIND", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
    "OPENBLAS_VERBOSE", "MKL_NUM_THREADS", "MKL_THREADING_LAYER", "KMP_AFFINITY", "KMP_BLOCKTIME",
    "TF_CPP_MIN_LOG_LEVEL", "TF_CPP_MAX_VLOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTEROP_THREADS",
    "TF_NUM_INTRAOP_THREADS", "XLA_FLAGS", "JAX_PLATFORMS", "JAX_ENABLE_X64", "TORCH_NUM_THREADS",
    "PYTORCH_ENABLE_MPS_FALLBACK", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "GLOG_minloglevel", "GLOG_v",
    "ZOO_CHROMIUM",  # the browser a runtime job starts (a path, no secret)
})

RUNNER_PROTOCOL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner")
"""Holds zoo_runner.py alone, so a child sees that one module of zoo's and nothing else."""


def child_environment() -> dict[str, str]:
    """The environment a toolchain's child process gets: the allowlist, offline, its own packages
    plus the runner protocol module."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_NAMES}
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONPATH": RUNNER_PROTOCOL_DIR})
    return env
