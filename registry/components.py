"""What plugins register besides families: source kinds, converters, bundlers and verifiers.

Each is a small class with a `name`; plugins subclass it and register an instance. Modules that
define components must stay light to import: heavy libraries are imported inside methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

if TYPE_CHECKING:
    from .manifest import FileSpec, OutputSpec, Variant


class Component:
    """Base of everything a plugin registers by name."""

    kind: ClassVar[str] = "component"
    """What it is: source, converter, bundler, verifier, runtime or format (set by each base class)."""
    name: ClassVar[str] = ""
    """The name manifests and `zoo plugins` use for it; unique per kind across all plugins."""
    description: ClassVar[str] = ""
    """One line `zoo plugins` shows."""


@dataclass
class Transfer:
    """One file a source will deliver: either a URL zoo downloads (resumably), or a callable that
    returns where the file already is on this machine (zoo copies it in, hashing as it reads:
    the store never links or changes a file it did not write itself)."""

    path: str
    """The file's path inside the artifact (the manifest's `files.path`)."""
    size: int | None
    """Its size in bytes when known; a download of another size is refused."""
    partial_key: str
    """Stable across runs, so a crashed download resumes from its partial file."""
    url: str | None = None
    """Where zoo downloads it from (https, or http on a loopback address); None when `fetch` delivers it."""
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    """Sent with `url` only; may hold credentials, so never printed or recorded."""
    fetch: Callable[[], Path] | None = None
    """Returns where the file already is on this machine (a local source); zoo copies it in, hashing."""
    hub_sha256: str | None = None
    """The hub's own claim of the content's sha256 (a Hugging Face LFS ETag), checked too."""
    hub_git_sha1: str | None = None
    """The hub's git blob id for small non-LFS files, always checked (the store finds blobs by it later)."""
    ca_certs: str | None = None
    """A CA bundle (PEM) to trust for `url` instead of the default one, e.g. a team registry's own."""
    archive_member: str | None = None
    """`url` serves a zip that holds the file as this member (Kaggle zips some single files);
    zoo downloads the zip, bounded, and takes the member out, bounded by the file's size."""


@dataclass
class FetchPlan:
    transfers: list[Transfer]
    """One Transfer per file to deliver."""
    resolved: dict[str, Any] = field(default_factory=dict)
    """What a floating reference resolved to (commit, version), recorded in the entry and lock file."""
    files: list["FileSpec"] | None = None
    """The full file list when the source added files to the manifest's (allow-patterns); else None."""
    signature: bytes | None = None
    """A signature bundle the source found for these files (an OCI referrer `zoo push` attached). zoo
    keeps it (ZOO_HOME/signatures) only once the entry is installed and, when one is required, verified."""


@dataclass
class FetchContext:
    variant: "Variant"
    """The variant being fetched or built."""
    files: list["FileSpec"]
    """The files the manifest lists for it."""
    source_root: Path | None = None
    """For local sources: the directory given with --from, or the manifest's own directory."""
    timeout: float = 30.0
    """Seconds a source's own HTTP requests may wait (ZOO_HTTP_TIMEOUT)."""


class SourceKind(Component):
    """A place variant files come from; `name` is the manifest's `source.kind`."""

    kind = "source"
    options: ClassVar[Any] = None
    """A pydantic model (subclass registry.api.SourceOptions) of the keys a manifest's source table
    holds besides `kind`; zoo validates every manifest against it when families register, so a bad
    key is a manifest error naming the key and the fix. None: the kind takes no keys it checks."""
    needs_from: ClassVar[bool] = False
    """True when the files are a directory the user must give (`--from DIR`) unless the manifest names one."""

    url_scheme: ClassVar[str | None] = None
    """A URL scheme this source answers for on the command line (`zoo pull oci://...`): it then
    implements `remote_variant`, and may implement `publish` (`zoo push`)."""

    def remote_variant(self, url: str, *, insecure: bool = False) -> "Variant":
        """The ready-made variant a URL of `url_scheme` holds, described from what the remote says
        (untrusted: validate it), with its files' digests so every byte is checked as it arrives."""
        raise NotImplementedError(f"source '{self.name}' has no URLs")

    def publish(self, directory: Path, entry: Any, target: str, *, variant: dict | None, insecure: bool,
                reporter: Any) -> dict[str, Any]:
        """Upload a stored artifact (its files in `directory`, its store `entry`, its catalog `variant`
        row when known) to `target` (`zoo push`); returns what was written (reference, digest, counts)."""
        raise NotImplementedError(f"source '{self.name}' cannot publish")

    reference_syntax: ClassVar[str | None] = None
    """How users name one repo of this source on the command line, e.g. 'ORG/REPO[@REVISION]'; set
    with `reference_options` to let a model's `by_reference` build from it (`zoo build hf:ORG/REPO`)."""

    def reference_options(self, reference: str) -> dict[str, Any]:
        """The source-table keys a user's reference stands for ('Qwen/Qwen3-0.6B@main' -> repo and
        revision). zoo merges them over the model's `by_reference` table and validates the result
        with `options`, so a malformed reference gets the options' own error and fix."""
        raise NotImplementedError(f"source '{self.name}' takes no references")

    def source_options(self, variant: "Variant") -> Any:
        """The variant's source table, typed by `options` (already validated at registration)."""
        extra = dict(variant.source.model_extra or {})
        return self.options.model_validate(extra) if self.options is not None else extra

    def local_directory(self, variant: "Variant") -> Path | None:
        """The directory on this machine the files already are in, which a build reads in place
        instead of copying into the store; None for a source that downloads."""
        return None

    def prepare(self, context: FetchContext) -> FetchPlan:
        """Check access and resolve every file, before a byte of weights moves.

        Raise AccessDeniedError naming the missing credential and the licence URL on 401/403.
        """
        raise NotImplementedError(f"source '{self.name}' cannot fetch files")


@dataclass(frozen=True)
class Toolchain:
    """An isolated environment a converter or runtime runs in, so conflicting stacks never meet.

    `requirements` are exact pins, pip's (`kind="pip"`, a virtual environment of Python `python`) or
    npm's (`kind="npm"`, `name@version` packages installed with the machine's npm, whose jobs run
    under its `node`). `locks` is a directory of committed locks made from them (`zoo toolchain lock
    NAME`): per-platform pip requirements files with every package hashed, or npm's package.json and
    package-lock.json. A toolchain with locks installs from them and nothing else, and its
    environment is keyed by the lock's digest; one without is keyed by its requirements.
    """

    name: str
    """The toolchain's name, also its folder under ZOO_TOOLCHAINS."""
    requirements: tuple[str, ...]
    """pip requirement lines; installed with --require-hashes from the lock in `locks`."""
    python: str = "3.11"
    """The Python version the environment is made with (uv finds or fetches it)."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Lines `zoo toolchain list` shows (what the pins work around)."""
    probe: str | None = None
    """Code that must run in the environment (`zoo toolchain doctor`), e.g. an import: Python for a pip
    toolchain, an ES module for an npm one. What it prints on its last line is shown as a finding."""
    kind: str = "pip"
    """pip: a venv from the lock; npm: a node_modules folder from package-lock.json."""
    locks: Path | None = None
    """The folder holding its committed, hashed lock (requirements.lock or package-lock.json)."""


@dataclass(frozen=True)
class Param:
    """A build option a component accepts: a key of the recipe's `params`, and `--param KEY=VALUE`.

    `type` is str, int, float, bool, list[int] or list[str] (a list is written `8,32` on the command
    line). zoo checks and converts every value once, before anything is fetched, and `zoo info`
    lists the options with their descriptions.
    """

    description: str
    """What the option does, shown by `zoo info` and in refusals."""
    type: Any = str
    """str, int, float or bool: what `--param KEY=VALUE` text is turned into (`zoo plugins check` refuses others)."""
    default: Any = None
    """The value when neither the recipe nor `--param` sets it."""


@dataclass(frozen=True)
class LoraAdapter:
    """A LoRA adapter for the build: its weights (adapter_model.safetensors; in `plan`, whatever the
    converter's `prepare_lora` made of it), its rank, and PEFT's adapter_config.json when the user
    gave the adapter's folder (or the config sits beside the file)."""

    path: Path
    """The adapter_model.safetensors file the user gave."""
    rank: int
    """Its LoRA rank, read from the file (or `--lora-rank`)."""
    config: Path | None = None
    """PEFT's adapter_config.json when one sits beside it."""


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build was asked for besides the variant, typed and merged once by zoo."""

    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The declared options' defaults, overridden by the recipe's params, overridden by --param."""
    lora: LoraAdapter | None = None
    """The adapter `--lora` gave, when the converter supports LoRA."""
    from_dir: Path | None = None
    """The user's checkpoint directory (`--from DIR`), before anything is read; else None."""
    force: bool = False
    """The user asked to build even where the machine looks too small (`--force`)."""


@dataclass
class BuildRequest:
    """What the build pipeline hands a converter, bundler or runtime check."""

    variant: "Variant"
    """The variant being fetched or built."""
    inputs_dir: Path
    """The input files under their manifest names (the store's inputs entry, or --from DIR)."""
    work_dir: Path
    """Scratch space on the store's file system; deleted after the build."""
    options: BuildOptions = field(default_factory=BuildOptions)
    """The converter's typed options (recipe params, --param, LoRA, --from)."""
    outputs: dict[str, Path] = field(default_factory=dict)
    """Artifact path -> produced file, filled in as steps run (bundlers and checks read it)."""


@dataclass
class Job:
    """One child-process step: a standalone runner script and its JSON request (registry/child.py).

    The runner talks to zoo with `zoo_runner` (emit, progress, result, fail, read_request), which
    zoo puts on its path."""

    runner: Path
    """The runner script the child Python executes; it reads the request with `zoo_runner.read_request()`."""
    request: dict[str, Any]
    """JSON-serialisable data the runner receives."""
    what: str
    """Names the step in messages, e.g. 'FALCON_RW_1B conversion'."""
    outputs: dict[str, Path] = field(default_factory=dict)
    """Artifact path -> the file the step writes."""
    ram_gb: float | None = None
    """Peak RAM the job needs, named when the kernel kills it for want of memory."""
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Outputs beyond the variant's (a LoRA weights file): artifact path -> the facts their checks
    verify (an output's `expect`). Each gets its format's default checks."""


class Converter(Component):
    """Turns fetched inputs into an on-device artifact, inside its own toolchain."""

    kind = "converter"
    toolchain: ClassVar[Toolchain]
    """The isolated environment its jobs run in, created from the toolchain's lock."""
    produces: ClassVar[tuple[str, ...]] = ()
    """The formats its jobs write (registered format names); a job planning another file is refused, and a
    recipe none of whose steps writes the variant's format is refused before anything is fetched."""
    parameters: ClassVar[Mapping[str, Param]] = MappingProxyType({})
    """The options it accepts (recipe params and --param); any other key is refused."""
    supports_lora: ClassVar[bool] = False
    """True when it converts LoRA adapters (`--lora`): it then implements `prepare_lora`."""
    context_option: ClassVar[str | None] = None
    """The option that sets the built model's context (KV-cache) length, recorded in provenance as
    `context_length` so `zoo run` gives the runtime the length the model was built for."""
    input_files: ClassVar[tuple[str, ...]] = ()
    """Suffixes of single files `--from FILE` may name instead of a checkpoint folder (".gguf"); the
    converter then implements `plan_checkpoint`."""

    def validate(self, variant: "Variant", options: BuildOptions) -> None:
        """Refuse an unsupported combination (BuildError with the fix) before anything is fetched."""

    def notes(self, variant: "Variant", options: BuildOptions) -> list[str]:
        """Lines zoo shows before the build starts and records in provenance (e.g. "this architecture
        is not verified"); called after `validate`."""
        return []

    def check_inputs(self, variant: "Variant", inputs_dir: Path, options: BuildOptions) -> list[str]:
        """Look at the inputs once they are on this machine (fetched into the store, or --from DIR) and
        before any toolchain starts: raise BuildError to refuse them (e.g. not a causal LM), return
        notes to show and record (e.g. "this architecture is not verified")."""
        return []

    def prepare_lora(self, variant: "Variant", adapter: Path, rank: int, work_dir: Path) -> Path:
        """What the converter's runner reads (e.g. the weights with their tensors renamed, or a folder
        PEFT loads), made in `work_dir`; `plan` then finds it as `request.options.lora.path`.
        `adapter` is the adapter_model.safetensors; PEFT's adapter_config.json, when the user gave
        one, sits beside it."""
        return adapter

    def plan_checkpoint(self, source: Path, output_dir: Path) -> Job:
        """The job (in this converter's toolchain) that turns a single input file of one of its
        `input_files` kinds into the checkpoint folder `output_dir`, which the build then reads like
        any `--from DIR`. Raise BuildError, before any job, for a file it cannot take."""
        raise NotImplementedError(f"converter '{self.name}' takes no single-file inputs")

    def plan(self, request: BuildRequest) -> Job:
        """The job that converts: a runner script, its request, and the outputs it writes into
        `request.work_dir` (of the formats `produces` declares)."""
        raise NotImplementedError(f"converter '{self.name}' has no implementation yet")


class Bundler(Component):
    """Packs converted weights with the tokenizer and metadata into one file."""

    kind = "bundler"
    toolchain: ClassVar[Toolchain | None] = None
    """The environment its jobs run in; None runs them with zoo's own Python."""
    produces: ClassVar[str] = ""
    """The one format its job writes (a registered format's name), checked as a converter's `produces` is."""

    def plan(self, request: BuildRequest) -> Job:
        """The job that bundles `request.outputs` (what the converter and earlier bundlers wrote) into one
        file of the format `produces` names."""
        raise NotImplementedError(f"bundler '{self.name}' has no implementation yet")


class Format(Component):
    """A file format a variant's main artifact may have, registered like any component, so a plugin can
    add one: its file names end in `suffix`, and every file of it gets the check `verifier` names."""

    kind = "format"
    suffix: ClassVar[str] = ""
    """The ending of its files' names, dot included, e.g. ".litertlm"; a manifest's main output must end in it."""
    verifier: ClassVar[str | None] = None
    """The structural check (a registered verifier's name) every file of this format gets, pulled, built or
    imported; None when only the verifiers that list it in `formats` with `by_default` check it."""
    platforms: ClassVar[tuple[str, ...]] = ("android", "ios")
    """Where its files run, said of a file `zoo import` takes (the file itself says no more)."""


class Verifier(Component):
    """Proves an output is what its manifest says; `name` is the check's name in `outputs.checks`."""

    kind = "verifier"
    formats: ClassVar[tuple[str, ...]] = ()
    """The artifact formats (bin, task, tflite, litertlm, or a plugin's own) it handles."""
    by_default: ClassVar[bool] = False
    """True for a structural check every output of its `formats` gets, listed in `checks` or not
    (so no file of a known format goes unchecked). A default check that runs the model is run by
    builds only, on the outputs it `applies_to`; a pull runs none."""
    runs_model: ClassVar[bool] = False
    """True when the check executes the artifact in its runtime, not only reads its structure."""
    toolchain: ClassVar[Toolchain | None] = None
    """Where a check that runs the model executes; None means in zoo's own process."""

    def check(self, path: Path, variant: "Variant", output: "OutputSpec") -> list[str]:
        """Problems found in `path` (empty when it passes). Structural checks must not import heavy stacks."""
        raise NotImplementedError(f"check '{self.name}' has no implementation in zoo's process")

    def plan(self, request: BuildRequest, output: "OutputSpec", path: Path) -> Job:
        """For checks that run the model: the job that runs it in the toolchain (its result holds 'problems')."""
        raise NotImplementedError(f"check '{self.name}' cannot run the model yet")

    def applies_to(self, variant: "Variant", output: "OutputSpec") -> bool:
        """For a default check that runs the model (`by_default` and `runs_model`): whether a build of
        `variant` runs it on `output`, e.g. only gpu variants that target the Web. Pulls never run it."""
        return True

    def ready(self, environment: Any) -> None:
        """Before a build converts anything: raise a ZooError saying what to install when this machine
        cannot run the check (a browser, a device). `environment` is its toolchain's, or None."""


class Runtime(Component):
    """Generates text with an artifact of the formats it lists, in its toolchain (`zoo run`).

    A runtime without a toolchain runs its job with zoo's own interpreter."""

    kind = "runtime"
    formats: ClassVar[tuple[str, ...]] = ()
    """The artifact formats (bin, task, tflite, litertlm, or a plugin's own) it handles."""
    toolchain: ClassVar[Toolchain | None] = None
    """The environment its jobs run in; None runs them with zoo's own Python."""

    supports_chat: ClassVar[bool] = False
    """True when it implements `plan_chat` (`zoo run --chat`)."""
    starts_early: ClassVar[bool] = False
    """True when the runners of its `plan` and `plan_chat` jobs import their runtime first and then read
    the request with `zoo_runner.read_request()`: `zoo run` may then start the runner its last run used
    before it has parsed its arguments, and hand it the request on stdin (registry/warm_start.py)."""
    check_tokens: ClassVar[int] = 8
    """What `zoo verify --run` asks it to generate (`max_tokens` of `plan`): enough to prove decoding."""
    serves_page: ClassVar[bool] = False
    """True when it implements `plan_page` (`zoo web ID`)."""
    supports_bench: ClassVar[bool] = False
    """True when it implements `plan_bench` (`zoo bench ID`)."""
    supports_serve: ClassVar[bool] = False
    """True when it implements `plan_serve` (`zoo serve`)."""

    def ready(self, environment: Any) -> None:
        """Before a job: raise a ZooError saying what to install when this machine cannot run it."""

    def plan_page(self, artifact: Path, title: str, prompt: str, defaults: dict[str, Any], port: int = 0) -> Job:
        """The job that serves a page to try the model in a browser: it reports the page's URL in a
        progress message ("... at http://...") and runs until zoo stops it."""
        raise NotImplementedError(f"runtime '{self.name}' serves no page")

    def plan(self, artifact: Path, prompt: str, max_tokens: int, context: int) -> Job:
        """The job that prints the generated text; its result holds {"text": ...}."""
        raise NotImplementedError(f"runtime '{self.name}' cannot generate")

    def plan_bench(self, artifact: Path, runs: int, prefill_tokens: int, decode_tokens: int, context: int) -> Job:
        """The job that measures the artifact `runs` times on this machine; its result holds {"runs": [{
        "load_seconds", "time_to_first_token_seconds", "prefill_tokens_per_second", "decode_tokens_per_second"},
        ...], "runtime_version": ...}."""
        raise NotImplementedError(f"runtime '{self.name}' has no benchmark")

    def plan_serve(self, artifact: Path, context: int) -> Job:
        """The job that loads the artifact once, emits a "ready" event, then answers requests read with
        zoo_runner.next_request() one at a time until zoo closes its stdin. A request is {"id", "kind":
        "chat" (with "messages") or "completion" (with "prompt"), "max_tokens", "temperature", "top_p",
        "top_k", "seed", "stop"}; its answer is "text" events carrying its id, then "done" (finish_reason,
        completion_tokens, prompt_tokens) or "failed" (message), after which the engine serves the next
        request."""
        raise NotImplementedError(f"runtime '{self.name}' cannot serve")

    def plan_chat(self, artifact: Path, max_tokens: int, context: int, prompt: str | None = None) -> Job:
        """The job that holds a conversation through the artifact's own chat template: it asks for each
        user message with zoo_runner.next_turn() (just `prompt`, when given) and sends each reply with
        zoo_runner.text(). Fail with the fix when the artifact carries no chat template."""
        raise NotImplementedError(f"runtime '{self.name}' cannot chat")
