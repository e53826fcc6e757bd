"""Gateway settings: ``KEEL_*`` environment variables over a YAML file over defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from alignment.registry import DEFAULT_MODEL, keel_home
from gateway.review.config import ReviewSettings
from guardrails.config import GuardSettings
from rag.config import RagSettings


class Settings(BaseSettings):
    """Everything the gateway reads at start-up. Build one with ``Settings.load(config_file)``."""

    model_config = SettingsConfigDict(env_prefix="KEEL_", extra="ignore")

    model: str = Field(DEFAULT_MODEL, description="Registered model name or a local HF model directory.")
    served_model_name: str | None = Field(None, description="Model id clients use; defaults to the model's name.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    home: Path = Field(default_factory=keel_home, description="Local state: models, keys, stores.")
    keys_file: Path | None = Field(None, description="API keys file (YAML, SHA-256 hashes); default home/keys.yaml.")
    environment: Literal["development", "production"] = "development"
    log_level: str = "info"
    default_max_tokens: int = Field(256, ge=1, description="max_tokens when a request sets none.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger request bodies get 413.")
    # Request limits (gateway/request_limits.py): over one, a request gets 400 naming the parameter.
    max_messages: int = Field(256, ge=1, description="Messages in one request.")
    max_message_chars: int = Field(200_000, ge=1, description="Characters in one message's content.")
    max_total_chars: int = Field(500_000, ge=1, description="Characters over all messages' content.")
    max_tokens_cap: int = Field(0, ge=0, description="Largest max_tokens a request may ask (a key's limits.max_tokens wins); 0: none.")
    # Reliability
    request_timeout_s: float = Field(
        300.0, gt=0, description="Longest wait on the backend: a whole answer, or the next piece of a stream (504 after)."
    )
    graceful_shutdown_s: int = Field(30, ge=0, description="On SIGTERM, seconds in-flight requests may take to finish.")
    # Browser access: origins allowed by CORS (env: comma-separated); empty (the default) turns CORS off.
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser, e.g. https://app.example."
    )
    # Rate limits per key (a key's own `limits:` config wins); 0 is unlimited.
    rate_limit_rpm: int = Field(0, ge=0, description="Requests per minute per key.")
    rate_limit_tpm: int = Field(0, ge=0, description="Prompt + completion tokens per minute per key.")
    rate_limit_concurrency: int = Field(0, ge=0, description="Concurrent requests per key.")
    redis_url: str | None = Field(None, description="Share rate limits across gateway processes through Redis.")
    # Embedded engine
    max_batch_size: int = Field(8, ge=1, description="Sequences decoded together per forward.")
    batch_window_ms: float = Field(10.0, ge=0, description="How long an idle engine waits to batch arrivals.")
    max_waiting: int = Field(64, ge=1, description="Queued requests beyond this get 503 at once.")
    threads: int = Field(0, ge=0, description="torch intra-op threads (0: torch's default).")
    device: str = "cpu"
    # Serving: which backend, how many worker processes (see docs/scaling.md)
    backend: Literal["transformers", "upstream"] = Field("transformers", description="Embedded model or upstream HTTP.")
    workers: int = Field(1, ge=1, description="Gateway worker processes; /metrics merges them.")
    # Upstream backend: OpenAI-compatible replicas (vLLM); `model` is the id sent upstream
    upstream_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Replica base URLs (env: comma-separated), e.g. http://vllm:8000."
    )
    upstream_api_key: SecretStr | None = Field(None, description="Bearer token for the upstream; never logged.")
    upstream_timeout_s: float = Field(60.0, gt=0, description="Longest wait for upstream bytes (first token).")
    upstream_connect_timeout_s: float = Field(2.0, gt=0)
    upstream_retries: int = Field(2, ge=0, description="Extra attempts on connect errors, 429 and 5xx.")
    upstream_health_path: str = "/v1/models"
    upstream_health_interval_s: float = Field(5.0, ge=0, description="Health-check period (0: off).")
    upstream_breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open a circuit.")
    upstream_breaker_reset_s: float = Field(10.0, gt=0, description="Open-circuit pause before a trial.")

    @field_validator("upstream_urls", "cors_allow_origins", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        return [u.strip() for u in value.split(",") if u.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _upstream_has_urls(self) -> Settings:
        if self.backend == "upstream" and not self.upstream_urls:
            raise ValueError("backend 'upstream' needs upstream_urls (KEEL_UPSTREAM_URLS=http://host:port,...)")
        return self

    # Grounding (RAG): the `rag:` block in YAML, or KEEL_RAG='{"enabled": true}' (see rag/config.py)
    rag: RagSettings = Field(default_factory=RagSettings, description="Retrieval, relevance threshold, citations.")
    # Guard stack: the `guards:` block in YAML, or KEEL_GUARDS='{"enabled": true}' (see guardrails/config.py)
    guards: GuardSettings = Field(default_factory=GuardSettings, description="Policy layers, input/output guards.")
    # Review queue: the `review:` block in YAML, or KEEL_REVIEW='{"audit_sample_rate": 0.01}' (see gateway/review/config.py)
    review: ReviewSettings = Field(default_factory=ReviewSettings, description="Review store, audit sampling, escalation answer.")

    config_file: Path | None = Field(None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("yaml_file"):
            sources.append(YamlConfigSettingsSource(settings_cls))
        return tuple(sources)

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from ``config_file`` (or ``./keel.yaml`` if present), the environment and overrides."""
        path = Path(config_file) if config_file else Path("keel.yaml")
        if config_file and not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        found = path if path.is_file() else None
        bound = type("Settings", (cls,), {"model_config": cls.model_config | {"yaml_file": found}})
        values = {k: v for k, v in overrides.items() if v is not None}
        return cls.model_validate(bound(**values).model_dump() | {"config_file": found})

    @model_validator(mode="after")
    def _default_paths(self) -> Settings:
        if self.keys_file is None:
            self.keys_file = self.home / "keys.yaml"
        return self

    @property
    def keys_path(self) -> Path:
        assert self.keys_file is not None
        return self.keys_file
