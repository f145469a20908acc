"""The manifest format's schema: what a model family declares, as strict pydantic models.

A manifest is a human-written TOML file, one per family. It holds models; each model holds the
fields its variants share, and each variant overrides what differs (backend, quantization, ...).
`Manifest.variants()` flattens the two into `Variant`s, the unit everything else works on.
Strictness is the point: a manifest tells zoo which files to fetch from the internet and where to
write them, so unknown keys, unsafe file names and malformed digests are refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..identifiers import IDENTIFIER
from ..text import is_hidden

SCHEMA_VERSION = 1

Backend = Literal["cpu", "gpu"]
Platform = Literal["android", "ios", "web", "desktop"]
"""desktop: Linux, macOS and Windows through LiteRT-LM's CLI and C++/Python APIs."""
QuantizationName = Literal["int4", "int8", "fp16", "fp32"]
QUANTIZATION_NAMES = ("int4", "int8", "fp16", "fp32")
FileRole = Literal["weights", "tokenizer", "config", "adapter", "other"]
Accelerator = Annotated[str, Field(pattern=r"^(cpu|gpu|web|npu:[a-z0-9][a-z0-9_.-]*)$")]
"""What a file is compiled for: cpu, gpu, web, or npu:<soc> (e.g. npu:qualcomm-sm8750, npu:google-tensor-g5)."""


# --------------------------------------------------------------------------- field validators


def check_identifier(value: str) -> str:
    if not re.fullmatch(IDENTIFIER, value):
        raise PydanticCustomError(
            "identifier",
            "'{value}' is not a valid id: use lowercase letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit",
            {"value": value},
        )
    return value


Identifier = Annotated[str, AfterValidator(check_identifier)]
ArtifactFormat = Identifier
"""A registered format's name (`registry.api.Format`); the built-in ones are bin, task, tflite and litertlm."""


def _safe_relative_path(value: str) -> str:
    """Refuse any name that could escape the directory zoo writes it into, or show as another name."""
    problem = None
    if not value:
        problem = "is empty"
    elif "\x00" in value:
        problem = "contains a NUL byte"
    elif "\\" in value:
        problem = "contains a backslash"
    elif any(is_hidden(c) for c in value):
        problem = "contains a control, bidi or zero-width character (one that displays as something else)"
    elif any(len(part.encode()) > 255 for part in value.split("/")):
        problem = "has a component longer than 255 bytes (no file system stores that)"
    elif value.startswith("/") or re.match(r"^[A-Za-z]:", value) or value.startswith("~"):
        problem = "is absolute"
    elif any(part in ("..", ".", "") for part in value.split("/")):
        problem = "contains '..', '.' or an empty segment"
    if problem:
        raise PydanticCustomError(
            "unsafe_path",
            "file name '{value}' {problem}; names must be relative paths inside the artifact, like 'tokenizer.json'",
            {"value": value, "problem": problem},
        )
    return value


SafeRelativePath = Annotated[str, AfterValidator(_safe_relative_path)]
"""A file name inside an artifact: relative, no '..', no control or look-alike characters; anything
else is refused with the reason, as a path from a hub or a manifest is untrusted input."""


def _sha256(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise PydanticCustomError(
            "sha256",
            "'{value}' is not a sha256 digest: expected 64 lowercase hexadecimal digits, got {count} characters",
            {"value": value[:80], "count": len(value)},
        )
    return value


Sha256 = Annotated[str, AfterValidator(_sha256)]


def _https_url(value: str) -> str:
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(?::\d+)?(?:/[^\s]*)?", value):
        raise PydanticCustomError(
            "https_url",
            "'{value}' is not an https URL without credentials (like 'https://example.com/model.bin')",
            {"value": value[:200]},
        )
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]
"""An https URL without credentials in it; a source option of this type refuses anything else."""


# --------------------------------------------------------------------------- base


class StrictModel(BaseModel):
    """Frozen, and refuses unknown keys (the loader adds a "did you mean" from the field names)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, strict=True)


# --------------------------------------------------------------------------- parts


class License(StrictModel):
    """Who may use the weights, and where a gated licence is accepted before downloading."""

    name: str = Field(min_length=1, description="Licence name, e.g. 'Gemma Terms of Use'.")
    spdx: str | None = Field(None, description="SPDX identifier when there is one, e.g. 'MIT'.")
    url: HttpsUrl | None = Field(None, description="Where the licence text lives.")
    gated: bool = Field(False, description="True when the hub requires accepting the licence first.")
    accept_url: HttpsUrl | None = Field(None, description="Where a gated licence is accepted.")

    @model_validator(mode="after")
    def _gated_needs_accept_url(self) -> "License":
        if self.gated and not self.accept_url:
            raise PydanticCustomError(
                "gated_without_accept_url", "a gated licence needs accept_url, the page where users accept it"
            )
        return self


class BitWidths(StrictModel):
    """Per-part weight bit widths, as the MediaPipe converter takes them."""

    attention: Literal[4, 8]
    feedforward: Literal[4, 8]
    embedding: Literal[4, 8]


class Inference(StrictModel):
    """Defaults matching the MediaPipe LLM Inference options of the same names."""

    max_tokens: int = Field(512, gt=0, le=1_000_000)
    top_k: int = Field(40, gt=0)
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling: keep the smallest set of tokens "
                                "whose probabilities add up to this (LiteRT-LM and the Web API take it).")
    temperature: float = Field(0.8, ge=0.0, le=10.0)
    random_seed: int = 0


class Source(BaseModel):
    """Where a variant's files come from. `kind` names a registered source kind; the table's other
    keys are that kind's options, which its plugin declares (`SourceKind.options`, a pydantic model)
    and zoo validates when the plugin's families register (`source_problems`)."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True, strict=True)

    kind: Identifier = Field(description="A registered source kind (`zoo plugins` lists them); its keys are that kind's.")


class SourceOptions(StrictModel):
    """Base of a source kind's options: the keys of a manifest's `source` table besides `kind`.

    Raise `PydanticCustomError(type, message, {"fix": "..."})` in a validator to give the author
    the fix along with the problem."""


class FileSpec(StrictModel):
    """One file a variant needs, checked against its size and digest before it enters the store."""

    path: SafeRelativePath = Field(description="Relative path inside the artifact (no '..', no absolute paths).")
    role: FileRole = Field(description="weights, tokenizer, config, adapter or other.")
    size: int | None = Field(None, gt=0, description="Bytes; checked when known.")
    sha256: Sha256 | None = Field(None, description="Checked when known; otherwise pinned on first download.")


class Recipe(StrictModel):
    """How a variant is made when it is not downloaded ready-made."""

    converter: Identifier = Field(description="A registered converter's name (`zoo plugins` lists them).")
    params: dict[str, str | int | float | bool | list[str] | list[int]] = Field(
        default_factory=dict, description="The converter's options (`zoo info MODEL` lists them), e.g. model_type = 'PHI_2'."
    )
    ram_gb: float | None = Field(None, gt=0, description="Peak RAM the conversion needs.")
    disk_gb: float | None = Field(None, gt=0, description="Scratch disk the conversion needs.")


class PromptTemplate(StrictModel):
    prefix: str = ""
    suffix: str = ""


class BundleStep(StrictModel):
    """Packs converted weights with the tokenizer and run-time metadata (.task, .litertlm)."""

    bundlers: list[Identifier] = Field(min_length=1, description="Each bundler writes one output format.")
    start_token: str | None = Field(None, description="Must be in the tokenizer's vocabulary.")
    stop_tokens: list[str] = Field(min_length=1, description="Must be in the tokenizer's vocabulary.")
    prompt_template: PromptTemplate | None = Field(None, description="Wraps each user prompt.")


class LoraOptions(StrictModel):
    """LoRA adapters may be built with this variant (`zoo build --lora ADAPTER`). On a model, it applies
    to the gpu variants (MediaPipe's LoRA is a gpu runtime feature); a variant may allow it for itself,
    e.g. export-hf merges the adapter into the weights on any backend."""

    max_rank: int = Field(32, ge=1, le=256)


class OutputSpec(StrictModel):
    """A file the variant produces and the checks that must pass on it before it is installed."""

    path: SafeRelativePath = Field(description="The produced file's name, e.g. 'phi-2-gpu-int8.bin'.")
    checks: list[Identifier] = Field(default_factory=list, description="Verifier names that must pass (`zoo plugins`).")
    expect: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Facts only this output's checks verify, e.g. lora_rank = 4."
    )


# --------------------------------------------------------------------------- manifest


class VariantSpec(StrictModel):
    """One concrete artifact. Fields left out are inherited from the model."""

    id: Identifier = Field(description="Unique across all plugins, e.g. 'gemma-2b-it-gpu-int4'.")
    aliases: list[Identifier] = Field(default_factory=list, description="Other names that resolve to this variant.")
    description: str | None = Field(None, description="Overrides the model's description.")
    backend: Backend = Field(description="The runtime backend the artifact targets.")
    accelerator: Accelerator | None = Field(
        None, description="What the file is compiled for when it is more than the backend says: web, or npu:<soc> for a "
        "per-chip file (npu:qualcomm-sm8750). Default: the backend. `zoo list --accelerator` filters by it.")
    license: License | None = Field(None, description="Overrides the model's licence: a ready-made file published "
                                    "under other terms, or gated on another repo (its own accept_url).")
    ready_made: bool = Field(False, description="Downloaded as is (its own files), even when the model has a recipe: "
                             "one model may hold ready-made and buildable variants (`zoo pull` takes the first, `zoo build` the second).")
    quantization: QuantizationName | BitWidths = Field(description="int4, int8, fp16, fp32, or per-part bit widths.")
    format: ArtifactFormat = Field(description="The main artifact's format, a registered one (`zoo plugins` lists them): "
                                   "bin (MediaPipe), task, tflite, litertlm, or a plugin's own.")
    platforms: list[Platform] | None = Field(None, description="Where it runs; web needs the gpu backend.")
    min_device_ram_mb: int | None = Field(None, gt=0, description="Smallest device RAM it is meant for.")
    inference: Inference | None = Field(None, description="Default generation options.")
    source: Source | None = Field(None, description="Where the files come from.")
    files: list[FileSpec] | None = Field(None, description="The files fetched (the artifact, or a build's inputs).")
    recipe: Recipe | None = Field(None, description="How to build it; absent for ready-made variants.")
    bundle: BundleStep | None = Field(None, description="Bundles made after conversion.")
    lora: LoraOptions | None = Field(None, description="Allows --lora for this variant.")
    outputs: list[OutputSpec] | None = Field(None, description="The files produced and their checks.")
    expect: dict[str, str | int | float | bool] | None = Field(
        None, description="Merged over the model's expect: facts the checks verify, e.g. model_type = 'GEMMA_2B'."
    )

    @field_validator("quantization", mode="before")
    @classmethod
    def _name_or_bit_widths(cls, value: Any) -> Any:
        # Checked here so an unknown name gets one clear error instead of one per union member.
        if isinstance(value, str) and value not in QUANTIZATION_NAMES:
            raise PydanticCustomError(
                "quantization",
                "'{value}' is not a quantization: use one of {names}, or per-part bit widths "
                "like attention = 8, feedforward = 4, embedding = 8",
                {"value": value, "names": ", ".join(QUANTIZATION_NAMES)},
            )
        return value


class ModelSpec(StrictModel):
    """A model and what its variants share."""

    name: Identifier = Field(description="The model name users type with options, e.g. 'phi-2'.")
    description: str = Field(min_length=1, description="One sentence shown by `zoo info`.")
    license: License = Field(description="The weights' licence.")
    aliases: list[Identifier] = Field(default_factory=list, description="Other names for the model.")
    platforms: list[Platform] = Field(min_length=1, description="Where its variants run (variants may narrow it).")
    min_device_ram_mb: int | None = Field(None, gt=0, description="Smallest device RAM its variants are meant for.")
    inference: Inference = Field(default_factory=Inference, description="Default generation options.")
    source: Source = Field(description="Where the files come from.")
    by_reference: Source | None = Field(
        None,
        description="Lets users build this model from a repo they name, `zoo build NAME:REFERENCE` (e.g. "
        "`zoo build hf:Qwen/Qwen3-0.6B@main`): the source kind that reads the reference, with the options every such "
        "repo shares (e.g. allow_patterns). The model's `files` are what each repo must hold. Built models only.",
    )
    files: list[FileSpec] = Field(default_factory=list, description="The files every variant fetches, unless it lists its own.")
    recipe: Recipe | None = Field(None, description="How variants are built; absent for ready-made models.")
    bundle: BundleStep | None = Field(None, description="Bundles made after conversion (.task, .litertlm).")
    lora: LoraOptions | None = Field(None, description="Applies to this model's gpu variants only.")
    notes: list[str] = Field(default_factory=list, description="Shown by `zoo info`.")
    expect: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Facts the output checks verify, e.g. model_type = 'GEMMA_2B'."
    )
    defaults: list[Identifier] = Field(
        default_factory=list,
        description="Variant ids in order of preference: `zoo pull|build MODEL` takes the first; with options "
        "(--backend gpu) the first listed that matches. Must name a variant of each backend the model has.",
    )
    variants: list[VariantSpec] = Field(min_length=1)


class Manifest(StrictModel):
    schema_version: Literal[1] = Field(description="The manifest format version; this zoo reads 1.")
    family: Identifier = Field(description="The family's name, unique across plugins.")
    description: str = Field(min_length=1, description="One sentence about the family.")
    homepage: HttpsUrl | None = Field(None, description="Where people learn about the models.")
    models: list[ModelSpec] = Field(min_length=1, description="The family's models; `[[models]]`.")

    def variants(self, plugin: str = "", manifest_path: str = "") -> list["Variant"]:
        return [
            Variant.from_specs(self, model, spec, plugin=plugin, manifest_path=manifest_path)
            for model in self.models
            for spec in model.variants
        ]


class Variant(StrictModel):
    """The flattened, effective view of one variant: model fields with the variant's overrides."""

    id: str
    """The variant's id, unique across all plugins, e.g. 'gemma-2b-it-gpu-int4'."""
    family: str
    """The manifest's family name (one manifest, one family)."""
    model: str
    """The model it is a variant of, e.g. 'gemma-2b-it'."""
    aliases: list[str]
    """Other names that resolve to this variant."""
    model_aliases: list[str]
    """Other names of its model."""
    description: str
    """One sentence, the variant's own or its model's."""
    license: License
    """The licence of the file it installs (the variant's own, else the model's)."""
    backend: Backend
    """The runtime backend the artifact targets: cpu or gpu."""
    accelerator: str = "cpu"
    """What the file is compiled for: the backend, web, or npu:<soc> for a per-chip file."""
    quantization: QuantizationName | BitWidths
    """int4, int8, fp16, fp32, or per-part bit widths (`quantization_label` names either)."""
    format: ArtifactFormat
    """The main artifact's format, whose suffix its first output ends in."""
    platforms: list[Platform]
    """Where it runs: android, ios, web, desktop (the variant's, else the model's)."""
    min_device_ram_mb: int | None
    """Smallest device RAM it is meant for, when the manifest says."""
    inference: Inference
    """Default generation options (max_tokens, top_k, top_p, temperature, random_seed)."""
    source: Source
    """Where its files come from: `kind` names a registered source, the other keys are that kind's options."""
    files: list[FileSpec]
    """The files fetched: the artifact itself for a ready-made variant, a build's inputs otherwise."""
    recipe: Recipe | None
    """How it is built (converter, params, RAM and disk); None for a ready-made variant."""
    bundle: BundleStep | None
    """The bundlers run after conversion, with the tokens and prompt template they write in."""
    lora: LoraOptions | None
    """Present when `--lora` is allowed for it (with the largest rank)."""
    outputs: list[OutputSpec]
    """The files it produces, the main artifact first, each with the checks that must pass."""
    notes: list[str]
    """Lines `zoo info` shows (caveats the manifest states)."""
    expect: dict[str, str | int | float | bool]
    """Facts the checks verify, the model's merged with the variant's, e.g. model_type = 'GEMMA_2B'."""
    default_rank: int | None = None
    """Its place in the model's `defaults` (0: the model's default); None when not listed."""
    by_reference: Source | None = None
    """The model's `by_reference` table: `zoo build MODEL:REFERENCE` takes this variant's recipe."""
    reference: str | None = None
    """Set on a variant made for `zoo build MODEL:REFERENCE`: the reference, e.g. 'Qwen/Qwen3-0.6B@main'."""
    plugin: str
    """The plugin that registered its manifest."""
    manifest_path: str
    """Where that manifest was read from ('' for one registered as data)."""

    @property
    def prebuilt(self) -> bool:
        return self.recipe is None

    @property
    def quantization_label(self) -> str:
        q = self.quantization
        if isinstance(q, BitWidths):
            return f"a{q.attention}f{q.feedforward}e{q.embedding}"
        return q

    @classmethod
    def from_specs(
        cls, manifest: Manifest, model: ModelSpec, spec: VariantSpec, *, plugin: str, manifest_path: str
    ) -> "Variant":
        def pick(name: str) -> Any:
            value = getattr(spec, name)
            return getattr(model, name) if value is None else value

        lora = spec.lora if spec.lora is not None else (model.lora if spec.backend == "gpu" else None)
        files, recipe = pick("files"), (None if spec.ready_made else pick("recipe"))
        return cls(
            id=spec.id,
            family=manifest.family,
            model=model.name,
            aliases=spec.aliases,
            model_aliases=model.aliases,
            description=spec.description or model.description,
            license=spec.license or model.license,
            backend=spec.backend,
            accelerator=spec.accelerator or spec.backend,
            quantization=spec.quantization,
            format=spec.format,
            platforms=pick("platforms"),
            min_device_ram_mb=pick("min_device_ram_mb"),
            inference=pick("inference"),
            source=pick("source"),
            files=files,
            recipe=recipe,
            bundle=None if spec.ready_made else pick("bundle"),
            lora=None if spec.ready_made else lora,
            outputs=_effective_outputs(spec, files, recipe),
            notes=model.notes,
            expect=model.expect | (spec.expect or {}),
            default_rank=model.defaults.index(spec.id) if spec.id in model.defaults else None,
            by_reference=model.by_reference,
            plugin=plugin,
            manifest_path=manifest_path,
        )


def _effective_outputs(spec: VariantSpec, files: list[FileSpec], recipe: Recipe | None) -> list[OutputSpec]:
    """The outputs a variant's checks run on.

    A ready-made variant's outputs default to the weights files it downloads (files on the hub are
    rarely named `<id>.<format>`, and an output naming no real file would be checked never); a
    built variant's default to `<id>.<format>`. Whatever the manifest lists, every output also gets
    the checks the loaded verifiers declare for its format (`Catalog.checks_for`), so a file of a
    known format never goes unverified.
    """
    fmt = spec.format
    if spec.outputs:
        outputs = list(spec.outputs)
    elif recipe is None:
        weights = sorted((f for f in files if f.role == "weights"), key=lambda f: not f.path.endswith(f".{fmt}"))
        outputs = [OutputSpec(path=f.path) for f in weights] or [OutputSpec(path=f"{spec.id}.{fmt}")]
    else:
        outputs = [OutputSpec(path=f"{spec.id}.{fmt}")]
    return outputs
