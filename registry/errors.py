"""All of zoo's known failures, each carrying what went wrong and what to do about it.

The CLI turns any `ZooError` into one paragraph (its message, then its fix) and exits with the
error's `exit_code`; anything else is a bug and shows a traceback. Attributes are structured
(`variant_id`, `path`, ...) so callers and tests never parse messages.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Sequence


class ExitCode(IntEnum):
    """zoo's exit codes: a contract scripts and CI rely on (README's "Exit codes" table lists them; a test
    walks every raise site in registry/, plugins/ and zoo_cli/ to a documented code). 128+N: stopped by
    signal N (130 for Ctrl-C)."""

    OK = 0
    ERROR = 1
    """Any other failure: the local disk, a lock, a setting zoo cannot use."""
    USAGE = 2
    """The command asks for something that makes no sense as given: a wrong option, an ambiguous name,
    pulling what is built or building what is published ready-made."""
    NOT_FOUND = 3
    """No such thing: a variant, a stored artifact, or a repo, revision, model or file at the source."""
    INVALID_MANIFEST = 4
    PLUGIN_ERROR = 5
    INTEGRITY = 6
    """Bytes that are not what was promised: a digest, a checksum, a format check, a signature."""
    ACCESS_DENIED = 7
    """Credentials missing or refused, or a licence not accepted."""
    OFFLINE = 8
    NETWORK = 9
    """The network or a server failed (after retries), or a server broke its protocol."""
    BUILD_FAILED = 10
    """A converter, bundler or check failed, or its toolchain could not be made."""


class ZooError(Exception):
    """Base class. `message` says what happened, `fix` says what to do next.

    Example:
        raise ZooError("the store is locked by another zoo", fix="wait for it, or delete ZOO_HOME/locks")
    """

    exit_code: ExitCode = ExitCode.ERROR
    """The code zoo exits with for this class of failure (the README's table); each subclass sets its own."""

    def __init__(self, message: str, *, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message} {self.fix}"


@dataclass(frozen=True)
class ManifestProblem:
    key_path: str
    """Where in the file, e.g. `models[0].variants[1].files[0].sha256`."""
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key_path or '(top level)'}: {self.problem}. Fix: {self.fix}."


class NotReproducibleError(ZooError):
    """A rebuild from scratch gave other bytes than the stored build (`zoo build --reproduce`)."""

    exit_code = ExitCode.INTEGRITY


class UsageError(ZooError):
    """An option combination zoo refuses as given (exit 2), e.g. listening beyond loopback without a key."""

    exit_code = ExitCode.USAGE


class ManifestError(ZooError):
    """A manifest that cannot be trusted; every problem names its key and its fix.

    Example:
        ManifestError(Path("manifests/phi.toml"), [ManifestProblem("models[0].variants[0].backend",
                      "'tpu' is not one of 'cpu', 'gpu'", "set backend to 'cpu' or 'gpu'")])
    """

    exit_code = ExitCode.INVALID_MANIFEST

    def __init__(self, path: Path | str, problems: Sequence[ManifestProblem]):
        self.path = Path(path)
        self.problems = list(problems)
        count = len(self.problems)
        lines = "; ".join(str(p) for p in self.problems)
        super().__init__(
            f"Manifest {self.path} has {count} problem{'s' if count != 1 else ''}: {lines}",
            fix=f"Edit the file, then check it with `zoo manifest validate {self.path}`.",
        )


class PluginError(ZooError):
    """A plugin registered something zoo cannot accept (bad name, duplicate, wrong type)."""

    exit_code = ExitCode.PLUGIN_ERROR


class DuplicateRegistrationError(PluginError):
    """Two plugins claimed the same id; both are named so the user knows which to remove.

    Example:
        DuplicateRegistrationError("variant", "phi-2-cpu-int8", "phi", "zoo-phi-extra")
    """

    def __init__(self, kind: str, name: str, first: str, second: str, where: str | None = None):
        self.kind, self.name, self.first, self.second, self.where = kind, name, first, second, where
        place = f" (in {where})" if where else ""
        rename = f"rename it in {where}" if where else "rename it"
        super().__init__(
            f"The {kind} id '{name}' is registered by two plugins: '{first}' and '{second}'{place}.",
            fix=(
                f"If you maintain '{second}', {rename}; otherwise uninstall or disable one of them (for example run "
                f"with ZOO_LOAD_PLUGINS set to the plugins you want). `zoo plugins` lists who provides what."
            ),
        )


class UnknownVariantError(ZooError):
    """A query that matches no variant; carries the closest ids for a "did you mean"."""

    exit_code = ExitCode.NOT_FOUND

    def __init__(self, query: str, suggestions: Sequence[str], detail: str = ""):
        self.query = query
        self.suggestions = list(suggestions)
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(
            f"No model or variant called '{query}'{detail}.{hint}",
            fix="Run `zoo list` to see every variant, or `zoo list --json` for scripts.",
        )


class AmbiguousVariantError(ZooError):
    """A model name (plus options) that still matches several variants."""

    exit_code = ExitCode.USAGE

    def __init__(self, query: str, candidates: Sequence[str], missing_options: Sequence[str]):
        self.query = query
        self.candidates = list(candidates)
        flags = " and ".join(missing_options) or "a full variant id"
        super().__init__(
            f"'{query}' matches {len(self.candidates)} variants: {', '.join(self.candidates)}.",
            fix=f"Name one id exactly, or narrow it with {flags} (e.g. `zoo info {self.candidates[0]}`).",
        )


class VariantMismatchError(ZooError):
    """An exact variant id asked for with an option it does not have (`gemma-2b-it-gpu-int4 --backend cpu`)."""

    exit_code = ExitCode.NOT_FOUND


class AccessDeniedError(ZooError):
    """The hub refused us (401/403) or credentials are missing; says which credential and where to accept.

    Example:
        AccessDeniedError("huggingface", "google/gemma-2b-it", "gated", fix="Accept the licence at ...")
    """

    exit_code = ExitCode.ACCESS_DENIED

    def __init__(self, message: str, *, fix: str, hub: str = "", resource: str = ""):
        super().__init__(message, fix=fix)
        self.hub, self.resource = hub, resource


class IntegrityError(ZooError):
    """Bytes that do not match what was promised; nothing was stored.

    Example:
        IntegrityError("phi-2-cpu-int8", "tokenizer.json", "sha256", "ab12...", "cd34...")
    """

    exit_code = ExitCode.INTEGRITY

    def __init__(self, variant_id: str, path: str, what: str, expected: str, got: str, *, fix: str | None = None):
        self.variant_id, self.path, self.what, self.expected, self.got = variant_id, path, what, expected, got
        super().__init__(
            f"{path} of {variant_id} failed its {what} check: expected {expected}, got {got}. Nothing was stored.",
            fix=fix
            or f"Run `zoo pull {variant_id}` again to re-download it. If it fails the same way, the file on the hub "
            "differs from the one this manifest pinned: report it to the manifest's maintainers.",
        )


class UpstreamChangedError(ZooError):
    """The hub now serves other bytes under a name zoo pinned: refused before any of them moved."""

    exit_code = ExitCode.INTEGRITY


class FormatCheckError(ZooError):
    """A file has the right bytes count but the wrong structure (not TFL3, wrong backend, ...)."""

    exit_code = ExitCode.INTEGRITY


class OfflineError(ZooError):
    exit_code = ExitCode.OFFLINE


class NetworkError(ZooError):
    exit_code = ExitCode.NETWORK


class DiskError(ZooError):
    """The local disk refused a write (full, read-only); nothing half-written is left."""

    exit_code = ExitCode.ERROR

    FULL_OR_READ_ONLY = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)

    @classmethod
    def writing(cls, exc: OSError, what: str = "", where: Path | None = None) -> DiskError:
        """The one wording for a disk that refuses a write, wherever in zoo the write happened."""
        where = where or (Path(exc.filename).parent if exc.filename else None)
        return cls(
            f"Writing {what + ' ' if what else ''}{f'to {where} ' if where else ''}failed: {exc.strerror or exc}.",
            fix="Free space (`zoo gc` removes unused blobs) or set ZOO_HOME to a larger disk, then run the command again.",
        )

    @classmethod
    def from_os_error(cls, exc: OSError) -> DiskError | None:
        """A DiskError when the disk is full or read-only, or a file's permissions refuse zoo; None for
        any other OSError (a bug)."""
        if exc.errno in (errno.EACCES, errno.EPERM):
            return cls(
                f"zoo may not use {exc.filename or 'a file it needs'}: {exc.strerror or exc}.",
                fix="Check the permissions of ZOO_HOME and the files in it (`ls -l`), or set ZOO_HOME to a folder you own.",
            )
        return cls.writing(exc) if exc.errno in cls.FULL_OR_READ_ONLY else None


class NotInStoreError(ZooError):
    exit_code = ExitCode.NOT_FOUND


class SourceNotFoundError(ZooError):
    """The source has no such repo, model, revision, tag or file: the same failure, and the same exit code,
    on every hub and registry."""

    exit_code = ExitCode.NOT_FOUND


class NeedsBuildError(ZooError):
    """`zoo pull` of a variant that is built, not downloaded ready-made."""

    exit_code = ExitCode.USAGE


class ReadyMadeError(ZooError):
    """`zoo build` of a variant that is published ready-made: the mirror of NeedsBuildError."""

    exit_code = ExitCode.USAGE


class ToolchainError(ZooError):
    """A converter toolchain could not be created or used."""

    exit_code = ExitCode.BUILD_FAILED


class BuildError(ZooError):
    """A build step failed: the converter crashed or refused, or the output failed verification.

    Nothing is installed when this is raised.
    """

    exit_code = ExitCode.BUILD_FAILED
