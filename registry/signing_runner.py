"""Sign or verify a folder with OpenSSF model signing, in the model-signing toolchain.

Request: {"mode": "sign" | "verify", "directory", "signature", "key"}; sign writes the signature
(a sigstore bundle) with the private key, verify checks it with the public key. A signature that
does not verify is a result with its "problem", not a crash.
"""

from zoo_runner import fail, read_request, result


def main():
    request = read_request()
    import model_signing

    if request["mode"] == "sign":
        try:
            model_signing.signing.Config().use_elliptic_key_signer(private_key=request["key"]).sign(
                request["directory"], request["signature"])
        except Exception as exc:  # a key that is not a usable private key, mostly
            fail(f"model-signing could not sign: {type(exc).__name__}: {str(exc)[:300]}", "Pass an EC private key in PEM.")
        result({"signed": True})
        return
    try:
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=request["key"]).verify(
            request["directory"], request["signature"])
    except Exception as exc:  # ValueError("Hash mismatch ..."), a wrong key's signature error, a broken bundle
        result({"problem": f"{type(exc).__name__}: {str(exc)[:300]}"})
        return
    result({"problem": None})


if __name__ == "__main__":
    main()
