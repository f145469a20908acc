"""Plain https URLs: each file is the manifest's base URL plus the file's path."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import Field

from registry.api import FetchContext, FetchPlan, SourceKind, Transfer, hookimpl, partial_key
from registry.manifest import HttpsUrl, SourceOptions


class HttpsOptions(SourceOptions):
    url: HttpsUrl = Field(description="Base URL; each file's path is appended to it.")


class HttpsSource(SourceKind):
    name = "https"
    description = "Plain https URLs; verified against the manifest's (or the lock file's) digests."
    options = HttpsOptions

    def prepare(self, context: FetchContext) -> FetchPlan:
        base = self.source_options(context.variant).url.rstrip("/")
        transfers = []
        for spec in context.files:
            url = f"{base}/{quote(spec.path)}"
            transfers.append(Transfer(path=spec.path, size=spec.size, url=url, partial_key=partial_key("https", url, spec.size)))
        return FetchPlan(transfers, {"url": base})


@hookimpl
def register_sources(register):
    register(HttpsSource())
