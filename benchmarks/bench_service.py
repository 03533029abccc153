"""Load benchmark of the service: `sleitp serve` on loopback driven by concurrent clients.

    .venv/bin/python benchmarks/bench_service.py [--seconds 8] [--concurrency 4] [--workers 1 2]

For each uvicorn worker count it starts ``sleitp serve`` on 127.0.0.1 (a free port), then drives, one after
the other in the same run and with the same number of concurrent clients (httpx, asyncio):

* ``GET /healthz`` — the floor: the cost of HTTP, routing and middleware alone;
* ``POST /api/v1/assess`` — an example patient (examples/02_glucocorticoid_refractory.json);
* ``POST /cds-services/sleitp-patient-view`` — a CDS Hooks call with the full prefetch as FHIR resources
  (Patient, 24 platelet Observations, a Condition, MedicationRequests), each call carrying a fresh ES384 JWT
  signed with the CDS Hooks specification's example key (signed before the timed phase).

It reports requests/s and p50/p99 latency per endpoint, and the ratio assess / healthz throughput; the
target is >= 25 % with assess p99 < 100 ms. Each phase stops after ``--seconds``; the whole run stops by
itself. Only loopback addresses are used. Client and server share the machine, so the figures include
the client's own CPU use (the same for every endpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx
import jwt

ROOT = Path(__file__).resolve().parents[1]
CDS_DATA = ROOT.parent / "shared" / "data" / "cds-hooks-2.0.1"
ISSUER = "https://bench-ehr.example/"
SERVICE = "sleitp-patient-view"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def patient_view_request(pid: str = "bench-1") -> dict:
    """A patient-view call with every sleitp prefetch key filled (no FHIR server call needed)."""
    start = date(2024, 1, 8)
    counts = [9, 14, 22, 35, 61, 88, 104, 96, 71, 43, 28, 19,
              25, 33, 47, 65, 92, 118, 124, 111, 97, 84, 76, 70]

    def obs(i: int, day: date, value: float) -> dict:
        return {"resourceType": "Observation", "id": f"plt{i}", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
                "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": day.isoformat(),
                "valueQuantity": {"value": value, "unit": "10*9/L", "system": "http://unitsofmeasure.org",
                                  "code": "10*9/L"}}

    def med(mid: str, rxnorm: str, begin: date, end: date) -> dict:
        return {"resourceType": "MedicationRequest", "id": mid, "status": "completed", "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                          "code": rxnorm}]},
                "subject": {"reference": f"Patient/{pid}"}, "authoredOn": begin.isoformat(),
                "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": begin.isoformat(),
                                                                              "end": end.isoformat()}}}}]}

    def bundle(resources: list[dict]) -> dict:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}

    platelets = [obs(i, start + timedelta(days=7 * i), v) for i, v in enumerate(counts)]
    return {
        "hookInstance": str(uuid.uuid4()), "hook": "patient-view",
        "context": {"userId": "Practitioner/bench", "patientId": pid},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1991-04-12"},
            "platelets": bundle(platelets),
            "labs": None,
            "pregnancy": None,
            "conditions": bundle([{
                "resourceType": "Condition", "id": "sle",
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "55464009"}]},
                "subject": {"reference": f"Patient/{pid}"}, "onsetDateTime": "2020-02-01"}]),
            "medications": bundle([
                med("m1", "8640", start, start + timedelta(days=41)),
                med("m2", "121191", start + timedelta(days=70), start + timedelta(days=91))]),
            "procedures": None,
        },
    }


def tokens(n: int, base_url: str) -> list[str]:
    key = jwt.PyJWK(json.loads((CDS_DATA / "jwk-private.json").read_text()), algorithm="ES384").key
    now = int(time.time())
    aud = f"{base_url}/cds-services/{SERVICE}"
    return [jwt.encode({"iss": ISSUER, "aud": aud, "exp": now + 3600, "iat": now, "jti": str(uuid.uuid4())},
                       key, algorithm="ES384", headers={"kid": "example-kid"}) for _ in range(n)]


async def drive(client: httpx.AsyncClient, make_request, seconds: float, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            method, url, kw = make_request()
            t = time.perf_counter()
            r = await client.request(method, url, **kw)
            latencies.append(time.perf_counter() - t)
            if r.status_code != 200:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "errors": errors, "rps": n / elapsed,
            "p50_ms": 1000 * statistics.median(latencies) if n else float("nan"),
            "p99_ms": 1000 * latencies[min(n - 1, int(0.99 * n))] if n else float("nan")}


async def run_phases(url: str, base_url: str, seconds: float, concurrency: int) -> dict:
    record = json.loads((ROOT / "examples" / "02_glucocorticoid_refractory.json").read_text())
    cds_body = patient_view_request()
    pool = tokens(int(seconds * 800) + 200, base_url)
    token_iter = iter(pool)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        # warm-up: first requests load modules, the evidence base, FHIR models
        for _ in range(20):
            await client.post("/api/v1/assess", json=record)
            await client.post(f"/cds-services/{SERVICE}", json=cds_body,
                              headers={"Authorization": f"Bearer {next(token_iter)}"})
        phases = {
            "GET /healthz": lambda: ("GET", "/healthz", {}),
            "POST /api/v1/assess": lambda: ("POST", "/api/v1/assess", {"json": record}),
            "POST /cds-services/sleitp-patient-view": lambda: (
                "POST", f"/cds-services/{SERVICE}",
                {"json": cds_body, "headers": {"Authorization": f"Bearer {next(token_iter)}"}}),
        }
        return {name: await drive(client, make, seconds, concurrency) for name, make in phases.items()}


def start_server(workers: int, port: int, settings_file: Path) -> subprocess.Popen:
    env = {**os.environ, "SLEITP_BASE_URL": f"http://127.0.0.1:{port}"}
    cmd = [sys.executable, "-m", "sleitp", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--settings", str(settings_file), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("sleitp serve did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="duration of each phase (default 8)")
    ap.add_argument("--concurrency", type=int, default=4, help="concurrent clients (default 4)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="uvicorn worker counts to compare")
    args = ap.parse_args()
    jwks = json.loads((CDS_DATA / "jwks-public.json").read_text())
    print(f"sleitp service load benchmark: {args.concurrency} concurrent clients, {args.seconds:g} s a "
          f"phase, {os.cpu_count()} CPUs, loopback")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings_file = Path(tmp) / "bench-settings.json"
        settings_file.write_text(json.dumps({"cds_clients": [{"issuer": ISSUER, "jwks": jwks}]}))
        for workers in args.workers:
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            proc = start_server(workers, port, settings_file)
            try:
                results[workers] = asyncio.run(run_phases(base_url, base_url, args.seconds, args.concurrency))
            finally:
                proc.terminate()
                proc.wait(timeout=20)
    print(f"\n{'workers':>7}  {'endpoint':<42} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for workers, phases in results.items():
        for name, r in phases.items():
            print(f"{workers:>7}  {name:<42} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
                  f"{r['errors']:>6}")
        health, assess = phases["GET /healthz"], phases["POST /api/v1/assess"]
        ratio = assess["rps"] / health["rps"]
        ok = ratio >= 0.25 and assess["p99_ms"] < 100
        print(f"{workers:>7}  assess / healthz throughput = {ratio:.0%}; assess p99 "
              f"{assess['p99_ms']:.1f} ms -> target (>= 25 %, p99 < 100 ms) {'met' if ok else 'NOT met'}\n")
    print(json.dumps({str(k): v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
