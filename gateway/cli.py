"""The ``keel`` command line: serve the gateway, manage API keys."""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import signal
import sys
from collections.abc import Iterator, Sequence
from types import FrameType

from gateway.auth import ROLES, KeyStore
from gateway.settings import Settings
from gateway.review import cli as review_cli
from guardrails import cli as guards_cli
from rag import cli as rag_cli

log = logging.getLogger("keel")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, LookupError) as exc:
        print(f"keel: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keel", description="Keel: aligned chat models behind an OpenAI-compatible gateway.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the gateway", description="Start the OpenAI-compatible gateway.")
    serve.add_argument("--model", help="registered model name (smollm2-135m-instruct, tiny-random) or a local HF model dir")
    serve.add_argument("--served-model-name", help="model id clients use (default: the model's name)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--config", help="YAML settings file (default ./keel.yaml if present)")
    serve.add_argument("--log-level", help="debug, info, warning or error")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (default 1); /metrics merges them")
    serve.add_argument(
        "--init-dev-key",
        action="store_true",
        help="if the keys file holds no key yet, create a development key (all roles) and print it once",
    )
    serve.set_defaults(handler=_serve)

    keys = commands.add_parser("keys", help="manage API keys", description="Manage API keys (stored as SHA-256 hashes).")
    keys_cmds = keys.add_subparsers(title="keys commands", metavar="ACTION")
    add = keys_cmds.add_parser("add", help="create a key and print it once")
    add.add_argument("--tenant", required=True, help="tenant the key belongs to")
    add.add_argument("--roles", default="user", help=f"comma-separated roles among {','.join(ROLES)} (default user)")
    add.add_argument("--models", default="*", help="comma-separated model ids the key may use (default *: all)")
    add.add_argument("--name", default="", help="a label for the key")
    add.add_argument("--config", help="YAML settings file (locates the keys file)")
    add.set_defaults(handler=_keys_add)
    listing = keys_cmds.add_parser("list", help="list keys (tenant, roles, id; never the key)")
    listing.add_argument("--config", help="YAML settings file (locates the keys file)")
    listing.set_defaults(handler=_keys_list)
    rag_cli.add_commands(commands, Settings.load)  # keel ingest, keel rag eval|sources|delete
    guards_cli.add_commands(commands, Settings.load)  # keel guards train|eval
    review_cli.add_commands(commands, Settings.load)  # keel feedback export
    from alignment import cli as align_cli  # argparse only; the pipeline loads torch when it runs

    align = commands.add_parser(
        "align", help="run an alignment recipe", description="Run an alignment recipe (or one stage); stages resume."
    )
    align_cli.add_arguments(align)
    align.set_defaults(handler=align_cli.run)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from alignment import registry
    from gateway.app import create_app
    from telemetry.logging import configure

    settings = Settings.load(
        args.config, model=args.model, served_model_name=args.served_model_name, host=args.host, port=args.port,
        log_level=args.log_level, workers=args.workers,
    )
    configure(settings.log_level)
    store = KeyStore(settings.keys_path)
    if args.init_dev_key and store.count() == 0:
        key, _ = store.add("dev", ["user", "reviewer", "admin"], name="dev key from make serve")
        _print_dev_key(key, settings)
    elif store.count() == 0:
        log.warning("no API keys yet: create one with `keel keys add --tenant T --roles user`", extra={"keys_file": str(settings.keys_path)})
    if settings.backend == "transformers":
        log.info("resolving model", extra={"model": settings.model})
        registry.resolve(settings.model)  # builds the local copy once (GGUF → safetensors) before serving
    if settings.workers > 1:
        return _serve_workers(args, settings)
    app = create_app(settings)
    # SIGTERM: uvicorn stops accepting connections, lets in-flight requests (streams included) finish for up
    # to graceful_shutdown_s, runs the lifespan shutdown (the engine stops), then re-raises the signal.
    with _exit_zero_on_sigterm():
        uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                    timeout_graceful_shutdown=settings.graceful_shutdown_s)
    return 0


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """Several processes on one socket: each builds its app from KEEL_* (gateway.app:app_from_env)."""
    import os

    import uvicorn

    from telemetry import metrics

    flags = {"KEEL_MODEL": args.model, "KEEL_SERVED_MODEL_NAME": args.served_model_name, "KEEL_HOST": args.host,
             "KEEL_PORT": args.port, "KEEL_LOG_LEVEL": args.log_level, "KEEL_CONFIG_FILE": settings.config_file}
    os.environ.update({name: str(value) for name, value in flags.items() if value is not None})
    given = metrics.multiprocess_dir()
    shared = metrics.prepare_multiprocess_dir(given)  # before the workers import prometheus_client
    log.info("starting workers", extra={"workers": settings.workers, "metrics_dir": str(shared)})
    try:
        with _exit_zero_on_sigterm():
            uvicorn.run("gateway.app:app_from_env", factory=True, workers=settings.workers, host=settings.host,
                        port=settings.port, log_config=None, timeout_graceful_shutdown=settings.graceful_shutdown_s)
    finally:
        if given is None:
            metrics.remove_multiprocess_dir(shared)
    return 0


@contextlib.contextmanager
def _exit_zero_on_sigterm() -> Iterator[None]:
    """A SIGTERM that uvicorn has already handled (drained, shut down) ends the process with status 0.

    uvicorn re-raises the signal it caught once it has shut down; with the default handler that kills the
    process (status -15), which supervisors read as a crash. This handler turns it into a clean exit.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_dev_key(key: str, settings: Settings) -> None:
    from alignment import registry

    model = settings.served_model_name or registry.served_name(settings.model)
    base = f"http://{settings.host}:{settings.port}"
    body = f'{{"model": "{model}", "messages": [{{"role": "user", "content": "Say hello in one sentence."}}]}}'
    print(
        "\n".join(
            [
                "",
                "A development API key was created (shown once; only its hash is stored in "
                f"{settings.keys_path}):",
                "",
                f"    {key}",
                "",
                "Try it:",
                "",
                f"    curl {base}/v1/chat/completions -H 'Authorization: Bearer {key}' \\",
                f"      -H 'Content-Type: application/json' -d {shlex.quote(body)}",
                "",
            ]
        ),
        flush=True,
    )


def _keys_add(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    key, principal = KeyStore(settings.keys_path).add(args.tenant, roles, models, name=args.name)
    print(key)
    print(
        f"tenant={principal.tenant} roles={','.join(sorted(principal.roles))} id={principal.key_id} "
        f"(store it now: only its hash is kept in {settings.keys_path})",
        file=sys.stderr,
    )
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
    for principal in KeyStore(settings.keys_path).principals():
        print(f"{principal.key_id}  tenant={principal.tenant}  roles={','.join(sorted(principal.roles))}  "
              f"models={','.join(principal.models)}  {principal.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
