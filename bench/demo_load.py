"""Load test of the web demo: simultaneous users asking the page to write verse.

    python bench/demo_load.py [--url http://127.0.0.1:7860/] [--users 8] [--max_tokens 500] [--json]

Without --url it starts `code/demo.py` itself (the shipped model, or --checkpoint; --workers) on a
free port and stops it at the end. Each user is a gradio_client Client of its own, as a browser tab
is a session of its own. First a short untimed request (it loads what loads on first use), then
one request alone, then --users requests submitted at once. Reported: whether every request
completed with verse and the server still answers; the time from submitting to the first written
character (median and worst); characters per second, alone and under load (summed over users).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Мой дядя самых честных правил,\n"


@contextmanager
def started_demo(checkpoint: str | None, workers: int):
    """`code/demo.py` on a free port until the block ends; yields its address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, str(ROOT / "code" / "demo.py"), "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command + (["--checkpoint", checkpoint] if checkpoint else []), cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while not answers(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the demo did not start: {' '.join(command)}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def one_request(client: Client, max_tokens: int, seed: int, start: threading.Barrier | None) -> dict:
    """Submit one generation and follow its stream; the times are from submitting."""
    if start is not None:
        start.wait()
    submitted = time.perf_counter()
    job = client.submit(PROMPT, "free", "iamb", 4, 0.8, max_tokens, 0, 1.0, seed, api_name="/generate")
    first = None
    verse, status = "", ""
    for verse, _, status in job:  # noqa: B007 - the last status is reported
        if first is None and len(verse) > len(PROMPT):
            first = time.perf_counter() - submitted
    done = time.perf_counter()
    return {
        "first_char_s": first,
        "seconds": done - submitted,
        "submitted": submitted,
        "done": done,
        "chars": len(verse) - len(PROMPT),
        "ok": verse.startswith(PROMPT) and len(verse) > len(PROMPT) and not status.startswith("⚠"),
        "status": status,
    }


def concurrent(url: str, users: int, max_tokens: int) -> list[dict]:
    clients = [Client(url, verbose=False) for _ in range(users)]  # connected before the clock starts
    start = threading.Barrier(users)
    results: list[dict] = [{} for _ in range(users)]

    def user(i: int) -> None:
        try:
            results[i] = one_request(clients[i], max_tokens, seed=i, start=start)
        except Exception as err:  # a failed request is reported, not raised
            results[i] = {"ok": False, "status": repr(err)}

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def summary(results: list[dict]) -> dict:
    done = [r for r in results if r.get("ok")]
    firsts = [r["first_char_s"] for r in done if r["first_char_s"] is not None]
    wall = max(r["done"] for r in done) - min(r["submitted"] for r in done) if done else float("nan")
    return {
        "requests": len(results),
        "completed": len(done),
        "first_char_median_s": round(statistics.median(firsts), 3) if firsts else None,
        "first_char_max_s": round(max(firsts), 3) if firsts else None,
        "chars": sum(r["chars"] for r in done),
        "chars_per_s_total": round(sum(r["chars"] for r in done) / wall, 1) if done else None,
        "failures": [r["status"] for r in results if not r.get("ok")],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running demo (default: start code/demo.py here)")
    p.add_argument("--checkpoint", help="with no --url: the model to serve (default: the shipped one)")
    p.add_argument("--workers", type=int, default=8, help="with no --url: the demo's --workers")
    p.add_argument("--users", type=int, default=8, help="simultaneous requests")
    p.add_argument("--max_tokens", type=int, default=500, help="characters each request writes")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    with started_demo(args.checkpoint, args.workers) if args.url is None else _given(args.url) as url:
        client = Client(url, verbose=False)
        one_request(client, 20, seed=98, start=None)  # untimed: what loads on first use (the stress model)
        alone = summary([one_request(client, args.max_tokens, seed=99, start=None)])
        loaded = summary(concurrent(url, args.users, args.max_tokens))
        up = answers(url)
    result = {"url": url, "max_tokens": args.max_tokens, "users": args.users, "alone": alone}
    result |= {"concurrent": loaded, "server_up_after": up}
    if args.json:
        print(json.dumps(result))
    else:
        for name, row in (("1 user", alone), (f"{args.users} users", loaded)):
            print(
                f"{name:>9}: {row['completed']}/{row['requests']} completed; first character after "
                f"{row['first_char_median_s']} s (median), {row['first_char_max_s']} s (worst); "
                f"{row['chars_per_s_total']} characters/s in all"
            )
        print(f"server up afterwards: {up}" + "".join(f"\nfailed: {f}" for f in loaded["failures"]))
    if not (up and loaded["completed"] == args.users and alone["completed"] == 1):
        sys.exit(1)


@contextmanager
def _given(url: str):
    yield url


if __name__ == "__main__":
    main()
