"""Kaggle Models source, through kagglehub and its SDK.

kagglehub downloads each file with `path=` into its own cache and resumes a partial file itself
(Range, when the server accepts it), so zoo only adds what it lacks: an access check before any
bytes, sha256 verification, and a hard link into the store. The version is resolved once and
recorded, so a handle without a version still gives reproducible pulls.
"""

from __future__ import annotations

import os
from pathlib import Path

from registry import settings
from registry.components import FetchContext, FetchPlan, SourceKind, Transfer
from registry.errors import AccessDeniedError, NetworkError, ZooError
from registry.hookspecs import hookimpl

CREDENTIALS_HELP = (
    "set KAGGLE_API_TOKEN (a token from https://www.kaggle.com/settings, Account > API), or KAGGLE_USERNAME and "
    "KAGGLE_KEY, or put kaggle.json in ~/.kaggle"
)


def _prepare_environment() -> None:
    """Keep kagglehub's cache inside ZOO_HOME unless the user chose one, so the store can hard-link it."""
    config = settings.get()
    if config.kagglehub_cache is None:
        os.environ["KAGGLEHUB_CACHE"] = str(config.home / "hub-cache" / "kagglehub")
    if config.kaggle_endpoint:
        # kagglesdk picks its server from a fixed table by KAGGLE_API_ENVIRONMENT; point the
        # "LOCALHOST" row at the endpoint asked for. (Never "TEST": it prints every request,
        # credentials included, to stdout.)
        from kagglesdk import kaggle_env

        os.environ["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"
        kaggle_env._env_to_endpoint[kaggle_env.KaggleEnv.LOCAL] = config.kaggle_endpoint.rstrip("/")


class KaggleSource(SourceKind):
    name = "kaggle"
    description = "Kaggle Models through kagglehub (owner/model/framework/variation[/version])."

    def prepare(self, context: FetchContext) -> FetchPlan:
        _prepare_environment()
        import kagglehub
        from kagglehub.clients import build_kaggle_client
        from kagglehub.config import get_kaggle_credentials
        from kagglehub.handle import parse_model_handle
        from kagglesdk.models.types.model_api_service import (
            ApiGetModelInstanceRequest,
            ApiListModelInstanceVersionFilesRequest,
        )

        variant = context.variant
        handle = parse_model_handle(variant.source.handle)
        accept = variant.license.accept_url or f"https://www.kaggle.com/models/{handle.owner}/{handle.model}"
        if variant.license.gated and get_kaggle_credentials() is None:
            raise AccessDeniedError(
                f"{variant.id} is gated on Kaggle and no Kaggle credentials were found.",
                fix=f"Accept the licence at {accept}, then {CREDENTIALS_HELP}.",
                hub="kaggle", resource=variant.source.handle,
            )
        try:
            with build_kaggle_client() as api:
                version = handle.version
                if version is None:
                    request = ApiGetModelInstanceRequest()
                    request.owner_slug, request.model_slug = handle.owner, handle.model
                    request.framework, request.instance_slug = handle.framework_enum(), handle.variation
                    version = api.models.model_api_client.get_model_instance(request).version_number
                listing = ApiListModelInstanceVersionFilesRequest()
                listing.owner_slug, listing.model_slug = handle.owner, handle.model
                listing.framework, listing.instance_slug = handle.framework_enum(), handle.variation
                listing.version_number, listing.page_size = version, 1000
                sizes = {f.name: f.size for f in api.models.model_api_client.list_model_instance_version_files(listing).files}
        except Exception as exc:
            raise self._explain(exc, variant, accept) from None
        base = f"{handle.owner}/{handle.model}/{handle.framework}/{handle.variation}/{version}"
        missing = [f.path for f in context.files if f.path not in sizes]
        if missing:
            raise ZooError(
                f"Kaggle's {base} has no {', '.join(missing)} (it has {', '.join(sorted(sizes)) or 'no files'}).",
                fix="Fix the file list in the manifest, or pin the handle to a version that has them.",
            )

        def fetcher(path: str):
            def fetch() -> Path:
                try:
                    local = Path(kagglehub.model_download(base, path=path))
                    if sizes.get(path) is not None and local.stat().st_size != sizes[path]:
                        # kagglehub returns a cached file without checking it; a stale or damaged
                        # copy would otherwise fail zoo's checks forever.
                        local = Path(kagglehub.model_download(base, path=path, force_download=True))
                    return local
                except Exception as exc:
                    raise self._explain(exc, variant, accept) from None

            return fetch

        transfers = [
            Transfer(path=f.path, size=sizes.get(f.path) or f.size, partial_key=f"kaggle-{base}-{f.path}", fetch=fetcher(f.path))
            for f in context.files
        ]
        return FetchPlan(transfers, {"handle": base, "version": version})

    @staticmethod
    def _explain(exc: Exception, variant, accept: str) -> Exception:
        from kagglehub.exceptions import DataCorruptionError, KaggleApiHTTPError, UnauthenticatedError

        status = getattr(getattr(exc, "response", None), "status_code", None)
        handle = variant.source.handle
        if isinstance(exc, UnauthenticatedError) or status == 401:
            return AccessDeniedError(
                f"Kaggle did not accept the credentials for {handle} (401).",
                fix=f"Check them: {CREDENTIALS_HELP}.", hub="kaggle", resource=handle,
            )
        if status == 403:
            return AccessDeniedError(
                f"Kaggle refused access to {handle} (403): the model's licence has not been accepted by this account.",
                fix=f"Accept the licence at {accept} with the account your credentials belong to, then run the command again.",
                hub="kaggle", resource=handle,
            )
        if status == 404:
            return ZooError(f"Kaggle has no model {handle} (404).", fix="Check the handle in the manifest.")
        if isinstance(exc, DataCorruptionError):
            return NetworkError(f"Kaggle's download of {handle} failed its MD5 check; kagglehub deleted it.",
                                fix="Run the command again.")
        if isinstance(exc, (KaggleApiHTTPError, OSError)) or "requests" in type(exc).__module__:
            return NetworkError(f"Could not download {handle} from Kaggle ({type(exc).__name__}).",
                                fix="Check the connection and run the command again; finished bytes are kept.")
        return exc


@hookimpl
def register_sources(register):
    register(KaggleSource())
