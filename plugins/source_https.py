"""Plain https URLs: each file is the manifest's base URL plus the file's path."""

from __future__ import annotations

from urllib.parse import quote

from registry.components import FetchContext, FetchPlan, SourceKind, Transfer
from registry.hookspecs import hookimpl


class HttpsSource(SourceKind):
    name = "https"
    description = "Plain https URLs; verified against the manifest's (or the lock file's) digests."

    def prepare(self, context: FetchContext) -> FetchPlan:
        from registry.fetch import partial_key

        base = context.variant.source.url.rstrip("/")
        transfers = []
        for spec in context.files:
            url = f"{base}/{quote(spec.path)}"
            transfers.append(Transfer(path=spec.path, size=spec.size, url=url, partial_key=partial_key("https", url, spec.size)))
        return FetchPlan(transfers, {"url": base})


@hookimpl
def register_sources(register):
    register(HttpsSource())
