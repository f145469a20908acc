"""`zoo toolchain ...`: the isolated environments converters run in."""

from __future__ import annotations

import click

from zoo_cli.common import json_option
from zoo_cli.terminal import terminal


def _declared():
    from zoo_cli.common import load_catalog

    return load_catalog().toolchains()


def _pick(names, install_all: bool):
    declared = _declared()
    if install_all:
        return list(declared.values())
    unknown = [n for n in names if n not in declared]
    if unknown or not names:
        from registry.errors import ZooError

        raise ZooError(
            f"Unknown toolchain {', '.join(unknown)}." if unknown else "Name a toolchain, or pass --all.",
            fix=f"Known toolchains: {', '.join(declared)} (`zoo toolchain list`).",
        )
    return [declared[n] for n in names]


@click.group("toolchain")
def toolchain_group() -> None:
    """List, install, check and remove converter toolchains."""


@toolchain_group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Every toolchain the plugins declare, and whether it is installed."""
    from registry import toolchains

    from registry import toolchain_locks
    from registry.errors import ToolchainError

    rows = []
    for name, spec in _declared().items():
        try:
            lock = toolchain_locks.find(spec)
            env = toolchains.find(spec)
            where = str(env.path) if env and env.path else ("(zoo's own interpreter)" if env else str(toolchains.location(spec)))
        except ToolchainError as exc:  # no lock for this platform, or a stale one: say so, list the rest
            lock, env, where = None, None, exc.message
        rows.append({
            "name": name,
            "installed": env is not None,
            "path": where,
            "requirements": list(spec.requirements),
            "lock": str(lock.path) if lock else None,
            "lock_sha256": lock.digest if lock else None,
            "packages": len(env.lock) if env else 0,
        })
    if as_json:
        terminal.json(rows)
        return
    terminal.table(["NAME", "INSTALLED", "PACKAGES", "LOCK", "PATH"],
                   [[r["name"], "yes" if r["installed"] else "no", str(r["packages"] or "-"),
                     r["lock_sha256"][:12] if r["lock_sha256"] else "-", r["path"]] for r in rows])


@toolchain_group.command("install")
@click.argument("names", nargs=-1)
@click.option("--all", "install_all", is_flag=True, help="Install every declared toolchain.")
def install_command(names, install_all: bool) -> None:
    """Create toolchains ahead of time (builds create them on first use otherwise)."""
    from registry import toolchains

    for spec in _pick(names, install_all):
        env = toolchains.ensure(spec, terminal.message)
        terminal.message(f"{spec.name}: ready at {env.path or 'zoo’s own interpreter'} ({len(env.lock)} packages).")


@toolchain_group.command("lock")
@click.argument("names", nargs=-1)
@click.option("--all", "lock_all", is_flag=True, help="Lock every declared toolchain that has a lock directory.")
def lock_command(names, lock_all: bool) -> None:
    """Resolve toolchains' pins for this machine and write their committed locks (maintainers).

    pip resolves each pip toolchain with your pip configuration and records every package with
    the sha256 of its file, for this platform only; npm writes package-lock.json. Run the tests,
    then commit the lock with the reason (docs/toolchains.md)."""
    from registry import toolchains

    for spec in _pick(names, lock_all):
        if lock_all and spec.locks is None:
            continue
        path = toolchains.make_lock(spec)
        terminal.message(f"{spec.name}: wrote {path}.")


@toolchain_group.command("doctor")
@click.argument("names", nargs=-1)
def doctor_command(names) -> None:
    """Check installed toolchains: pip check (npm ls), a probe, every package against the lock; the web one reports its WebGPU adapter."""
    from registry import toolchains
    from registry.errors import ExitCode

    declared = _declared()
    bad = False
    for name, spec in declared.items():
        if names and name not in names:
            continue
        env = toolchains.find(spec)
        if env is None:
            terminal.print(f"-       {name}: not installed (`zoo toolchain install {name}`)", markup=False)
            continue
        findings: list[str] = []
        problems = toolchains.doctor(env, spec.probe, findings)
        bad = bad or bool(problems)
        terminal.print(f"{'ok' if not problems else 'BROKEN':7} {name}" + "".join(f"\n  {line}" for line in problems + findings),
                       markup=False)
    if bad:
        raise click.exceptions.Exit(int(ExitCode.BUILD_FAILED))


@toolchain_group.command("rm")
@click.argument("names", nargs=-1, required=True)
def rm_command(names) -> None:
    """Delete installed toolchains (they are recreated on the next build that needs them)."""
    from registry import toolchains

    for name in names:
        removed = toolchains.remove(name)
        terminal.message(f"Removed {len(removed)} environment(s) of {name}." if removed else f"{name} is not installed.")
