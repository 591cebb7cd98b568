"""`jobspec ui`: the command only. The server (jobspec/ui/) is imported when the command runs,
so no other command loads it."""

from __future__ import annotations

import click

EXIT_STOPPED = 130  # stopped by Ctrl-C (or SIGTERM), as every jobspec command interrupted


@click.command()
@click.option("--port", "-p", default=0, type=click.IntRange(0, 65535),
              help="Port to listen on. Default: a free one.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback shows your jobs to the network.")
@click.option("--spec", default=None, type=click.Path(dir_okay=False),
              help="Spec whose cloud targets' jobs are listed, besides the default spec's.")
def ui(port: int, host: str, spec: str | None) -> None:
    """Serve a page of this project's jobs (local runs and cloud jobs): their state, plan,
    log and metrics. Read-only, except cancel and rerun, which need the token it prints.
    Ctrl-C stops it (exit 130)."""
    import errno
    import signal

    from jobspec.cli_common import _info
    from jobspec.errors import UsageError
    from jobspec.output import current
    from jobspec.places import project_root
    from jobspec.ui.server import Server

    try:
        server = Server(project_root(spec), spec, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is in use",
                             hint="pick another with --port, or leave it out for a free one"
                             ) from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    out = current()
    out.print(f"jobspec ui: {server.app.local.root} at {server.url}")
    out.print(f"actions token: {server.token}")
    out.print(f"open {server.url}#token={server.token} to cancel and rerun from the page")
    _info("Ctrl-C stops it")
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
    _info("stopped")
    raise SystemExit(EXIT_STOPPED)
