"""What the built-in bundlers' runners share besides zoo's runner protocol: the vocabulary check.

Runners are run as scripts, so their own directory is on sys.path and `from protocol import ...` works.
"""

from zoo_runner import fail


def require_tokens_in_vocabulary(tokenizer_path, tokens):
    """MediaPipe's bundler accepts tokens its tokenizer does not know; a model bundled so never stops."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(tokenizer_path))
    pieces = {processor.id_to_piece(i) for i in range(processor.get_piece_size())}
    missing = [t for t in tokens if t and t not in pieces]
    if missing:
        fail(
            f"the tokenizer's vocabulary has no {', '.join(repr(t) for t in missing)} "
            f"(its special pieces are {', '.join(repr(processor.id_to_piece(i)) for i in range(min(4, processor.get_piece_size())))})",
            "Set start_token and stop_tokens in the manifest's bundle to pieces the tokenizer has.",
        )
