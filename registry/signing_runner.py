"""Sign or verify a folder with OpenSSF model signing, in the model-signing toolchain.

Request: {"mode": "sign" | "verify", "directory", "signature", "key"}; sign writes the signature
(a sigstore bundle) with the private key, verify checks it with the public key. A signature that
does not verify is a result with its "problem", not a crash.

model-signing's default hashing skips `.git/`, `.github/`, `.gitattributes` and `.gitignore`, and a
signature records the paths its signer skipped, which verification then skips too: an artifact
whose main file sat under `.github/` verified although the signature never covered a byte of it.
So zoo signs and verifies with every file hashed (no path ignored, whatever the signature says it
skipped), and accepts a signature only when the files it names are all of the folder's files.
"""

import base64
import json
from pathlib import Path

from zoo_runner import fail, read_request, result


def every_file():
    import model_signing

    return model_signing.hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=False)


def covered(signature):
    """The paths the signature's statement names (its in-toto predicate's resources)."""
    bundle = json.loads(Path(signature).read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return {resource["name"] for resource in statement["predicate"]["resources"]}


def main():
    request = read_request()
    import model_signing

    if request["mode"] == "sign":
        try:
            (model_signing.signing.Config().use_elliptic_key_signer(private_key=request["key"])
             .set_hashing_config(every_file()).sign(request["directory"], request["signature"]))
        except Exception as exc:  # a key that is not a usable private key, mostly
            fail(f"model-signing could not sign: {type(exc).__name__}: {str(exc)[:300]}", "Pass an EC private key in PEM.")
        result({"signed": True})
        return
    try:
        (model_signing.verifying.Config().use_elliptic_key_verifier(public_key=request["key"])
         .set_hashing_config(every_file()).verify(request["directory"], request["signature"]))
        names = covered(request["signature"])
    except Exception as exc:  # ValueError("Hash mismatch ..."), a wrong key's signature error, a broken bundle
        result({"problem": f"{type(exc).__name__}: {str(exc)[:300]}"})
        return
    folder = Path(request["directory"])
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()}
    unsigned = sorted(files - names)
    if unsigned:
        result({"problem": f"the signature does not cover {', '.join(unsigned[:5])}"
                           + (f" and {len(unsigned) - 5} more" if len(unsigned) > 5 else "")
                           + " (its signer skipped them), so those bytes are not vouched for"})
        return
    result({"problem": None})


if __name__ == "__main__":
    main()
