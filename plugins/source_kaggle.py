"""Kaggle Models source: kagglehub and its SDK resolve, zoo moves the bytes.

kagglehub's own download went into its cache and zoo re-read the file: 0.26x curl's speed on a
1.26 GB file, no progress until the end, and a resume that first opened a plain GET and dropped
it. So, as for Hugging Face, the hub client does what it is good at (credentials, the handle's
version, the file list with sizes, the download RPC, which answers with a redirect to the file's
location) and zoo's resumable downloader moves the bytes from that location, hashing them as
they arrive. The location is a signed URL on another host: no Kaggle credential is sent there.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urljoin, urlsplit

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from registry import settings
from registry.api import (
    AccessDeniedError,
    FetchContext,
    FetchPlan,
    NetworkError,
    SourceKind,
    SourceNotFoundError,
    Transfer,
    ZooError,
    hookimpl,
)
from registry.manifest import SourceOptions

MAX_LISTED_SIZE = 1 << 50
"""A size beyond this (1 PiB) is no model file's."""


def _listed_size(value) -> int | None:
    """A file size from Kaggle's listing, which is server input: an int, or a decimal string (JSON carries
    int64 as a string); anything else is no size at all, and the transfer then checks what it can."""
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_LISTED_SIZE else None

class KaggleOptions(SourceOptions):
    handle: str = Field(description="owner/model/framework/variation[/version], e.g. google/gemma/tfLite/gemma-2b-it-cpu-int4")

    @model_validator(mode="after")
    def _check_handle(self) -> "KaggleOptions":
        parts = self.handle.split("/")
        segment = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
        ok = len(parts) in (4, 5) and all(segment.fullmatch(p) for p in parts[:4])
        if ok and len(parts) == 5:
            ok = parts[4].isdigit()
        if not ok:
            raise PydanticCustomError(
                "kaggle_handle",
                "Kaggle handle '{handle}' must be owner/model/framework/variation with an optional numeric /version",
                {"handle": self.handle,
                 "fix": "copy the handle from the model's Kaggle page, e.g. 'google/gemma/tfLite/gemma-2b-it-gpu-int4'"},
            )
        return self

CREDENTIALS_HELP = (
    "set KAGGLE_API_TOKEN (a token from https://www.kaggle.com/settings, Account > API), or KAGGLE_USERNAME and "
    "KAGGLE_KEY, or put kaggle.json in ~/.kaggle"
)


def _prepare_environment() -> None:
    """Point kagglesdk at ZOO_KAGGLE_ENDPOINT when one is set.

    kagglesdk picks its server from a fixed table by KAGGLE_API_ENVIRONMENT; zoo points the
    "LOCALHOST" row at the endpoint asked for. (Never "TEST": it prints every request and
    response, credentials and file bytes included.)
    """
    endpoint = settings.get().kaggle_endpoint
    if endpoint:
        from kagglesdk import kaggle_env

        os.environ["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"
        kaggle_env._env_to_endpoint[kaggle_env.KaggleEnv.LOCAL] = endpoint.rstrip("/")


def _client():
    """kagglehub's client, built as `kagglehub.clients.build_kaggle_client` builds it (its credentials,
    its environment) minus two things: that user agent walks the call stack with inspect.stack()
    five times, reading the source of every frame (0.3 s of a pull), to spot keras callers; and that
    response processor prints a kagglehub upgrade notice on stdout, where `zoo pull --json` writes."""
    import kagglehub
    from kagglehub.config import get_kaggle_credentials
    from kagglesdk.kaggle_client import KaggleClient
    from kagglesdk.kaggle_env import get_env

    from registry import __version__

    agent = f"kagglehub/{kagglehub.__version__} zoo/{__version__}"
    credentials = get_kaggle_credentials()
    if not credentials:
        return KaggleClient(env=get_env(), verbose=False, user_agent=agent)
    return KaggleClient(env=get_env(), verbose=False, username=credentials.username, password=credentials.key,
                        api_token=credentials.api_key, user_agent=agent)


def _model_request(cls, handle, version=None):
    request = cls()
    request.owner_slug, request.model_slug = handle.owner, handle.model
    request.framework, request.instance_slug = handle.framework_enum(), handle.variation
    if version is not None:
        request.version_number = version
    return request


def _location(api, handle, version: int, path: str) -> str:
    """Where the download RPC sends the file, without opening the file there.

    kagglesdk follows the RPC's redirect and opens the body, which zoo would only drop. Its
    requests session (`KaggleClient._http_client`, the one it signs calls with) is told to treat
    no answer as a redirect, so the 302 itself comes back, unread, with its Location.
    """
    from kagglesdk.models.types.model_api_service import ApiDownloadModelInstanceVersionRequest

    session = api._http_client._init_session()
    session.get_redirect_target = lambda response: None
    request = _model_request(ApiDownloadModelInstanceVersionRequest, handle, version)
    request.path = path
    response = api.models.model_api_client.download_model_instance_version(request)
    try:
        target = response.headers.get("Location") if response.status_code in (301, 302, 303, 307, 308) else None
        base = response.url
    finally:
        response.close()
    if not target:
        raise ZooError(
            f"Kaggle answered the download of {path} with HTTP {response.status_code} instead of the file's location.",
            fix="Try again later; if it persists the Kaggle API (or ZOO_KAGGLE_ENDPOINT) is not speaking its protocol.",
        )
    url = urljoin(base, target)
    if urlsplit(url).scheme not in ("http", "https"):
        raise ZooError(f"Kaggle sent {path} to an address zoo will not fetch from.",
                       fix="Try again later; if it persists the Kaggle API (or ZOO_KAGGLE_ENDPOINT) is broken.")
    return url


class KaggleSource(SourceKind):
    name = "kaggle"
    description = "Kaggle Models through kagglehub (owner/model/framework/variation[/version])."
    options = KaggleOptions

    def prepare(self, context: FetchContext) -> FetchPlan:
        _prepare_environment()
        from kagglehub.config import get_kaggle_credentials
        from kagglehub.handle import parse_model_handle
        from kagglesdk.models.types.model_api_service import (
            ApiGetModelInstanceRequest,
            ApiListModelInstanceVersionFilesRequest,
        )

        from registry.fetch import partial_key

        variant = context.variant
        handle = parse_model_handle(self.source_options(variant).handle)
        accept = variant.license.accept_url or f"https://www.kaggle.com/models/{handle.owner}/{handle.model}"
        if variant.license.gated and get_kaggle_credentials() is None:
            raise AccessDeniedError(
                f"{variant.id} is gated on Kaggle and no Kaggle credentials were found.",
                fix=f"Accept the licence at {accept}, then {CREDENTIALS_HELP}.",
                hub="kaggle", resource=self.source_options(variant).handle,
            )
        try:
            with _client() as api:
                version = handle.version
                if version is None:
                    request = _model_request(ApiGetModelInstanceRequest, handle)
                    version = api.models.model_api_client.get_model_instance(request).version_number
                listing = _model_request(ApiListModelInstanceVersionFilesRequest, handle, version)
                listing.page_size = 1000
                sizes = {f.name: _listed_size(f.size) for f in api.models.model_api_client.list_model_instance_version_files(listing).files
                         if isinstance(f.name, str)}
                base = f"{handle.owner}/{handle.model}/{handle.framework}/{handle.variation}/{version}"
                missing = [f.path for f in context.files if f.path not in sizes]
                if missing:
                    raise SourceNotFoundError(
                        f"Kaggle's {base} has no {', '.join(missing)} (it has {', '.join(sorted(sizes)) or 'no files'}).",
                        fix="Fix the file list in the manifest, or pin the handle to a version that has them.",
                    )
                locations = {f.path: _location(api, handle, version, f.path) for f in context.files}
        except ZooError:
            raise
        except Exception as exc:
            raise self._explain(exc, variant, accept) from None
        transfers = []
        for f in context.files:
            size = sizes.get(f.path) or f.size
            name = f.path.rsplit("/", 1)[-1]
            # Kaggle may serve one file as a zip holding it ("x.bin" as "x.bin.zip"), as kagglehub knows.
            zipped = urlsplit(locations[f.path]).path.rsplit("/", 1)[-1] == f"{name}.zip"
            transfers.append(Transfer(
                path=f.path, size=size, url=locations[f.path],
                partial_key=partial_key("kaggle", base, f.path, size),
                archive_member=name if zipped else None,
            ))
        return FetchPlan(transfers, {"handle": base, "version": version})

    def _explain(self, exc: Exception, variant, accept: str) -> Exception:
        from kagglehub.exceptions import KaggleApiHTTPError, UnauthenticatedError

        status = getattr(getattr(exc, "response", None), "status_code", None)
        handle = self.source_options(variant).handle
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
            return SourceNotFoundError(f"Kaggle has no model {handle} (404).", fix="Check the handle in the manifest.")
        if isinstance(exc, (KaggleApiHTTPError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError)) \
                or "requests" in type(exc).__module__:
            # ValueError and friends: an answer that is not the JSON the SDK expects (a proxy's page, garbage).
            return NetworkError(f"Could not get {handle} from Kaggle ({type(exc).__name__}).",
                                fix="Check the connection (and ZOO_KAGGLE_ENDPOINT if you use a mirror), then run the command again.")
        return exc


@hookimpl
def register_sources(register):
    register(KaggleSource())
