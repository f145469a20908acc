"""`zoo build`: fetch inputs, convert, bundle, verify and install, with a build cache and provenance.

Every heavy step is a child process in its toolchain (registry/child.py), writing into a scratch
directory on the store's file system; outputs enter the store only after every check passes, so a
crash, a refusal or a failed check leaves nothing behind. The cache key covers the input digests,
the recipe, the toolchain locks, the LoRA adapter and zoo's version: an unchanged rebuild answers
from the store, and any change rebuilds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from . import __version__, params, references, settings, toolchains
from . import lora as lora_files
from .catalog import Catalog
from .child import available_ram_bytes, machine_ram_bytes, run_job
from .components import BuildOptions, BuildRequest, Job, LoraAdapter
from .download import file_sha256
from .errors import BuildError, NeedsBuildError, PluginError, ReadyMadeError, ZooError
from .fetch import fetch_inputs, run_structural_checks
from .reporting import QuietReporter, Reporter
from .fsutil import write_atomically
from .manifest import OutputSpec, Variant
from .store import Entry, EntryFile, default_store

if TYPE_CHECKING:
    from .build_cache import BuildCache

PROVENANCE = "provenance.json"


@dataclass
class BuildFlags:
    """What the user asked `zoo build` for besides the variant."""

    from_dir: Path | None = None
    lora: Path | None = None
    lora_rank: int | None = None
    force: bool = False
    """Build even when the machine has less RAM or disk than the recipe needs."""
    rebuild: bool = False
    """Ignore the build cache."""
    run_checks: bool = True
    """Run the checks that run the model (`--no-run-check` skips them; provenance says so)."""
    params: dict = field(default_factory=dict)
    """--param KEY=VALUE as given (text): options the converter declares, over the recipe's params."""
    cache: "BuildCache | None" = None
    """The team's build cache (`--cache`, ZOO_BUILD_CACHE), asked before anything converts."""
    cache_only: bool = False
    """Take the build from the store or the cache, or raise NeedsBuildError: what `zoo pull` of a variant that
    is built asks."""


@dataclass
class BuildResult:
    variant_id: str
    entry: Entry
    path: Path
    cache_hit: bool
    seconds: float
    provenance: dict = field(default_factory=dict)


# ------------------------------------------------------------------ inputs


def _digest_cache() -> dict:
    try:
        return json.loads((settings.get().cache_dir / "file-digests.json").read_text())
    except (OSError, ValueError):
        return {}


def digest_with_cache(path: Path, cache: dict) -> str:
    """sha256 of a local file, remembered by (size, mtime, inode, ctime) so a rebuild does not re-hash gigabytes."""
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
    key = str(path.resolve())
    if cache.get(key, [None])[:-1] == stamp:
        return cache[key][-1]
    digest = file_sha256(path)
    cache[key] = stamp + [digest]
    return digest


def inside_directory(directory: Path, rel: str) -> Path:
    """`directory / rel` when it stays inside `directory` (links included) and is no FIFO or device.

    A user's --from directory is untrusted: a link in it to /etc/shadow would be hashed and handed
    to the converter, and a FIFO would hang the build.
    """
    import stat

    candidate = directory / rel
    resolved = candidate.resolve()
    if not resolved.is_relative_to(directory):
        raise BuildError(
            f"{candidate} points outside {directory} (a link to {resolved}); zoo does not follow links out of a --from directory.",
            fix="Copy the real file into the directory instead of linking to it.",
        )
    try:
        mode = resolved.stat().st_mode
    except OSError:
        return resolved
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise BuildError(f"{candidate} is not a regular file (a FIFO, socket or device).", fix="Replace it with the real file.")
    return resolved


def local_inputs(variant: Variant, directory: Path, *, users: bool = False) -> list[dict]:
    """The input files in `directory`, hashed and checked against the manifest.

    The manifest's own folder (the demo's) must hold the files it lists, with the sizes and digests
    it pins. A user's --from folder (`users`) holds a checkpoint as its trainer saved it: weights in
    any shards (one model.safetensors, any count, an index.json), which the converter checks
    tensor by tensor (Converter.validate); the tokenizer files must be there by name, a config
    (config.json, which only checks' references read) may be missing; the hub's pins do not apply to
    a fine-tune's bytes. Every regular file is an input.
    """
    directory = directory.expanduser().resolve()
    if not directory.is_dir():
        raise BuildError(f"--from {directory} is not a directory.", fix="Pass the checkpoint's directory.")
    required = [f for f in variant.files if not (users and f.role in ("weights", "config"))]
    missing = [f.path for f in required if not inside_directory(directory, f.path).is_file()]
    if missing:
        raise BuildError(
            f"{directory} lacks {', '.join(missing)}, which {variant.id} needs.",
            fix=f"Put the files of the model's checkpoint there (`zoo info {variant.id}` lists them).",
        )
    if variant.files and not users:
        paths = [f.path for f in variant.files]
    else:  # every regular file, hidden ones aside
        paths = sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                       if not any(part.startswith(".") for part in p.relative_to(directory).parts)
                       and inside_directory(directory, str(p.relative_to(directory))).is_file())
        if not paths:
            raise BuildError(f"{directory} is empty.", fix="Pass a checkpoint directory (config.json, safetensors, tokenizer).")
    cache = _digest_cache()
    pins = {} if users else {f.path: f for f in variant.files}
    files = []
    for rel in paths:
        path = directory / rel
        size = path.stat().st_size
        digest = digest_with_cache(path, cache)
        pin = pins.get(rel)
        if pin and pin.size and pin.size != size:
            raise BuildError(f"{path} has {size} bytes; the manifest expects {pin.size}.",
                             fix="Use the checkpoint the manifest names, or re-download that file.")
        if pin and pin.sha256 and pin.sha256 != digest:
            raise BuildError(f"{path} has sha256 {digest}; the manifest expects {pin.sha256}.",
                             fix="Use the checkpoint the manifest names, or re-download that file.")
        files.append({"path": rel, "sha256": digest, "size": size})
    write_atomically(settings.get().cache_dir / "file-digests.json", json.dumps(cache))
    return files


# ------------------------------------------------------------------ key and checks


def build_key(variant: Variant, inputs: list[dict], environments: dict, lora: dict | None, params: dict | None = None) -> str:
    recipe = {
        "id": variant.id,
        "backend": variant.backend,
        "quantization": variant.quantization_label,
        "format": variant.format,
        "recipe": variant.recipe.model_dump(mode="json") if variant.recipe else None,
        "bundle": variant.bundle.model_dump(mode="json") if variant.bundle else None,
        "outputs": [o.model_dump(mode="json") for o in variant.outputs],
        "expect": variant.expect,
    }
    data = {
        "zoo": __version__,
        "variant": recipe,
        "inputs": sorted((f["path"], f["sha256"]) for f in inputs),
        "toolchains": {name: env if isinstance(env, str) else env.lock_digest for name, env in sorted(environments.items())},
        "lora": lora,
        "params": params or {},
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def check_resources(variant: Variant, force: bool) -> None:
    recipe = variant.recipe
    if force or recipe is None:
        return
    model = recipe.params.get("model_type") or variant.model
    if recipe.ram_gb and machine_ram_bytes() < recipe.ram_gb * 1e9:
        raise BuildError(
            f"{model} needs about {recipe.ram_gb:g} GB of RAM to convert; this machine has "
            f"{machine_ram_bytes() / 1e9:.1f} GB ({available_ram_bytes() / 1e9:.1f} GB free).",
            fix="Use a machine with more memory, or pass --force to try anyway (it may be killed midway).",
        )
    if recipe.disk_gb:
        free = shutil.disk_usage(settings.get().home if settings.get().home.exists() else Path.home()).free
        if free < recipe.disk_gb * 1e9:
            raise BuildError(
                f"Building {variant.id} needs about {recipe.disk_gb:g} GB of free disk under {settings.get().home}; "
                f"{free / 1e9:.1f} GB are free.",
                fix="Free space (`zoo gc` removes unused blobs), set ZOO_HOME to a larger disk, or pass --force.",
            )


# ------------------------------------------------------------------ the pipeline


def build(catalog: Catalog, variant: Variant, options: BuildFlags | None = None, reporter: Reporter | None = None) -> BuildResult:
    """Build `variant`: its plan, its inputs, its toolchains, then the steps, unless the store already holds the
    same build (same key) whole."""
    options = options or BuildFlags()
    reporter = reporter or QuietReporter()
    started = time.monotonic()
    plan = _plan(catalog, variant, options, reporter)
    timings: dict[str, float] = {}
    lora = None
    if plan.adapter is not None:
        lora = {"file": plan.adapter.path.name, "sha256": lora_files.digest(plan.adapter), "rank": plan.adapter.rank,
                "config": plan.adapter.config is not None}
    epoch = settings.get().source_date_epoch
    key_params = dict(plan.merged) | ({} if options.run_checks else {"(no run check)": True}) | {"(source date)": epoch}
    inputs, shared = _inputs_or_shared_build(catalog, variant, plan, options, lora, key_params, reporter, timings)
    if shared is not None:
        entry, provenance = shared
        return BuildResult(variant.id, entry, default_store().artifact_dir(entry.id) / entry.main, True,
                           time.monotonic() - started, provenance)
    environments = _ready_toolchains(plan, reporter)
    key = build_key(variant, inputs.files, environments, lora, key_params)
    entry_id = _entry_id(variant, options.from_dir, inputs.derived_from, inputs.files, lora)
    store = default_store()
    with store.lock(f"variant-{entry_id}"):
        existing = store.entry(entry_id)
        if existing is not None and not options.rebuild and existing.source.get("build_key") == key:
            if _cached_build(store, existing, reporter):
                return BuildResult(variant.id, existing, store.artifact_dir(entry_id) / existing.main, True,
                                   time.monotonic() - started, _read_provenance(store, existing))
        check_resources(variant, options.force)
        work = settings.get().home / "builds" / f"{entry_id}.{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            outputs, output_specs, steps, checks = _run_steps(
                store, catalog, variant, plan.converter, plan.bundlers, environments, inputs.directory, work,
                plan.options, reporter, timings, options.run_checks,
                reproducible={"SOURCE_DATE_EPOCH": str(epoch), "ZOO_BUILD_KEY": key})
            provenance = _provenance(variant, entry_id, key, plan, inputs, options, lora, environments, steps, checks,
                                     timings)
            entry = _install(store, variant, entry_id, key, outputs, output_specs, provenance, started)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return BuildResult(variant.id, entry, store.artifact_dir(entry_id) / entry.main, False, time.monotonic() - started,
                       provenance)


def _inputs_or_shared_build(catalog: Catalog, variant: Variant, plan: "_Plan", flags: BuildFlags, lora: dict | None,
                            key_params: dict, reporter: Reporter, timings: dict) -> tuple["_Inputs | None", tuple | None]:
    """The build's inputs, or the same build already made (this store or the team's cache). When the manifest
    or zoo.lock pins every input, the cache is asked before any input is fetched."""
    pinned = _pinned_inputs(variant, flags) if flags.cache is not None else None
    if pinned is not None:
        shared = _from_build_cache(catalog, variant, plan, _Inputs(Path(), pinned, {}, None), flags, lora, key_params,
                                   reporter)
        if shared is not None or flags.cache_only:
            return None, shared or _needs_build(variant, flags)
    step = time.monotonic()
    inputs = _gather_inputs(catalog, variant, plan, flags, reporter)
    timings["fetch"] = time.monotonic() - step
    same = pinned is not None and {(f["path"], f["sha256"]) for f in pinned} == {(f["path"], f["sha256"]) for f in inputs.files}
    if flags.cache is not None and not same:  # the key the fetched inputs give was not asked yet
        shared = _from_build_cache(catalog, variant, plan, inputs, flags, lora, key_params, reporter)
        if shared is not None:
            return inputs, shared
    if flags.cache_only:
        _needs_build(variant, flags)
    return inputs, None


def _pinned_inputs(variant: Variant, flags: BuildFlags) -> list[dict] | None:
    """The inputs' digests as the manifest or zoo.lock pins them, when it pins every one (not a --from build)."""
    from .fetch import expected_digests, inputs_entry_id

    if flags.from_dir is not None or variant.recipe is None:
        return None
    expected = expected_digests(variant, lock_key=inputs_entry_id(variant))
    if not expected or any(not sha for sha, _, _ in expected.values()):
        return None
    return [{"path": path, "sha256": sha} for path, (sha, _, _) in expected.items()]


def _needs_build(variant: Variant, flags: BuildFlags):
    raise NeedsBuildError(f"{variant.id} is not published ready-made, and the build cache "
                          f"{flags.cache.url if flags.cache else ''} has no build of it with these inputs.",
                          fix=f"Run `zoo build {variant.model} --backend {variant.backend} --quant "
                          f"{variant.quantization_label}`; with the cache set, the build is shared for the next one.")


def _from_build_cache(catalog: Catalog, variant: Variant, plan: "_Plan", inputs: "_Inputs", flags: BuildFlags,
                      lora: dict | None, key_params: dict, reporter: Reporter) -> tuple[Entry, dict] | None:
    """The same build from this store or the team's cache, found by the key the committed toolchain locks
    give, before any toolchain is made; None to build here (a miss, or a cache entry refused)."""
    from . import build_cache

    if flags.cache is None or flags.rebuild:
        return None
    locks = build_cache.planned_locks([plan.converter] + plan.bundlers + plan.runtime_checks)
    if locks is None:
        reporter.message("a toolchain of this build has no committed lock here, so the build cache is not asked")
        return None
    key = build_key(variant, inputs.files, locks, lora, key_params)
    entry_id = _entry_id(variant, flags.from_dir, inputs.derived_from, inputs.files, lora)
    store = default_store()
    with store.lock(f"variant-{entry_id}"):
        existing = store.entry(entry_id)
        if existing is not None and existing.source.get("build_key") == key and _cached_build(store, existing, reporter):
            return existing, _read_provenance(store, existing)
    try:
        return build_cache.lookup(catalog, flags.cache, key, entry_id, reporter)
    except ZooError as exc:
        reporter.message(f"the build cache's entry was refused ({exc.message}); building here instead")
        return None


@dataclass
class _Plan:
    """The components a build uses and the options they get, settled before any byte is fetched."""

    converter: object
    adapter: LoraAdapter | None
    merged: dict
    options: BuildOptions
    notes: list[str]
    bundlers: list
    runtime_checks: list


def _plan(catalog: Catalog, variant: Variant, flags: BuildFlags, reporter: Reporter) -> _Plan:
    if variant.prebuilt:
        raise ReadyMadeError(f"{variant.id} is published ready-made; there is nothing to build.",
                             fix=f"Run `zoo pull {variant.id}`.")
    converter = catalog.component("converter", variant.recipe.converter)
    if converter is None:
        raise ZooError(f"{variant.id} is built with the '{variant.recipe.converter}' converter, which no loaded plugin "
                       "provides.", fix="Install the plugin that provides it; `zoo plugins` shows what is loaded.")
    adapter = _lora_adapter(catalog, variant, flags, converter)
    merged = params.merge(converter.name, converter.parameters, variant.recipe.params, flags.params, variant=variant.id)
    from_dir = flags.from_dir.expanduser().resolve() if flags.from_dir is not None else None
    typed = BuildOptions(merged, adapter, from_dir, flags.force)
    converter.validate(variant, typed)
    notes = list(converter.notes(variant, typed))
    for note in notes:
        reporter.message(note)
    bundlers = [_component(catalog, "bundler", name, variant) for name in (variant.bundle.bundlers if variant.bundle else [])]
    runtime_checks = [
        _component(catalog, "verifier", check, variant)
        for output in variant.outputs for check in catalog.build_checks_for(variant, output)
        if flags.run_checks and getattr(catalog.component("verifier", check), "runs_model", False)
    ]
    _refuse_unreachable_format(catalog, variant, converter, bundlers)
    return _Plan(converter, adapter, merged, typed, notes, bundlers, runtime_checks)


def _declared(component) -> tuple[str, ...]:
    """The formats a converter or bundler says it writes (`produces`); empty when it says nothing."""
    produces = component.produces
    return (produces,) if isinstance(produces, str) and produces else tuple(produces or ())


def _refuse_unreachable_format(catalog: Catalog, variant: Variant, converter, bundlers: list) -> None:
    """A recipe whose converter and bundlers all declare what they write, none of it the variant's format,
    cannot make its main artifact: refused before anything is fetched."""
    steps = [converter] + bundlers
    if any(not _declared(step) for step in steps):
        return
    if not any(variant.format in _declared(step) for step in steps):
        names = ", ".join(f"the {step.kind} '{step.name}' writes {'/'.join(_declared(step))}" for step in steps)
        raise BuildError(f"{variant.id} is a {variant.format} file, but its recipe makes none: {names}.",
                         fix="Fix the manifest's format, recipe or bundle (`zoo plugins` shows what each component writes).")


def _refuse_unexpected_outputs(catalog: Catalog, component, job: Job) -> None:
    """What a component plans to write must be of a format it declares (`produces`): a plugin whose job
    would write something else is refused, naming it, before the job runs."""
    declared = _declared(component)
    if not declared:
        return
    for name in job.outputs:
        fmt = catalog.format_of(name)
        if fmt not in declared:
            plugin = catalog.components.get(component.kind, {}).get(component.name, "?")
            raise PluginError(
                f"The {component.kind} '{component.name}' (plugin {plugin}) planned to write {name}, "
                f"{'a ' + fmt if fmt else 'no registered format'} file, but declares that it produces "
                f"{', '.join(declared)} only; nothing was run.",
                fix="This is a bug in that plugin: report it to its authors.")


@dataclass
class _Inputs:
    directory: Path
    files: list[dict]
    source: dict
    derived_from: dict | None


def _gather_inputs(catalog: Catalog, variant: Variant, plan: _Plan, flags: BuildFlags, reporter: Reporter) -> _Inputs:
    """The checkpoint the converter reads: a `--from` file or folder, or the manifest's inputs fetched into the store.

    A `--from` file becomes a folder the converter can read (plan.options follows it)."""
    from_dir = plan.options.from_dir
    derived_from = None
    if from_dir is not None and from_dir.is_file():
        derived_from, from_dir = _checkpoint_from_file(plan.converter, from_dir, reporter)
        plan.options = dataclasses.replace(plan.options, from_dir=from_dir)
    local = _local_directory(catalog, variant, from_dir)
    if local is not None:
        # A directory on this machine is read in place and checked against the manifest's pins;
        # copying a multi-GB checkpoint into the store first would only cost time and disk.
        files = local_inputs(variant, local, users=flags.from_dir is not None)
        source = {"kind": "local", "path": str(local)} | ({"derived_from": derived_from} if derived_from else {})
        inputs = _Inputs(local, files, source, derived_from)
    else:
        fetched = fetch_inputs(catalog, variant, reporter=reporter)
        inputs = _Inputs(default_store().artifact_dir(fetched.variant_id), [f.__dict__ for f in fetched.entry.files],
                         fetched.entry.source | {"store_entry": fetched.variant_id}, None)
    found = plan.converter.check_inputs(variant, inputs.directory, plan.options)
    for note in found:
        reporter.message(note)
    plan.notes += found
    return inputs


def _ready_toolchains(plan: _Plan, reporter: Reporter) -> dict:
    """Each toolchain the build's components need, created from its lock when missing; a run check this
    machine cannot run fails now, not after the conversion."""
    specs = {}
    for component in [plan.converter] + plan.bundlers + plan.runtime_checks:
        if component.toolchain is not None:
            specs[component.toolchain.name] = component.toolchain
    environments = {name: toolchains.ensure(spec, reporter.message) for name, spec in specs.items()}
    for check in plan.runtime_checks:
        check.ready(environments.get(check.toolchain.name) if check.toolchain is not None else None)
    return environments


def _provenance(variant: Variant, entry_id: str, key: str, plan: _Plan, inputs: _Inputs, flags: BuildFlags,
                lora: dict | None, environments: dict, steps: list, checks: list, timings: dict) -> dict:
    """What provenance.json says of a build: enough to know what went in and to run it again."""
    converter = plan.converter
    command = " ".join(["zoo", *sys.argv[1:]]) if Path(sys.argv[0]).name in ("zoo", "__main__.py") else None
    return {
        "format": 1,
        "variant": variant.id,
        "entry": entry_id,
        "zoo_version": __version__,
        "command": command,
        "build_key": key,
        "built_at": time.time(),
        "inputs": {"source": inputs.source, "files": inputs.files},
        "recipe": variant.recipe.model_dump(mode="json"),
        "backend": variant.backend,
        "quantization": variant.quantization_label,
        "bundle": variant.bundle.model_dump(mode="json") if variant.bundle else None,
        "lora": lora,
        "params": dict(flags.params),
        "options": dict(plan.merged),
        "context_length": plan.merged.get(converter.context_option) if converter.context_option else None,
        "notes": plan.notes,
        "run_checks": flags.run_checks,
        "toolchains": {name: env.describe() for name, env in environments.items()},
        "steps": steps,
        "checks": checks,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "outputs": [],
    }


def _cached_build(store, entry: Entry, reporter: Reporter) -> bool:
    """Whether an earlier build with the same key still stands in the store, bytes included: a cache hit
    vouches only for blobs whose fingerprint or digest it checked. Damaged ones go, and the build runs again."""
    damaged = store.damaged_files(entry)
    if damaged:
        reporter.message(f"{', '.join(damaged)} of the earlier build {entry.id} changed in the store since it was "
                         "verified; building it again.")
        with store.store_lock():
            store.drop_damaged_blobs(entry)
        return False
    if not all(store.linked_correctly(entry, f) for f in entry.files):
        with store.store_lock():
            store.install(entry)  # the artifact's names point at its blobs again
    return True


def _entry_id(variant: Variant, given: Path | None, derived_from: dict | None, inputs: list[dict], lora: dict | None) -> str:
    """Where a build lands in the store. A `--from` checkpoint gets an entry of its own, named after
    its folder or file and its content, so a second model never replaces the first; a LoRA merge
    gets one named after its adapter."""
    entry_id = variant.id
    if given is not None:
        if derived_from is not None:
            digest = derived_from["sha256"]
        else:
            listing = "".join(f"{f['path']}\0{f['sha256']}\n" for f in sorted(inputs, key=lambda f: f["path"]))
            digest = hashlib.sha256(listing.encode()).hexdigest()
        named = given.expanduser().resolve()
        entry_id += "." + references.checkpoint_slug(named.stem if named.is_file() else named.name, digest)
    if lora is not None:
        entry_id += f".lora-{lora['sha256'][:12]}"
    return entry_id


def _checkpoint_from_file(converter, source: Path, reporter: Reporter) -> tuple[dict, Path]:
    """A single input file (`--from model.gguf`) turned into a checkpoint folder by the converter, in its
    toolchain, once per file content and toolchain: ZOO_HOME/checkpoints/<sha256>-<converter>-<toolchain key>/.
    Returns what provenance records of the file, and the folder."""
    if not source.name.endswith(converter.input_files) or not converter.input_files:
        takes = f" or a {' / '.join(converter.input_files)} file" if converter.input_files else ""
        raise BuildError(f"--from {source} is a file; the {converter.name} converter takes a checkpoint directory{takes}.",
                         fix="Pass the folder save_pretrained wrote (config.json, *.safetensors, tokenizer files)"
                         + (f", or a {' / '.join(converter.input_files)} file." if converter.input_files else "."))
    digest = file_sha256(source)
    folder = settings.get().home / "checkpoints" / f"{digest}-{converter.name}-{toolchains.key(converter.toolchain)}"
    record = {"path": str(source), "sha256": digest, "size": source.stat().st_size}
    if (folder / ".complete").is_file():
        return record, folder
    staging = folder.with_name(folder.name + f".{os.getpid()}.partial")
    job = converter.plan_checkpoint(source, staging)  # refuses a file it cannot take before any toolchain exists
    environment = toolchains.ensure(converter.toolchain, reporter.message)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):  # one process at a time makes a given folder
        if (folder / ".complete").is_file():
            return record, folder
        job_dir = staging.with_suffix(".job")  # the runner's request and scratch, apart from other builds'
        shutil.rmtree(staging, ignore_errors=True)
        try:
            run_job(environment.interpreter, job.runner, job.request, job_dir, what=job.what,
                    ram_gb=job.ram_gb, on_progress=reporter.message, env=environment.variables())
            write_atomically(staging / ".complete", json.dumps(record))
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(job_dir, ignore_errors=True)
    return record, folder


def _local_directory(catalog: Catalog, variant: Variant, from_dir: Path | None) -> Path | None:
    """The checkpoint folder on this machine a build reads in place: --from DIR, or the one the
    variant's source kind names (a local source); None when the inputs are downloaded."""
    if from_dir is not None:
        return from_dir
    source = catalog.component("source", variant.source.kind)
    directory = source.local_directory(variant) if source is not None else None
    if directory is None and getattr(source, "needs_from", False):
        raise BuildError(f"{variant.id} is built from a checkpoint directory you give.",
                         fix=f"Pass it with --from DIR: `zoo build {variant.model} --from DIR`.")
    return directory


def _component(catalog: Catalog, kind: str, name: str, variant: Variant):
    found = catalog.component(kind, name)
    if found is None:
        raise ZooError(f"{variant.id} needs the {kind} '{name}', which no loaded plugin provides.",
                       fix="Install the plugin that provides it; `zoo plugins` shows what is loaded.")
    return found


def _lora_adapter(catalog: Catalog, variant: Variant, options: BuildFlags, converter) -> LoraAdapter | None:
    if options.lora is None:
        if options.lora_rank is not None:
            raise BuildError("--lora-rank was given without --lora.", fix="Add --lora ADAPTER_DIR.")
        return None
    if variant.lora is None or not converter.supports_lora:
        allowed = _lora_variants(catalog, variant)
        where = f"{variant.model} allows it for {', '.join(v for v, _ in allowed)}" if allowed else f"{variant.model} takes none"
        backends = {b for _, b in allowed}
        target = f"{variant.model} --backend {backends.pop()}" if len(backends) == 1 else (allowed[0][0] if allowed else "")
        raise BuildError(f"{variant.id} does not take LoRA adapters ({where}).",
                         fix=(f"Build one of those: `zoo build {target} --lora ADAPTER_DIR`." if allowed
                              else "Build without --lora, or pick a model whose manifest allows LoRA (`zoo info MODEL`)."))
    adapter = lora_files.read(options.lora, options.lora_rank)
    if not 1 <= adapter.rank <= variant.lora.max_rank:
        raise BuildError(f"LoRA rank {adapter.rank} is outside 1..{variant.lora.max_rank} for {variant.id}.",
                         fix=f"Use a rank up to {variant.lora.max_rank}.")
    return adapter


def _lora_variants(catalog: Catalog, variant: Variant) -> list[tuple[str, str]]:
    """(id, backend) of the model's variants that take LoRA adapters with a converter that supports them."""
    out = []
    for vid, row in catalog.rows.items():
        if row["model"] == variant.model and row["family"] == variant.family and row.get("lora") and row.get("recipe"):
            converter = catalog.component("converter", row["recipe"]["converter"])
            if converter is not None and converter.supports_lora:
                out.append((vid, row["backend"]))
    return out


def _run(job: Job, environments: dict, toolchain, work: Path, reporter: Reporter, steps: list, timings: dict, phase: str,
         reproducible: dict[str, str] | None = None):
    """Run one job in its toolchain; a component without one runs it with zoo's own interpreter.

    `reproducible` (SOURCE_DATE_EPOCH and ZOO_BUILD_KEY) tells a runner which time and identity to write
    into what it makes instead of now and a random one, so the same build gives the same bytes."""
    environment = environments[toolchain.name] if toolchain is not None else None
    python = environment.interpreter if environment is not None else Path(sys.executable)
    where = f"the {toolchain.name} toolchain" if toolchain is not None else "zoo's environment"
    reporter.message(f"{job.what} in {where} ...")
    variables = (environment.variables() if environment is not None else {}) | (reproducible or {})
    result = run_job(python, job.runner, job.request, work, what=job.what, ram_gb=job.ram_gb, on_progress=reporter.message,
                     env=variables)
    steps.append({"what": job.what, "toolchain": toolchain.name if toolchain is not None else None,
                  "seconds": round(result.seconds, 3), "peak_rss_bytes": result.peak_rss_bytes})
    timings[phase] = timings.get(phase, 0.0) + result.seconds
    return result


def _run_steps(store, catalog, variant, converter, bundlers, environments, inputs_dir, work, options: BuildOptions,
               reporter, timings, run_checks: bool = True, reproducible: dict[str, str] | None = None):
    output_specs = list(variant.outputs)
    if options.lora is not None:
        prepared = converter.prepare_lora(variant, options.lora.path, options.lora.rank, work / "lora")
        options = dataclasses.replace(options, lora=dataclasses.replace(options.lora, path=Path(prepared)))
    request = BuildRequest(variant, inputs_dir, work, options)
    steps: list[dict] = []
    job = converter.plan(request)
    _refuse_unexpected_outputs(catalog, converter, job)
    converted = _run(job, environments, converter.toolchain, work, reporter, steps, timings, "convert", reproducible)
    if converted.data:  # what the converter reports of its output (e.g. the metadata a bundle carries)
        steps[-1]["result"] = converted.data
    request.outputs.update(job.outputs)
    # Extra outputs a converter declares (a LoRA weights file) get their format's default checks.
    output_specs += [OutputSpec(path=path, expect=expect) for path, expect in job.checks.items()]
    for bundler in bundlers:
        job = bundler.plan(request)
        _refuse_unexpected_outputs(catalog, bundler, job)
        _run(job, environments, bundler.toolchain, work, reporter, steps, timings, "bundle", reproducible)
        request.outputs.update(job.outputs)
    started = time.monotonic()
    checks: list[dict] = []
    problems: list[str] = []
    fixes: list[str] = []  # a check that knows what to do about what it found says so in its result
    for spec in output_specs:
        path = request.outputs.get(spec.path)
        if path is None or not path.is_file():
            problems.append(f"{spec.path} was not produced")
            continue
        for found in run_structural_checks(catalog, variant, spec, path):
            problems.append(f"{spec.path}: {found}")
        for check in catalog.build_checks_for(variant, spec):
            verifier = catalog.component("verifier", check)
            if verifier is not None and verifier.runs_model and not run_checks:
                checks.append({"output": spec.path, "check": check, "runs_model": True, "skipped": "--no-run-check"})
            elif verifier is not None and verifier.runs_model:
                job = verifier.plan(request, spec, path)
                result = _run(job, environments, verifier.toolchain, work, reporter, steps, timings, "verify")
                problems += [f"{spec.path}: {check}: {p}" for p in result.data.get("problems", [])]
                if result.data.get("problems") and isinstance(result.data.get("fix"), str):
                    fixes.append(result.data["fix"])
                checks.append({"output": spec.path, "check": check, "runs_model": True, "details": result.data})
            elif verifier is not None:
                checks.append({"output": spec.path, "check": check, "runs_model": False})
    timings["verify"] = timings.get("verify", 0.0) + (time.monotonic() - started)
    if problems:
        raise BuildError(
            f"The built {variant.id} failed its checks, so nothing was installed: " + "; ".join(problems) + ".",
            fix=" ".join(fixes) or "This is a converter or recipe problem: report it with the command and "
            "`zoo toolchain doctor` output.",
        )
    return request.outputs, output_specs, steps, checks


def _install(store, variant, entry_id, key, outputs, output_specs, provenance, started) -> Entry:
    files = []
    for spec in output_specs:
        path = outputs[spec.path]
        files.append(EntryFile(spec.path, file_sha256(path), path.stat().st_size))
    provenance["outputs"] = [f.__dict__ for f in files]
    provenance["timings"]["total"] = round(time.monotonic() - started, 3)
    record = json.dumps(provenance, indent=2, sort_keys=True).encode()
    record_path = outputs[output_specs[0].path].parent / PROVENANCE
    record_path.write_bytes(record)
    files.append(EntryFile(PROVENANCE, hashlib.sha256(record).hexdigest(), len(record)))
    entry = Entry(id=entry_id, kind="built", files=files, main=output_specs[0].path,
                  source={"build_key": key, "variant": variant.id}, created_at=time.time(), verified_at=time.time())
    with store.store_lock():
        for spec in output_specs:
            f = next(x for x in files if x.path == spec.path)
            store.add_blob(outputs[spec.path], f.sha256)
        store.add_blob(record_path, files[-1].sha256)
        store.install(entry)
    store.record_fingerprints({f.sha256: store.stat_fingerprint(store.blob_path(f.sha256)) for f in files})
    return entry


def _read_provenance(store, entry: Entry) -> dict:
    try:
        return json.loads((store.artifact_dir(entry.id) / PROVENANCE).read_text())
    except (OSError, ValueError):
        return {}
