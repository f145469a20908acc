"""OCI registries as a source and a destination: a team shares built artifacts as CNCF ModelPack
artifacts (`zoo push ID REGISTRY/REPO:TAG`, `zoo pull oci://REGISTRY/REPO:TAG`, or a manifest's
`source = { kind = "oci", reference = "..." }`).

One layer per stored file (`org.opencontainers.image.title` names it), provenance.json included;
the config is ModelPack's (`application/vnd.cncf.model.config.v1+json`: format, quantization) with
zoo's own description of the variant under `zoo`, so a pull knows the artifact's format and checks
without the pusher's catalog. Layer digests are sha256, as zoo's store is: a blob the registry has
is never uploaded again, a blob the store has is never downloaded, and every downloaded byte is
hashed against its digest as it arrives (the fetch machinery every source uses).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from registry.api import FetchContext, FetchPlan, SourceKind, SourceNotFoundError, Transfer, ZooError, hookimpl
from registry.manifest import SourceOptions

ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
WEIGHT_TYPE = "application/vnd.cncf.model.weight.v1.raw"
DOC_TYPE = "application/vnd.cncf.model.doc.v1.raw"
TITLE = "org.opencontainers.image.title"
FILEPATH = "org.cncf.model.filepath"
"""ModelPack's layer annotation for the file's path; zoo writes it beside OCI's title, and reads either."""
DESCRIPTION = "dev.zoo.description"
"""The manifest annotation holding what zoo knows of the variant (JSON): ModelPack's config schema allows
no property of zoo's own, so the config holds only what the spec defines."""
MAX_LAYERS = 256
SIGNATURE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


def signature_tag(manifest_digest: str) -> str:
    """Where an artifact's signature hangs: the referrers tag schema (`sha256-<hex>`), as cosign does,
    since distribution 2.8 has no OCI 1.1 referrers API."""
    return manifest_digest.replace(":", "-") + ".sig"


class OciOptions(SourceOptions):
    reference: str = Field(description="REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST")
    insecure: bool = Field(False, description="Plain http, for a registry on this machine only.")

    @field_validator("reference")
    @classmethod
    def _parse(cls, value: str) -> str:
        from registry.oci import Reference

        try:
            Reference.parse(value)
        except ZooError as exc:
            raise ValueError(exc.message) from None
        return value


def _layers(manifest: dict) -> dict[str, dict]:
    """title -> layer descriptor, each checked: a safe relative path, a sha256 digest, a size."""
    from registry.manifest import FileSpec

    layers = manifest.get("layers") or []
    if len(layers) > MAX_LAYERS:
        raise ZooError(f"The artifact has {len(layers)} layers; zoo takes at most {MAX_LAYERS}.", fix="Check the reference.")
    found = {}
    for layer in layers:
        annotations = (layer.get("annotations") or {}) if isinstance(layer, dict) else {}
        title = annotations.get(FILEPATH) or annotations.get(TITLE) if isinstance(annotations, dict) else None
        digest, size = (layer.get("digest"), layer.get("size")) if isinstance(layer, dict) else (None, None)
        if not (isinstance(title, str) and isinstance(digest, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
                and type(size) is int and size >= 0):
            raise ZooError("The artifact has a layer without a file name, a sha256 digest and a size; zoo fetched nothing.",
                           fix="Push it with `zoo push`, or check the reference.")
        try:
            FileSpec(path=title, role="other")
        except ValueError:
            raise ZooError(f"The artifact names a file at an unsafe path ({title[:100]!r}); zoo fetched nothing.",
                           fix="The artifact is broken or hostile; report it to whoever pushed it.") from None
        found[title] = layer
    return found


class OciSource(SourceKind):
    name = "oci"
    description = "An OCI registry (distribution, Harbor, GHCR, ...): ModelPack artifacts that `zoo push` wrote."
    options = OciOptions
    url_scheme = "oci"

    # ------------------------------------------------------------------ pull

    def prepare(self, context: FetchContext) -> FetchPlan:
        from registry.download import same_origin
        from registry.fetch import partial_key
        from registry.oci import Reference, Registry

        source = self.source_options(context.variant)
        registry = Registry(Reference.parse(source.reference), insecure=source.insecure)
        manifest, digest = registry.get_manifest()
        layers = _layers(manifest)
        signature = _fetch_signature(registry, digest)
        transfers = []
        for spec in context.files:
            layer = layers.get(spec.path)
            if layer is None:
                raise SourceNotFoundError(f"{source.reference} has no {spec.path} (it has {', '.join(sorted(layers)) or 'no files'}).",
                               fix="Check the reference and the manifest's file list.")
            url, headers = registry.blob_source(layer["digest"])
            own = same_origin(url, registry.base)  # a blob sent to a CDN is checked against the public CAs
            transfers.append(Transfer(path=spec.path, size=layer["size"], url=url, headers=headers,
                                      ca_certs=registry.ca_certs if own else None,
                                      hub_sha256=layer["digest"].removeprefix("sha256:"),
                                      partial_key=partial_key("oci", layer["digest"])))
        return FetchPlan(transfers, {"reference": source.reference, "manifest_digest": digest}, signature=signature)

    def remote_variant(self, url: str, *, insecure: bool = False):
        """The variant an artifact at `url` is: as `zoo push` described it, or, for a ModelPack artifact another
        tool pushed, as its files and config say (its main file the first in a format zoo can check)."""
        from registry.manifest import Variant
        from registry.oci import Reference, Registry

        reference = Reference.parse(url)
        registry = Registry(reference, insecure=insecure)
        manifest, digest = registry.get_manifest()
        config = manifest.get("config") or {}
        if config.get("mediaType") != CONFIG_TYPE or not isinstance(config.get("digest"), str):
            raise ZooError(f"{reference} is not a ModelPack artifact (its config is {str(config.get('mediaType'))[:80]}).",
                           fix="Pull artifacts that `zoo push` (or another ModelPack tool) wrote.")
        layers = _layers(manifest)
        described = _zoo_description(reference, registry, manifest, config)
        if described is not None:
            main, row = described
        else:
            main, row = _foreign_variant(reference, registry, config, layers)
        if not isinstance(main, str) or main not in layers:
            raise ZooError(f"{reference}'s description names a main file the artifact does not hold.", fix="Push it again.")
        pinned = f"{reference.registry}/{reference.repository}@{digest}"  # every later step fetches exactly this
        row.update(
            source={"kind": "oci", "reference": pinned, "insecure": insecure},
            files=[{"path": title, "role": "weights" if title == main else "other", "size": layer["size"],
                    "sha256": layer["digest"].removeprefix("sha256:")} for title, layer in layers.items()],
            recipe=None, bundle=None, lora=None, outputs=[{"path": main}],
            plugin="source-oci", manifest_path="", default_rank=None, by_reference=None, reference=None,
        )
        try:
            variant = Variant.model_validate(row)
        except ValueError as exc:
            raise ZooError(f"{reference}'s description of its variant is not valid ({str(exc).splitlines()[0][:200]}).",
                           fix="Push it again with this zoo.") from None
        from registry.store import valid_entry_id

        if not valid_entry_id(variant.id):
            raise ZooError(f"{reference} names its artifact {variant.id[:80]!r}, which is no valid id.", fix="Push it again.")
        return variant

    # ------------------------------------------------------------------ push

    def publish(self, directory: Path, entry, target: str, *, variant: dict | None, insecure: bool, reporter) -> dict[str, Any]:
        from registry.oci import Reference, Registry

        reference = Reference.parse(target)
        registry = Registry(reference, insecure=insecure, push=True)
        layers, uploaded, skipped = [], 0, 0
        for f in entry.files:
            digest = f"sha256:{f.sha256}"
            if registry.has_blob(digest):
                skipped += 1
            else:
                reporter.message(f"uploading {f.path} ({f.size} bytes)")
                registry.upload_blob(digest, path=directory / f.path)
                uploaded += 1
            media = DOC_TYPE if f.path == "provenance.json" else WEIGHT_TYPE
            layers.append({"mediaType": media, "digest": digest, "size": f.size,
                           "annotations": {TITLE: f.path, FILEPATH: f.path}})
        row = dict(variant or {})
        row["id"] = entry.id
        config = json.dumps(_modelpack_config(entry.id, row, layers), sort_keys=True).encode()
        description = {"entry": entry.id, "main": entry.main, "variant": {k: v for k, v in row.items() if k not in _LOCAL_KEYS}}
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        if not registry.has_blob(config_digest):
            registry.upload_blob(config_digest, data=config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
            "layers": layers,
            "annotations": {TITLE: entry.id, DESCRIPTION: json.dumps(description, sort_keys=True)},
        }, sort_keys=True).encode()
        digest = registry.put_manifest(reference.ref, manifest, MANIFEST_TYPE)
        signed = _attach_signature(registry, entry.id, digest, len(manifest))
        return {"signed": signed, "reference": str(reference), "digest": digest, "uploaded": uploaded, "already_there": skipped,
                "pull": f"zoo pull oci://{reference.registry}/{reference.repository}@{digest}"}


MAX_DESCRIPTION = 256 << 10


def _zoo_description(reference, registry, manifest: dict, config: dict) -> tuple[str, dict] | None:
    """(main file, variant row) as `zoo push` described them: in the manifest's annotation, or (pushed by
    an older zoo) in the config's "zoo" key; None for an artifact zoo did not push."""
    text = (manifest.get("annotations") or {}).get(DESCRIPTION) if isinstance(manifest.get("annotations"), dict) else None
    try:
        if isinstance(text, str):
            if len(text) > MAX_DESCRIPTION:
                raise ValueError("too long")
            described = json.loads(text)
        else:
            described = json.loads(registry.get_small_blob(config["digest"])).get("zoo")
            if described is None:
                return None
        return described["main"], dict(described["variant"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise ZooError(f"{reference} carries a zoo description zoo cannot read.", fix="Push it again with this zoo.") from None


QUANTIZATION_WORDS = {"int4": "int4", "q4": "int4", "int8": "int8", "q8": "int8", "fp16": "fp16", "float16": "fp16",
                      "bf16": "fp16", "fp32": "fp32", "float32": "fp32"}


def _foreign_variant(reference, registry, config: dict, layers: dict) -> tuple[str, dict]:
    """A ModelPack artifact another tool pushed: its main file is the first whose format (by its name) a
    loaded plugin checks; the rest come along, and the variant's notes name those nothing checks."""
    from registry.catalog import get_catalog
    from registry.references import checkpoint_slug

    catalog = get_catalog()
    formats = {title: catalog.format_of(title) for title in layers}
    checked = [title for title, fmt in formats.items() if fmt and catalog.default_checks.get(fmt)]
    if not checked:
        known = ", ".join(sorted(f["suffix"] for name, f in catalog.formats.items() if catalog.default_checks.get(name)))
        raise ZooError(f"{reference} is a ModelPack artifact, but none of its files ({', '.join(sorted(layers))[:300]}) is "
                       f"in a format zoo can check ({known}).", fix="Pull it with a tool for its format, or push a model "
                       "file zoo can check.")
    try:
        spec = json.loads(registry.get_small_blob(config["digest"]))
        descriptor, settings = spec.get("descriptor") or {}, spec.get("config") or {}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        descriptor, settings = {}, {}
    main, fmt = checked[0], formats[checked[0]]
    named = descriptor.get("name") if isinstance(descriptor.get("name"), str) else reference.repository.rsplit("/", 1)[-1]
    variant_id = checkpoint_slug(named, layers[main]["digest"].removeprefix("sha256:"))
    stated = str(settings.get("quantization") or settings.get("precision") or "").lower()
    quantization = next((q for word, q in QUANTIZATION_WORDS.items() if word in stated), None)
    unchecked = sorted(title for title in layers if title not in checked)
    licenses = descriptor.get("licenses") if isinstance(descriptor.get("licenses"), list) else []
    notes = [f"Pulled from a ModelPack artifact zoo did not push: {reference}."]
    notes += [f"Not checked (no loaded plugin checks their format): {', '.join(unchecked)}."] if unchecked else []
    notes += [] if quantization else ["Its quantization is not stated; zoo lists it as fp32."]
    return main, {
        "id": variant_id, "family": "oci", "model": variant_id, "aliases": [], "model_aliases": [],
        "description": str(descriptor.get("description") or f"{named}, a ModelPack artifact from {reference.registry}")[:300],
        "license": {"name": str(licenses[0])[:200] if licenses else "as its publisher licenses it"},
        "backend": "cpu", "quantization": quantization or "fp32", "format": fmt,
        "platforms": list(catalog.formats[fmt]["platforms"]), "min_device_ram_mb": None, "inference": {},
        "notes": notes, "expect": {},
    }



def _modelpack_config(entry_id: str, row: dict, layers: list[dict]) -> dict:
    """The config blob as ModelPack's config schema (schema/config-schema.json) allows it: descriptor, config
    and modelfs, with string values only where it has them."""
    descriptor = {"name": entry_id} | ({"family": row["family"]} if isinstance(row.get("family"), str) else {})
    license_name = (row.get("license") or {}).get("spdx") or (row.get("license") or {}).get("name")
    if isinstance(license_name, str):
        descriptor["licenses"] = [license_name]
    quantization = row.get("quantization_label") or row.get("quantization")
    config = {key: value for key, value in (("format", row.get("format")), ("quantization", quantization))
              if isinstance(value, str)}
    return {"descriptor": descriptor, "config": config,
            "modelfs": {"type": "layers", "diffIds": [layer["digest"] for layer in layers]}}


def _attach_signature(registry, entry_id: str, digest: str, size: int) -> bool:
    """Push the entry's signature (`zoo sign`), if it has one, as a referrer of the artifact's manifest."""
    from registry.signing import MAX_SIGNATURE, signature_path

    path = signature_path(entry_id)
    if not path.is_file() or path.stat().st_size > MAX_SIGNATURE:
        return False
    bundle = path.read_bytes()
    bundle_digest = "sha256:" + hashlib.sha256(bundle).hexdigest()
    empty = b"{}"
    empty_digest = "sha256:" + hashlib.sha256(empty).hexdigest()
    for blob_digest, data in ((bundle_digest, bundle), (empty_digest, empty)):
        if not registry.has_blob(blob_digest):
            registry.upload_blob(blob_digest, data=data)
    referrer = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": SIGNATURE_TYPE,
        "config": {"mediaType": EMPTY_TYPE, "digest": empty_digest, "size": len(empty)},
        "layers": [{"mediaType": SIGNATURE_TYPE, "digest": bundle_digest, "size": len(bundle)}],
        "subject": {"mediaType": MANIFEST_TYPE, "digest": digest, "size": size},
    }, sort_keys=True).encode()
    registry.put_manifest(signature_tag(digest), referrer, MANIFEST_TYPE)
    return True


def _fetch_signature(registry, digest: str) -> bytes | None:
    """The artifact's signature bundle, when it has one; zoo keeps it once the pull has succeeded."""
    from registry.signing import MAX_SIGNATURE

    found = registry.get_manifest(signature_tag(digest), missing_ok=True)
    if found is None:
        return None
    referrer, _ = found
    layer = next((layer for layer in referrer.get("layers", []) if isinstance(layer, dict) and layer.get("mediaType") == SIGNATURE_TYPE), None)
    subject = referrer.get("subject") or {}
    if layer is None or subject.get("digest") != digest or not re.fullmatch(r"sha256:[0-9a-f]{64}", str(layer.get("digest"))):
        return None  # not a signature of this manifest: as if there were none
    return registry.get_small_blob(layer["digest"], MAX_SIGNATURE)


_LOCAL_KEYS = ("prebuilt", "quantization_label", "chosen_by_default", "source", "files", "recipe", "bundle", "lora",
               "outputs", "plugin", "manifest_path", "default_rank", "by_reference", "reference")


@hookimpl
def register_sources(register):
    register(OciSource())
