"""``tailor serve-llm`` and ``tailor serve``."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from tailor.cli.common import BaseUrl, RoleAdapters, err_console, role_adapters, server_options
from tailor.errors import TailorError
from tailor.names import BACKENDS


def serve_llm(
    backend: str = "hf",
    model: str = "smollm2-135m-instruct",
    host: str = "127.0.0.1",
    port: int = 8000,
    name: Annotated[Optional[str], typer.Option(help="served model name (default: the model)")] = None,
    adapter: Annotated[Optional[list[str]], typer.Option(help="NAME=PATH of a LoRA adapter to serve as model NAME, or of a training run (the model it trained and kept); more can be loaded at run time: POST /v1/load_lora_adapter")] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="concurrent requests generated together, at most")] = 16,
    batch_wait_ms: Annotated[float, typer.Option(min=0, help="how long the first request of a batch waits for others")] = 10.0,
    deterministic: Annotated[bool, typer.Option(help="answers independent of their batch: the hf backend generates one request at a time")] = False,
    max_tokens_cap: Annotated[int, typer.Option(min=1, help="the longest answer a request may ask for (more: 422)")] = 1024,
    max_lora_rank: Annotated[Optional[int], typer.Option(min=1, help="refuse adapters of a higher LoRA rank, as vLLM's --max-lora-rank does")] = None,
    shutdown_grace: Annotated[float, typer.Option(min=0, help="seconds in-flight requests get after SIGTERM before they are cancelled")] = 10.0,
) -> None:
    """An OpenAI-compatible chat endpoint in front of a tailor backend; concurrent requests are
    generated in batches, and LoRA adapters are loaded and unloaded at run time as on vLLM."""
    import uvicorn

    from tailor import logs
    from tailor.llm import LLMConfig, make_llm
    from tailor.llm.server import create_app
    from tailor.train.kept import served_adapter

    logs.to_stderr()
    adapters = {name: served_adapter(path) for name, path in (a.split("=", 1) for a in adapter or [])}
    llm = make_llm(LLMConfig(backend=backend, model=model, cache=False, deterministic=deterministic))
    uvicorn.run(create_app(llm, name or model, adapters, max_batch=max_batch, batch_wait=batch_wait_ms / 1000, max_tokens=max_tokens_cap, max_lora_rank=max_lora_rank), host=host, port=port,
                timeout_graceful_shutdown=shutdown_grace)


def serve(
    db: Annotated[str, typer.Option(help="profile store: a SQLite file, or a SQLAlchemy URL such as postgresql+psycopg://user@host/tailor")] = "runs/service.sqlite",
    create_tenant: Annotated[Optional[str], typer.Option(help="create tenant NAME in the store, print its API key (shown once) and exit")] = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    backend: Annotated[str, typer.Option(help=", ".join(BACKENDS))] = "hf",
    model: Annotated[str, typer.Option(help="generator: model name, local path or hub id")] = "smollm2-135m-instruct",
    base_url: BaseUrl = None,
    retriever: Annotated[str, typer.Option(help="bm25, dense or dense:<model>")] = "bm25",
    k: Annotated[int, typer.Option(help="profile items retrieved unless a request sets k")] = 10,
    max_tokens: Annotated[int, typer.Option(help="answer length unless a request sets max_tokens")] = 512,
    adapter: RoleAdapters = None,
    alias: Annotated[Optional[list[str]], typer.Option(help="NAME=METHOD[:ADAPTER]: serve that spec as model NAME")] = None,
    runs_root: Annotated[Path, typer.Option(help="run folders: browsed at /runs; adapters a request names must lie here")] = Path("runs"),
    max_body_bytes: int = 1_000_000,
    max_item_chars: int = 20_000,
    max_items_per_user: int = 1_000,
    max_tokens_cap: Annotated[int, typer.Option(min=1, help="the longest answer a request may ask for (more: 422)")] = 1024,
    requests_per_minute: Annotated[int, typer.Option(min=1, help="answer requests a tenant may send a minute (more: 429)")] = 120,
    concurrent_answers: Annotated[int, typer.Option(min=1, help="a tenant's answers generated at once (more: 429)")] = 4,
    request_timeout: Annotated[float, typer.Option(min=0.1, help="seconds an answer may wait for its generation (then 504)")] = 300.0,
    admin_key: Annotated[Optional[str], typer.Option(envvar="TAILOR_ADMIN_KEY", help="the key that reads /runs and /metrics (Bearer, or a browser's Basic password); better set as $TAILOR_ADMIN_KEY")] = None,
    public_runs: Annotated[bool, typer.Option(help="let anyone who reaches the port browse the run folders")] = False,
    public_metrics: Annotated[bool, typer.Option(help="let anyone who reaches the port read /metrics")] = False,
    shutdown_grace: Annotated[float, typer.Option(min=0, help="seconds in-flight requests get after SIGTERM before they are cancelled")] = 10.0,
    summaries_on_write: Annotated[bool, typer.Option(help="remake a user's preference summary in the background after every profile write")] = False,
) -> None:
    """The personalization service: profiles per tenant, answers, an OpenAI-compatible chat
    endpoint (`user` picks the profile, `model` the method), metrics and the run browser."""
    from tailor.service.auth import create_tenant as new_tenant
    from tailor.service.store import ProfileStore, make_engine

    if create_tenant:
        key = new_tenant(ProfileStore(make_engine(db)), create_tenant)
        err_console.print(f"tenant {create_tenant!r} created in {db}; its API key (shown only now):")
        print(key)
        return
    import os

    import uvicorn

    from tailor import logs
    from tailor.llm import LLMConfig
    from tailor.methods import AnswerConfig
    from tailor.service.app import ServiceConfig, app_from_config
    from tailor.service.auth import Access
    from tailor.service.limits import Limits

    os.environ["TAILOR_PROGRESS"] = "0"  # no progress bars in a server (rich allows one live display at a time)
    logs.to_stderr()
    malformed = [a for a in alias or [] if "=" not in a]
    if malformed:
        raise TailorError(f"--alias takes NAME=METHOD[:ADAPTER], got {malformed[0]!r}")
    config = ServiceConfig(
        db=db,
        llm=LLMConfig(backend=backend, model=model, options=server_options(base_url)),
        retriever=retriever,
        answer=AnswerConfig(k=k, max_tokens=max_tokens),
        adapters=role_adapters(adapter),
        aliases=dict(a.split("=", 1) for a in alias or []),
        runs_root=runs_root,
        limits=Limits(max_body_bytes=max_body_bytes, max_item_chars=max_item_chars, max_items_per_user=max_items_per_user, max_tokens=max_tokens_cap,
                      requests_per_minute=requests_per_minute, concurrent_answers=concurrent_answers, request_timeout=request_timeout),
        access=Access(admin_key=admin_key, public_runs=public_runs, public_metrics=public_metrics),
        summaries_on_write=summaries_on_write,
    )
    uvicorn.run(app_from_config(config), host=host, port=port, timeout_graceful_shutdown=shutdown_grace)
