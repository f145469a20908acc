"""The manifest format, one module per job: `schema` (the pydantic models), `problems` (validation
errors as key path, message and fix), `rules` (cross-field rules and source tables), `loading`
(reading a TOML file, bounded) and `reference` (docs/manifest.md, generated). This package
re-exports what the rest of zoo uses."""

from .loading import MAX_MANIFEST_BYTES, json_schema, load_manifest, parse_manifest
from .problems import problems_from_validation_error
from .rules import cross_checks, source_problems
from .schema import (
    QUANTIZATION_NAMES,
    SCHEMA_VERSION,
    ArtifactFormat,
    Backend,
    BitWidths,
    BundleStep,
    FileRole,
    FileSpec,
    HttpsUrl,
    Identifier,
    Inference,
    License,
    LoraOptions,
    Manifest,
    ModelSpec,
    OutputSpec,
    Platform,
    PromptTemplate,
    QuantizationName,
    Recipe,
    SafeRelativePath,
    Sha256,
    Source,
    SourceOptions,
    StrictModel,
    Variant,
    VariantSpec,
    check_identifier,
)

__all__ = [
    "MAX_MANIFEST_BYTES", "QUANTIZATION_NAMES", "SCHEMA_VERSION", "ArtifactFormat", "Backend", "BitWidths", "BundleStep",
    "FileRole", "FileSpec", "HttpsUrl", "Identifier", "Inference", "License", "LoraOptions", "Manifest", "ModelSpec",
    "OutputSpec", "Platform", "PromptTemplate", "QuantizationName", "Recipe", "SafeRelativePath", "Sha256", "Source",
    "SourceOptions", "StrictModel", "Variant", "VariantSpec", "check_identifier", "cross_checks", "json_schema",
    "load_manifest", "parse_manifest", "problems_from_validation_error", "source_problems",
]
