"""Runs in the tinystories-sentencepiece toolchain: which of the request's tokens the tokenizer lacks."""

from zoo_runner import read_request, result


def main():
    import sentencepiece

    request = read_request()
    processor = sentencepiece.SentencePieceProcessor(model_file=request["tokenizer"])
    pieces = {processor.id_to_piece(i) for i in range(processor.get_piece_size())}
    missing = [token for token in request["tokens"] if token not in pieces]
    result({"problems": [f"the tokenizer has no {token!r}" for token in missing],
            "summary": f"the tokenizer has {', '.join(request['tokens'])} ({len(pieces)} pieces)" if not missing else None})


if __name__ == "__main__":
    main()
