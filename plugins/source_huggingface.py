"""Hugging Face Hub source: huggingface_hub resolves, zoo moves the bytes.

huggingface_hub answers what it is good at: the revision (pinned to one commit for all files),
the redirect to the CDN, each file's size and ETag (the sha256 for LFS files, the git blob id for
small ones), the token, HF_ENDPOINT mirrors and gated-repo errors. The bytes then go through zoo's
resumable downloader (registry.download), because the client restarts from zero after a crash.
"""

from __future__ import annotations

import re

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from registry.api import (
    AccessDeniedError,
    FetchContext,
    FetchPlan,
    NetworkError,
    SourceKind,
    SourceNotFoundError,
    Transfer,
    hookimpl,
)
from registry.errors import OfflineError
from registry.manifest import SafeRelativePath, SourceOptions


class HuggingFaceOptions(SourceOptions):
    repo: str = Field(description="owner/name on the Hugging Face Hub.")
    revision: str = Field("main", description="Branch, tag or (best) a 40-hex commit.")
    allow_patterns: list[SafeRelativePath] | None = Field(
        None, description="Also fetch every repo file matching these globs (e.g. '*.json'), besides the files listed; "
        "a pattern without '/' matches files at the repo's top level only."
    )

    @model_validator(mode="after")
    def _check_repo(self) -> "HuggingFaceOptions":
        fix = "use the repo id from huggingface.co, e.g. 'microsoft/phi-2', and a branch or commit"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*", self.repo):
            raise PydanticCustomError("hf_repo", "Hugging Face repo '{repo}' must look like owner/name",
                                      {"repo": self.repo, "fix": fix})
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", self.revision) or ".." in self.revision:
            raise PydanticCustomError("hf_revision", "revision '{rev}' is not a branch, tag or commit",
                                      {"rev": self.revision, "fix": fix})
        return self


def _matches(path: str, pattern: str) -> bool:
    """fnmatch, except that a pattern without '/' only matches top-level files: '*.safetensors'
    must not pull in every subfolder's copy of the weights (onnx/, original/, ...)."""
    from fnmatch import fnmatch

    return fnmatch(path, pattern) and ("/" in pattern or "/" not in path)


def _clean_etag(etag: str | None) -> str:
    return (etag or "").removeprefix("W/").strip('"')


class HuggingFaceSource(SourceKind):
    name = "huggingface"
    description = "The Hugging Face Hub through huggingface_hub (repo, pinned revision); HF_ENDPOINT mirrors work."
    options = HuggingFaceOptions
    reference_syntax = "ORG/REPO[@REVISION]"

    def reference_options(self, reference: str) -> dict:
        repo, _, revision = reference.partition("@")
        return {"repo": repo, "revision": revision or "main"}

    def prepare(self, context: FetchContext) -> FetchPlan:
        from concurrent.futures import ThreadPoolExecutor

        from huggingface_hub import get_token

        variant, source = context.variant, self.source_options(context.variant)
        revision = source.revision
        files = list(context.files)
        if source.allow_patterns:
            revision, files = self._expand(variant, files, get_token() is not None)
        # The first file pins the revision to a commit; the rest are asked about at once, from
        # that commit: one round trip to the hub instead of one per file.
        first, commit = self._transfer(context, files[0], revision)
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(files) - 1))) as pool:
            rest = [transfer for transfer, _ in pool.map(lambda spec: self._transfer(context, spec, commit), files[1:])]
        return FetchPlan([first, *rest], {"repo": source.repo, "revision": commit}, files if source.allow_patterns else None)

    def _transfer(self, context: FetchContext, spec, revision: str | None) -> tuple[Transfer, str | None]:
        """Where one file's bytes are, how big, and what digest the hub vouches for; and its commit."""
        from huggingface_hub import constants, get_hf_file_metadata, get_token, hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        from registry.download import same_origin
        from registry.fetch import partial_key

        variant, source = context.variant, self.source_options(context.variant)
        url = hf_hub_url(source.repo, spec.path, revision=revision)
        try:
            meta = get_hf_file_metadata(url, timeout=context.timeout)
        except Exception as exc:  # mapped to one clear error each; unknown ones re-raised
            raise self._explain(exc, variant, spec.path, get_token() is not None) from None
        etag = _clean_etag(meta.etag)
        headers = build_hf_headers()
        if not same_origin(meta.location, constants.ENDPOINT):
            headers.pop("authorization", None)  # as huggingface_hub does: no token to the CDN
            headers.pop("Authorization", None)
        transfer = Transfer(
            path=spec.path,
            size=meta.size,
            url=meta.location,
            headers=headers,
            hub_sha256=etag if re.fullmatch(r"[0-9a-f]{64}", etag) else None,
            hub_git_sha1=etag if re.fullmatch(r"[0-9a-f]{40}", etag) else None,
            partial_key=partial_key("huggingface", source.repo, spec.path, etag, meta.size),
        )
        return transfer, meta.commit_hash or revision

    def _expand(self, variant, files, have_token: bool):
        """Resolve the revision to a commit, then add the repo's files that match allow_patterns."""
        from huggingface_hub import HfApi
        from huggingface_hub.hf_api import RepoFile

        from registry.manifest import FileSpec

        source = self.source_options(variant)
        api = HfApi()
        try:
            commit = api.model_info(source.repo, revision=source.revision).sha
            tree = list(api.list_repo_tree(source.repo, revision=commit, recursive=True))
        except Exception as exc:
            raise self._explain(exc, variant, "(file list)", have_token) from None
        listed = {f.path for f in files}
        for item in tree:
            if not isinstance(item, RepoFile) or item.path in listed or not any(_matches(item.path, p) for p in source.allow_patterns):
                continue
            try:
                files.append(FileSpec(path=item.path, role="other"))
            except ValidationError:  # the listing is the hub's word, untrusted: no '..', no absolute paths
                raise NetworkError(f"The hub listed a file of {source.repo} at an unsafe path ({item.path[:120]!r}); "
                                   "zoo fetched nothing.",
                                   fix="Check HF_ENDPOINT (a mirror or proxy may be broken or hostile).") from None
            listed.add(item.path)
        return commit, files

    def _explain(self, exc: Exception, variant, path: str, have_token: bool) -> Exception:
        from huggingface_hub import constants
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            OfflineModeIsEnabled,
            RemoteEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        source = self.source_options(variant)
        repo = source.repo
        accept = variant.license.accept_url or f"{constants.ENDPOINT}/{repo}"
        login = "set HF_TOKEN to a token from https://huggingface.co/settings/tokens, or run `hf auth login`"
        if isinstance(exc, GatedRepoError):
            if not have_token:
                return AccessDeniedError(
                    f"{repo} is gated on Hugging Face and no token was found.",
                    fix=f"Accept the licence at {accept} while logged in, then {login}.",
                    hub="huggingface", resource=repo,
                )
            return AccessDeniedError(
                f"Your Hugging Face token cannot read the gated repo {repo}: the licence has not been accepted "
                "by the account the token belongs to.",
                fix=f"Accept the licence at {accept} with that account, then run the command again.",
                hub="huggingface", resource=repo,
            )
        if isinstance(exc, RepositoryNotFoundError):  # the hub answers alike for a private repo and no repo
            return SourceNotFoundError(
                f"Hugging Face says {repo} does not exist or is private" + ("" if have_token else " (no token was sent)") + ".",
                fix=("If it is private or gated, " + login + ". ") if not have_token else "Check the repo id in the manifest.",
            )
        if isinstance(exc, RevisionNotFoundError):
            return SourceNotFoundError(f"{repo} has no revision '{source.revision}'.", fix="Fix `revision` in the manifest.")
        if isinstance(exc, RemoteEntryNotFoundError):
            return SourceNotFoundError(f"{repo} has no file '{path}' at revision '{source.revision}'.",
                                       fix="Fix the file list in the manifest (`zoo info` shows it).")
        if isinstance(exc, OfflineModeIsEnabled):
            return OfflineError(f"{variant.id} needs {repo} from Hugging Face, and HF_HUB_OFFLINE is set.",
                                fix="Unset HF_HUB_OFFLINE to download.")
        if isinstance(exc, HfHubHTTPError) and getattr(exc.response, "status_code", None) == 401:
            return AccessDeniedError(f"Hugging Face refused the token for {repo} (401).",
                                     fix=f"Check the token: {login}.", hub="huggingface", resource=repo)
        # The client's transport errors (httpx, which huggingface_hub 2.4 ships as `httpx2`), by module
        # rather than by import, so a rename there does not turn a refused connection into a bug report.
        transport = type(exc).__module__.partition(".")[0].startswith("httpx")
        if transport or isinstance(exc, (LocalEntryNotFoundError, HfHubHTTPError, OSError)):
            return NetworkError(
                f"Could not reach {constants.ENDPOINT} for {repo}/{path} ({type(exc).__name__}).",
                fix="Check the connection (and HF_ENDPOINT if you use a mirror), then run the command again.",
            )
        if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError, RecursionError)):
            # An answer that is not what the Hub API returns: garbage JSON, a wrong shape, a proxy's page.
            return NetworkError(
                f"{constants.ENDPOINT} answered for {repo}/{path} with something that is not the Hub's API ({type(exc).__name__}).",
                fix="Check HF_ENDPOINT (a mirror or proxy may be broken), then run the command again.",
            )
        return exc


@hookimpl
def register_sources(register):
    register(HuggingFaceSource())
