"""Signed artifacts: OpenSSF model signing (`model-signing`) over a stored artifact's files.

`zoo sign ID --key KEY` (and `zoo build --sign KEY`) signs every file of the entry, provenance
included, with a private key (PEM, e.g. P-256 from `openssl ecparam -name prime256v1 -genkey`);
`zoo verify ID --signature PUB` and `zoo pull --require-signature PUB` check the signature against
the public key and the files as they are. The signature (a sigstore bundle) is kept beside the
store in ZOO_HOME/signatures/ID.sig, never inside the content-addressed artifact, so signing does
not change what was verified, and `zoo push` attaches it to the pushed artifact as a referrer.

model-signing pulls in sigstore and its stack, so it runs in its own pinned toolchain, as the
converters do; keys are read there by path, never copied, printed or stored.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import settings, toolchains
from .child import run_job
from .components import Toolchain
from .errors import BuildError, IntegrityError, ZooError

SIGNING = Toolchain(
    name="model-signing",
    # model-signing 1.1.1 imports OpenSSL (pyopenssl) without declaring it.
    requirements=("model-signing==1.1.1", "pyopenssl==26.4.0"),
    notes=("OpenSSF model signing, key-based (offline); sigstore's keyless flow is not used.",),
    probe="import model_signing, OpenSSL",
    locks=Path(__file__).parent / "locks" / "model-signing",
)
RUNNER = Path(__file__).parent / "signing_runner.py"
MAX_SIGNATURE = 1 << 20


def signature_path(entry_id: str) -> Path:
    return settings.get().home / "signatures" / f"{entry_id}.sig"


def _run(request: dict, what: str, on_line=lambda text: None) -> dict:
    python = toolchains.ensure(SIGNING, on_line).interpreter
    with tempfile.TemporaryDirectory(prefix="zoo-sign-") as work:
        return run_job(python, RUNNER, request, Path(work), what=what).data


def _key(path: Path, what: str) -> Path:
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ZooError(f"The {what} {path} is not a file.", fix=f"Pass the {what} as a PEM file.")
    return path


def sign(store, entry, key: Path, on_line=lambda text: None) -> Path:
    """Sign the entry's files with the private key; returns where the signature was kept."""
    target = signature_path(entry.id)
    target.parent.mkdir(parents=True, exist_ok=True)
    damaged = store.check_entry(entry)
    if damaged:
        raise IntegrityError(entry.id, ", ".join(damaged), "store check", "the bytes it was stored with", "other bytes",
                             fix=f"Run `zoo verify {entry.id}` and repair it as it says, then sign it; nothing was signed.")
    # The signer writes into a folder only zoo can have made (mkdtemp: new, 0700): a link planted at a
    # predictable name beside the signatures would have had it write wherever that points.
    with tempfile.TemporaryDirectory(prefix=f".{entry.id}.", dir=target.parent) as private:
        partial = Path(private) / "signature.sig"
        try:
            _run({"mode": "sign", "directory": str(store.artifact_dir(entry.id)), "signature": str(partial),
                  "key": str(_key(key, "private key"))}, f"signing {entry.id}", on_line)
        except BuildError as exc:
            raise ZooError(f"Could not sign {entry.id}: {exc.message}",
                           fix="Pass a PEM private key (EC P-256, P-384 or P-521).") from None
        os.replace(partial, target)
    return target


def verify(store, entry, public_key: Path, on_line=lambda text: None, *, signature: Path | None = None) -> None:
    """Raise IntegrityError unless the entry's signature (its kept one, or `signature`) matches the public
    key and its files."""
    signature = signature or signature_path(entry.id)
    if not signature.is_file():
        raise IntegrityError(entry.id, "(signature)", "signature", "a signature by the given key", "no signature",
                             fix=f"Ask its publisher to sign it (`zoo sign {entry.id} --key KEY`) and push it again; "
                             "zoo keeps no unsigned artifact it was asked to require a signature for.")
    if signature.stat().st_size > MAX_SIGNATURE:
        raise IntegrityError(entry.id, "(signature)", "signature", "a sigstore bundle under 1 MiB",
                             f"{signature.stat().st_size} bytes")
    data = _run({"mode": "verify", "directory": str(store.artifact_dir(entry.id)), "signature": str(signature),
                 "key": str(_key(public_key, "public key"))}, f"checking the signature of {entry.id}", on_line)
    if data.get("problem"):
        raise IntegrityError(entry.id, "(signature)", "signature", "a signature by the given key over these files",
                             str(data["problem"])[:300],
                             fix="Do not use this artifact: it was not signed by that key, or its files changed since.")
