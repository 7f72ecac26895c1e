"""Ray executor: render scenes as Ray tasks on a cluster (or a Ray instance here).

The only module that imports ``ray`` (``pip install synthcv[cluster]``). Scenes go
out in chunks of ``chunk`` scenes per task, each task reserving ``cpus`` CPUs and
``gpus`` GPUs (Ray then sets ``CUDA_VISIBLE_DEVICES``). A task runs
:func:`render.executors.task.render_scene` for each of its scenes, which writes
the scene's files atomically into the output directory: every node must see it at
the same path (a shared filesystem: NFS, Lustre, ...). Only small result dicts
come back; the driver merges. A task whose worker process or node dies is retried
by Ray (``max_retries``); scenes it committed before dying are kept (their shards
are read back), the others count as failed attempts. Worker processes are
replaced after about ``recycle_every`` scenes (Ray's ``max_calls``). The driver's
``SYNTHCV_*`` environment variables are passed to the tasks.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from render.errors import UserError
from render.executors import Events, Plan
from render.executors.task import committed_summary, render_scene

try:
    import ray
    import ray.exceptions
except ImportError:  # pragma: no cover - depends on the install
    ray = None  # type: ignore[assignment]


def render_chunk(
    renderer: str,
    device: str,
    specs: list[str],
    cfg_json: str,
    out_dir: str,
    env: dict[str, str],
) -> list[dict[str, Any]]:
    """Ray task body: :func:`render_scene` for each spec JSON in ``specs``, in this
    worker process, with ``env`` set first (before the renderer starts)."""
    for key, value in env.items():
        os.environ[key] = value
    node = ray.get_runtime_context().get_node_id()[:12] if ray is not None else None
    results = []
    for spec_json in specs:
        result = render_scene(renderer, device, spec_json, cfg_json, out_dir)
        if result.get("worker"):
            result["worker"] = {**result["worker"], "ray_node": node}
        results.append(result)
    return results


def _probe(address: str, timeout: float) -> None:
    """Open (and close) a TCP connection to ``host:port`` of a Ray address
    (``ray://`` client addresses too), so that an address nobody answers at fails
    within ``timeout`` seconds instead of hanging in ``ray.init``."""
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UserError(f"--ray {address}: expected host:port, auto, or nothing")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except TimeoutError:
        raise UserError(
            f"--ray {address}: no answer within {timeout:g} s (--ray-timeout); is the cluster "
            "running and reachable from here?"
        ) from None
    except OSError as exc:
        raise UserError(
            f"--ray {address}: cannot connect: {exc.strerror or exc}; is the cluster running "
            "(ray start --head) and reachable from here?"
        ) from None


def _why(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"the Ray task failed: {type(exc).__name__}: {first}"[:300]


class RayExecutor:
    """Scenes as Ray tasks on the cluster at ``address`` (``auto``: the one this
    machine belongs to; None: start a Ray instance on this machine, stopped at the
    end, or use the one this process already started with ``ray.init``)."""

    name = "ray"

    def __init__(
        self,
        address: str | None,
        renderer: str,
        device: str,
        out_dir: Path,
        *,
        cpus: float = 1.0,
        gpus: float = 0.0,
        chunk: int = 4,
        retries: int = 1,
        recycle_every: int | None = None,
        threads: int | None = None,
        local_cpus: int | None = None,
        timeout: float = 30.0,
    ) -> None:
        if ray is None:
            raise UserError("--ray: Ray is not installed; pip install 'synthcv[cluster]'")
        if chunk < 1:
            raise UserError(f"--ray-chunk: must be >= 1, got {chunk}")
        self.address, self.renderer, self.device = address, renderer, device
        self.out_dir = Path(out_dir).resolve()
        self.cpus, self.gpus, self.chunk, self.retries = cpus, gpus, chunk, retries
        self.recycle_every, self.threads, self.local_cpus = recycle_every, threads, local_cpus
        self.timeout = timeout
        self.workers = 0  # task slots, known once connected
        self._started: bool | None = None  # None: not connected yet

    def prepare(self) -> None:
        """Reach the cluster (or start the local instance) before anything is
        written: an address that does not answer within ``timeout`` seconds is a
        one-line UserError."""
        if self._started is None:
            if self.address not in (None, "auto"):
                _probe(self.address, self.timeout)
            self._started = self._connect()

    def _connect(self) -> bool:
        """Connect to (or start) Ray; True if this call started it."""
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {
            "log_to_driver": False,
            "logging_level": logging.ERROR,
            "configure_logging": True,
        }
        if self.address is None:  # "local": a new instance, even if `ray start` ran here
            kwargs.update(include_dashboard=False, num_cpus=self.local_cpus)
        try:
            ray.init(address=self.address or "local", **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a local instance"
            message = " ".join(str(exc).split())[:300]
            raise UserError(f"--ray {where}: cannot start or reach Ray: {message}") from None
        return True

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k.startswith("SYNTHCV_")}
        env.setdefault("SYNTHCV_LOG_DIR", str(self.out_dir / "logs"))
        if self.threads is not None:
            env["SYNTHCV_THREADS"] = str(self.threads)
        return env

    def run(
        self, plan: Plan, spec_json: Callable[[int], str], cfg_json: str, events: Events
    ) -> None:
        self.prepare()
        started = bool(self._started)
        in_flight: dict[Any, list[int]] = {}
        try:
            resources = ray.cluster_resources()
            by_cpu = resources.get("CPU", 1.0) / self.cpus if self.cpus > 0 else math.inf
            by_gpu = resources.get("GPU", 0.0) / self.gpus if self.gpus > 0 else math.inf
            self.workers = max(1, int(min(by_cpu, by_gpu, 4096)))
            options: dict[str, Any] = {
                "num_cpus": self.cpus,
                "num_gpus": self.gpus,
                "max_retries": self.retries,
            }
            if self.recycle_every is not None and self.gpus == 0:
                # GPU tasks already get a fresh process each (Ray's default max_calls=1)
                options["max_calls"] = max(1, self.recycle_every // self.chunk)
            task = ray.remote(**options)(render_chunk)
            events.log(
                f"ray: {self.workers} task slot(s) ({resources.get('CPU', 0):g} CPUs, "
                f"{resources.get('GPU', 0):g} GPUs), {self.chunk} scene(s) per task"
            )
            env, out = self._env(), str(self.out_dir)

            def submit() -> None:
                scenes: list[int] = []
                while len(scenes) < self.chunk:
                    i = plan.next()
                    if i is None:
                        break
                    scenes.append(i)
                if scenes:
                    specs = [spec_json(i) for i in scenes]
                    ref = task.remote(self.renderer, self.device, specs, cfg_json, out, env)
                    in_flight[ref] = scenes

            for _ in range(2 * self.workers):
                submit()
            while in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
                for ref in ready:
                    scenes = in_flight.pop(ref)
                    self._report(ref, scenes, events)
                while len(in_flight) < 2 * self.workers:
                    before = len(in_flight)
                    submit()
                    if len(in_flight) == before:
                        break
        finally:
            for ref in in_flight:  # Ctrl-C or an error: stop the tasks still running
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - best effort while stopping
                    pass
            if started:
                ray.shutdown()

    def _report(self, ref: Any, scenes: list[int], events: Events) -> None:
        try:
            results = ray.get(ref)
        except ray.exceptions.RayError as exc:  # its worker or node died, after Ray's retries
            why = _why(exc)
            for i in scenes:
                summary = committed_summary(str(self.out_dir), i)
                if summary is not None:
                    events.result(i, {"scene_index": i, "ok": True, "summary": summary})
                else:
                    events.lost(i, why, self.retries + 1)
            return
        for result in results:
            events.result(int(result["scene_index"]), result)
