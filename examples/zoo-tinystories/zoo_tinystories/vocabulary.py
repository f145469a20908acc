"""A check with a toolchain of its own: the checkpoint's sentencepiece tokenizer knows the tokens the bundle names.

A bundle whose start or stop token the tokenizer does not have builds fine and never stops
generating. sentencepiece reads the tokenizer, so the check runs in its own small toolchain, which
installs from the lock this package ships beside its manifest (locks/tinystories-sentencepiece/,
made with `zoo toolchain lock tinystories-sentencepiece`): every package pinned with its hash, as
zoo's own toolchains are.
"""

from pathlib import Path

from registry.api import Job, Toolchain, Verifier

HERE = Path(__file__).parent

SENTENCEPIECE = Toolchain(
    "tinystories-sentencepiece",
    ("sentencepiece==0.2.3",),
    probe="import sentencepiece",
    locks=HERE / "locks" / "tinystories-sentencepiece",
)


class TokenizerVocabulary(Verifier):
    name = "tinystories-vocabulary"
    description = "The checkpoint's tokenizer.model has the start and stop tokens the bundle names (sentencepiece)."
    formats = ("task", "litertlm")
    runs_model = True
    toolchain = SENTENCEPIECE

    def plan(self, request, output, path):
        bundle = request.variant.bundle
        tokens = [bundle.start_token, *bundle.stop_tokens] if bundle is not None else []
        return Job(HERE / "vocabulary_runner.py",
                   {"tokenizer": str(request.inputs_dir / "tokenizer.model"), "tokens": [t for t in tokens if t]},
                   f"the vocabulary check of {output.path}")
