"""Save a tiny keras-hub GPT-2 preset (random weights, a small byte-level BPE vocabulary) to a directory.

Runs inside the tensorflow-2.19 toolchain (keras-hub 0.29.1):

    python make_gpt2_preset.py OUT_DIR

The directory holds what save_to_preset writes (config.json, metadata.json, model.weights.h5,
preprocessor.json, task.json, tokenizer.json, assets/tokenizer/{vocabulary.json, merges.txt}) and
loads offline with GPT2CausalLM.from_preset(OUT_DIR), like the real gpt2_base_en.
"""

import json
import sys
from pathlib import Path


def byte_level_vocabulary():
    """GPT-2's byte-to-unicode table, then a few merges: every text can be tokenized."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    vocabulary = {c: i for i, c in enumerate(chars)}
    merges = []
    for a, b in [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "z"), ("Ġz", "o"), ("Ġzo", "o")]:
        merges.append(f"{a} {b}")
        vocabulary.setdefault(a + b, len(vocabulary))
    vocabulary["<|endoftext|>"] = len(vocabulary)
    return vocabulary, merges


def main():
    out = Path(sys.argv[1])
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    vocabulary, merges = byte_level_vocabulary()
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer=tokenizer, sequence_length=32)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=64, intermediate_dim=128,
        max_sequence_length=128,
    )
    model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)
    model.save_to_preset(str(out))
    print(json.dumps({"vocabulary": len(vocabulary), "parameters": int(backbone.count_params())}))


if __name__ == "__main__":
    main()
