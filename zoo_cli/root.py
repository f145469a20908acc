"""`zoo` itself: the root command group, its lazily loaded subcommands, and the one place errors
become messages and exit codes. zoo_cli.run() (the executable) calls main().

Each command module imports what it needs inside the command, so `zoo --help`, `zoo list` and
`zoo info` never pay for (or break on) the heavy converter stacks.
"""

from __future__ import annotations

import sys

import click

from registry.errors import DiskError, ExitCode, ZooError

# name -> "module:attribute"; loaded only when the command runs (or help lists it).
COMMANDS = {
    "list": "zoo_cli.list:list_command",
    "info": "zoo_cli.info:info_command",
    "plugins": "zoo_cli.plugins:plugins_command",
    "manifest": "zoo_cli.manifest:manifest_group",
    "pull": "zoo_cli.pull:pull_command",
    "import": "zoo_cli.import_file:import_command",
    "ls": "zoo_cli.store_commands:ls_command",
    "path": "zoo_cli.store_commands:path_command",
    "rm": "zoo_cli.store_commands:rm_command",
    "gc": "zoo_cli.store_commands:gc_command",
    "verify": "zoo_cli.verify:verify_command",
    "build": "zoo_cli.build:build_command",
    "toolchain": "zoo_cli.toolchain:toolchain_group",
    "run": "zoo_cli.run:run_command",
    "bench": "zoo_cli.bench:bench_command",
    "serve": "zoo_cli.serve:serve_command",
    "web": "zoo_cli.web:web_command",
    "push": "zoo_cli.push:push_command",
    "sign": "zoo_cli.sign:sign_command",
    "export": "zoo_cli.export:export_command",
    "plugin": "zoo_cli.plugin_new:plugin_group",
}


def _data_only_stdout(command: click.Command) -> click.Command:
    """Run the command (each command of a group) with sys.stdout pointed at stderr and zoo's own
    output written to the real stdout (zoo_cli.terminal), so nothing a library prints can corrupt
    `--json` or a path a script reads. Help and version texts, printed before, still go to stdout."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _data_only_stdout(sub)
    elif command.callback is not None and not getattr(command.callback, "_zoo_guarded", False):
        import functools

        callback = command.callback

        @functools.wraps(callback)
        def guarded(*args, **kwargs):
            from zoo_cli.terminal import terminal

            with terminal.data_only_stdout():
                return callback(*args, **kwargs)

        guarded._zoo_guarded = True
        command.callback = guarded
    return command


class LazyGroup(click.Group):
    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_commands:
            import importlib

            module, _, attr = self.lazy_commands[name].partition(":")
            return _data_only_stdout(getattr(importlib.import_module(module), attr))
        found = super().get_command(ctx, name)
        return _data_only_stdout(found) if found is not None else None


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="zoo", prog_name="zoo")
def cli() -> None:
    """zoo: pull, build and verify on-device LLMs for MediaPipe and LiteRT-LM.

    \b
    Start with `zoo list`, then `zoo info ID`. Set ZOO_DEBUG=1 to see full tracebacks.
    """


def main(argv: list[str] | None = None) -> int:
    from registry import settings

    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        returned = cli.main(args=argv, prog_name="zoo", standalone_mode=False)
    except ZooError as exc:
        if settings.debug():  # the traceback too, and still the error's own exit code for scripts
            import traceback

            traceback.print_exc()
        from zoo_cli.terminal import terminal

        terminal.error(f"{exc.message}" + (f" {exc.fix}" if exc.fix else ""))
        return int(exc.exit_code)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.USAGE) if isinstance(exc, click.UsageError) else int(ExitCode.ERROR)
    except click.exceptions.Abort as exc:  # click turns Ctrl-C (and so SIGTERM/SIGHUP, see run()) into Abort
        if isinstance(exc.__context__, KeyboardInterrupt):
            return _interrupted(exc.__context__)
        return int(ExitCode.ERROR)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP turned into one by run()
        return _interrupted(exc)
    except SystemExit as exc:
        return _ended_midway(exc)
    except Exception as exc:  # a bug, not a known failure: say so, and how to see the traceback
        if settings.debug():
            raise
        return _unexpected(exc)
    return returned if isinstance(returned, int) else int(ExitCode.OK)


def _ended_midway(exc: SystemExit) -> int:
    """zoo's commands return their exit code; only a plugin (or a library it called) exits midway,
    and "exit 0 having done nothing" must never pass for success, debug or not."""
    from registry import settings
    from zoo_cli.terminal import terminal

    if settings.debug():
        import traceback

        traceback.print_exc()
    culprit = _innermost_module(exc)
    terminal.error(
        f"Code in {culprit} tried to end zoo (SystemExit({exc.code!r})) in the middle of the command, "
        "so the command did not finish. This is a bug in that plugin: `zoo plugins` shows which package provides it, "
        "and ZOO_LOAD_PLUGINS / ZOO_DISABLE_PLUGIN_AUTOLOAD=1 run zoo without it."
    )
    return int(ExitCode.PLUGIN_ERROR)


def _unexpected(exc: Exception) -> int:
    """An exception no command turned into a ZooError: a full disk is the user's to fix, a plugin's bug
    names the plugin, and anything else is zoo's own bug."""
    from zoo_cli.terminal import terminal

    disk = DiskError.from_os_error(exc) if isinstance(exc, OSError) else None
    if disk is not None:  # a full disk can strike at any write
        terminal.error(f"{disk.message} {disk.fix}")
        return int(disk.exit_code)
    plugin = _plugin_in_traceback(exc)
    if plugin is not None:  # name it, so the user knows whose it is and can leave it out
        terminal.error(
            f"The plugin '{plugin[0]}' (package {plugin[1]}) failed in its own code ({type(exc).__name__}: {exc}), "
            "so the command did not finish. This is a bug in that plugin: report it to its authors with the "
            "traceback ZOO_DEBUG=1 shows; ZOO_LOAD_PLUGINS or ZOO_DISABLE_PLUGIN_AUTOLOAD=1 run zoo without it."
        )
        return int(ExitCode.PLUGIN_ERROR)
    terminal.error(
        f"zoo hit an internal error ({type(exc).__name__}: {exc}). This is a bug in zoo or a plugin. "
        "Run again with ZOO_DEBUG=1 to see the full traceback, and include it in a bug report."
    )
    return int(ExitCode.ERROR)


def _plugin_in_traceback(exc: BaseException) -> tuple[str, str] | None:
    """(plugin, distribution) whose module raised `exc` or called what did: the innermost frame of a
    loaded plugin's package in the traceback; None when no plugin's code was on the way."""
    from registry.plugins import discover_entry_points

    packages = {ep.value.split(":", 1)[0]: (ep.name, ep.distribution) for ep in discover_entry_points()}
    found, tb = None, exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        for package, plugin in packages.items():
            if module == package or module.startswith(package + "."):
                found = plugin
        tb = tb.tb_next
    return found


def _innermost_module(exc: BaseException) -> str:
    """The module whose code raised `exc` (the last frame of its traceback), for the message."""
    tb, name = exc.__traceback__, "a plugin"
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module and not module.startswith(("zoo_cli", "registry.")):
            name = f"module '{module}'"
        tb = tb.tb_next
    return name


def _interrupted(exc: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM)."""
    number = getattr(exc, "signal_number", 2)
    sys.stderr.write("Interrupted.\n" if number == 2 else f"Stopped by signal {number}.\n")
    return 128 + number


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where zoo is, as Ctrl-C is."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number


def stop_on_signals() -> None:
    """SIGTERM (a service manager, `kill`) and SIGHUP (a closed terminal) end zoo as Ctrl-C does: as an
    exception, so each running child job's process group is killed and partial files are removed on the
    way out. By default they end the interpreter at once, and a child in its own session (a converter,
    `zoo web`'s node server) went on running, orphaned."""
    import signal

    def stop(number, frame):
        raise Stopped(number)

    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, stop)
