"""`zoo pull ID...`: download verified artifacts into the store."""

from __future__ import annotations

from pathlib import Path

import click

from zoo_cli.common import filter_options, human_size, json_option, load_catalog, make_filters, say_default
from zoo_cli.terminal import terminal


def _remote_variant(catalog, url: str, insecure: bool, local_id: str | None, replace: bool, quiet: bool = False):
    """What a URL holds, described by the source plugin whose scheme it is (oci://...)."""
    from registry.errors import ZooError

    scheme = url.split("://", 1)[0]
    kinds = [s for s in catalog.registered("source").values() if s.url_scheme == scheme]
    if not kinds:
        known = ", ".join(sorted(f"{s.url_scheme}://" for s in catalog.registered("source").values() if s.url_scheme)) or "none"
        raise ZooError(f"No loaded plugin pulls {scheme}:// URLs (zoo knows {known}).",
                       fix="Name a catalog variant (`zoo list`), or install the plugin that reads such URLs.")
    from registry.fetch import claim_remote_id

    variant = kinds[0].remote_variant(url, insecure=insecure)
    if not quiet:
        for note in variant.notes:  # what the source could not vouch for (a foreign artifact's unchecked files)
            terminal.message(note)
    return claim_remote_id(variant, url, local_id=local_id, replace=replace)


def _refuse_reference(catalog, query: str) -> None:
    """MODEL:REFERENCE names a repo to build from; nothing ready-made is published under it."""
    from registry.errors import NeedsBuildError, ZooError
    from registry.references import split
    from registry.resolver import resolve

    named = split(query)
    try:
        takes_references = named is not None and bool(resolve(catalog, named[0]).get("by_reference"))
    except ZooError:
        takes_references = False
    if takes_references:
        raise NeedsBuildError(f"'{query}' names a repo zoo builds from, not a ready-made artifact.",
                              fix=f"Run `zoo build {query}`.")


@click.command("pull")
@click.argument("queries", nargs=-1, required=True)
@filter_options
@click.option("--locked", is_flag=True, help="Refuse files whose digest is pinned neither in the manifest nor in zoo.lock.")
@click.option("--repair", is_flag=True, help="Re-hash what is stored and fetch again only the files that are bad.")
@click.option("--update", is_flag=True, help="Accept files the publisher changed since zoo.lock pinned them, and pin the new ones.")
@click.option("--run-check", "run_check_", is_flag=True, help="Also load each artifact in its runtime and generate a few "
              "tokens (LiteRT-LM on CPU for .litertlm and .task).")
@click.option("--require-signature", "public_key", type=click.Path(path_type=Path, dir_okay=False),
              help="Refuse an artifact not signed by this public key (PEM); it is removed again, nothing kept.")
@click.option("--insecure", is_flag=True, help="For oci://: plain http, for a registry on this machine only.")
@click.option("--as", "local_id", metavar="ID", help="For a URL: keep the artifact under this id instead of the one it names.")
@click.option("--replace", is_flag=True, help="For a URL: let the artifact take the place of a local one of the same id "
              "that came from elsewhere.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or messages.")
@json_option
def pull_command(queries, locked, repair, update, run_check_, public_key, insecure, local_id, replace, quiet, as_json,
                 **filters) -> None:
    """Download variants, verify every byte, and install them in the store.

    A QUERY may also be a URL a source plugin reads, e.g. oci://REGISTRY/REPO:TAG for an artifact
    `zoo push` shared."""
    from registry import settings
    from registry.fetch import pull
    from zoo_cli.progress import reporter

    catalog = load_catalog()
    variants, defaults = _variants_to_pull(catalog, queries, insecure, local_id, replace, quiet or as_json, filters,
                                           notes=not quiet)
    results = []
    with reporter(quiet, bars=not as_json) as progress:
        for variant in variants:
            if not variant.prebuilt and settings.get().build_cache:  # a variant that is built: the team's cache may have it
                result = _from_build_cache(catalog, variant, insecure, public_key, progress)
            else:
                result = pull(catalog, variant, locked=locked, repair=repair, update=update, reporter=progress,
                              signed_by=public_key)
            results.append(result)
            if run_check_:
                _run_check(catalog, result, progress, quiet=quiet or as_json)
            if not as_json and not quiet:
                _say_pulled(result)
    _show_results(results, defaults, as_json)


def _variants_to_pull(catalog, queries, insecure, local_id, replace, quiet: bool, filters, *,
                      notes: bool = True) -> tuple[list, dict]:
    """The variant each query names (a URL becomes a variant of its own), and what was chosen by default;
    a URL's notes (what its source could not vouch for) go to stderr unless -q."""
    from registry.resolver import resolve

    if local_id is not None and [("://" in q) for q in queries] != [True]:
        from registry.errors import ZooError

        raise ZooError("--as names the artifact of one URL; it was given with "
                       + ("no URL." if not any("://" in q for q in queries) else "several queries."),
                       fix="Pull that one URL alone: `zoo pull oci://REGISTRY/REPO:TAG --as ID`.")
    variants, defaults = [], {}
    for query in queries:
        if "://" in query:
            variants.append(_remote_variant(catalog, query, insecure, local_id, replace, quiet=not notes))
            continue
        _refuse_reference(catalog, query)
        row = resolve(catalog, query, make_filters(**filters), purpose="pull")
        defaults[row["id"]] = say_default(row, quiet)
        variants.append(catalog.variant(row["id"]))
    return variants, defaults


def _run_check(catalog, result, progress, *, quiet: bool) -> None:
    from registry.run_check import run_check
    from registry.store import default_store

    record = run_check(catalog, default_store(), result.entry, progress.message)
    if not quiet:
        terminal.message(f"{result.variant_id}: ran in {record['runtime']}: {record['text'][:60]!r}")


def _say_pulled(result) -> None:
    if result.already_present:
        state = "already in the store"
    else:
        state = f"downloaded {human_size(result.downloaded_bytes)}" + (
            f", reused {human_size(result.reused_bytes)}" if result.reused_bytes else "")
    if result.unchecked:  # a first download no digest or checksum of the source's could check
        terminal.message(f"{result.variant_id}: {state}; unverified: nothing the source sent could check "
                         f"{', '.join(result.unchecked)} (pinned as it arrived).")
    else:
        terminal.message(f"{result.variant_id}: {state}, verified.")


def _show_results(results: list, defaults: dict, as_json: bool) -> None:
    if as_json:
        terminal.json([
            {
                "id": r.variant_id,
                "path": str(r.path),
                "files": [f.__dict__ for f in r.entry.files],
                "downloaded_bytes": r.downloaded_bytes,
                "reused_bytes": r.reused_bytes,
                "already_present": r.already_present,
                "pinned_on_first_use": r.pinned_now,
                "unverified": r.unchecked,
                "seconds": round(r.seconds, 3),
            } | defaults.get(r.variant_id, {})
            for r in results
        ])
    else:
        for r in results:
            terminal.line(str(r.path))


def _from_build_cache(catalog, variant, insecure: bool, signed_by, progress):
    """A variant that is built, pulled from the team's build cache (ZOO_BUILD_CACHE) under its build key;
    NeedsBuildError when the cache has no build of it."""
    from registry import settings
    from registry.build import BuildFlags, build
    from registry.build_cache import BuildCache
    from registry.fetch import PullResult

    cache = BuildCache.parse(settings.get().build_cache, insecure=insecure, signed_by=signed_by)
    built = build(catalog, variant, BuildFlags(cache=cache, cache_only=True), progress)
    return PullResult(built.variant_id, built.entry, built.path, seconds=built.seconds)
